import { expect } from 'chai';
import { buildContext, sharedContext, type TestContext } from '../helpers/context.js';
import { tenantWithClient, type TenantFixture } from '../factories/index.js';
import { JOURNEY, journey } from '../helpers/journey.js';
import { tableCounts } from '../helpers/grades.js';

describe('Grades Journey: the batch envelope', () => {
  let ctx: TestContext;
  let t: TenantFixture;
  const post = (path: string) =>
    ctx.http.post(`${JOURNEY}/${path}`).set('Authorization', `Bearer ${t.token}`);

  before(async () => {
    ctx = await sharedContext();
    t = await tenantWithClient(ctx);
  });

  it('answers an empty array with an empty array', async () => {
    const res = await journey(ctx, t.token, 'gradeValueAPI', []);
    expect(res.body).to.deep.equal([]);
  });

  for (const [label, body, message] of [
    ['an object', '{"courseId":"c1"}', 'Invalid body: must be a JSON array of items'],
    ['a string', '"hello"', 'Invalid body: must be a JSON array of items'],
    ['invalid JSON', '[{"courseId": ', 'Request body is not valid JSON.'],
  ] as const) {
    it(`refuses ${label} with a 400 in Learn's error format and changes nothing`, async () => {
      const before = await tableCounts(ctx, t.tenantId);
      const res = await post('gradableItemsAPI')
        .set('Content-Type', 'application/json')
        .send(body)
        .expect(400);
      expect(res.body).to.deep.equal({ status: 400, message });
      expect(await tableCounts(ctx, t.tenantId)).to.deep.equal(before);
    });
  }

  it('refuses a body that is not JSON', async () => {
    const res = await post('gradeValueAPI')
      .set('Content-Type', 'text/plain')
      .send('courseId=c1')
      .expect(400);
    expect(res.body.message).to.equal(
      'Request body must be a JSON array sent with Content-Type: application/json.',
    );
  });

  it('refuses more items than JOURNEY_MAX_ITEMS, and a body over JOURNEY_MAX_BODY, changing nothing', async () => {
    const small = await buildContext({ env: { JOURNEY_MAX_ITEMS: '3', JOURNEY_MAX_BODY: '2kb' } });
    try {
      const st = await tenantWithClient(small);
      const items = [1, 2, 3, 4].map((i) => ({ title: `S${i}`, symbols: 'A=90:F=0' }));
      const tooMany = await journey(small, st.token, 'gradeSchemasAPI', items, 400);
      expect(tooMany.body).to.deep.equal({
        status: 400,
        message: 'Invalid body: must hold at most 3 items',
      });
      const big = [{ title: 'Big', symbols: 'A=90:F=0', optionalData: `k=${'x'.repeat(3000)}` }];
      const tooLarge = await journey(small, st.token, 'gradeSchemasAPI', big, 400);
      expect(tooLarge.body).to.deep.equal({
        status: 400,
        message: 'Request body is larger than the limit of 2048 bytes.',
      });
      expect((await tableCounts(small, st.tenantId)).grade_schemas).to.equal(0);
    } finally {
      await small.db.destroy();
      await small.database.drop();
    }
  });

  it('gives an item that is not an object its own ERROR and applies the rest', async () => {
    const res = await journey(ctx, t.token, 'gradeSchemasAPI', [
      'just a string',
      null,
      [1, 2],
      { title: 'Envelope OK', symbols: 'P=50:F=0' },
    ]);
    expect(res.body).to.deep.equal([
      { courseId: '', name: '', status: 'ERROR', message: 'item must be a JSON object' },
      { courseId: '', name: '', status: 'ERROR', message: 'item must be a JSON object' },
      { courseId: '', name: '', status: 'ERROR', message: 'item must be a JSON object' },
      {
        courseId: '',
        name: 'Envelope OK',
        status: 'OK',
        message: 'Grade schema successfully created',
      },
    ]);
  });

  it("answers an unknown Journey endpoint with 404 in Learn's format", async () => {
    const res = await post('gradeNopeAPI')
      .set('Content-Type', 'application/json')
      .send('[]')
      .expect(404);
    expect(res.body).to.deep.equal({
      status: 404,
      message: 'The specified resource does not exist.',
    });
  });

  it('answers a GET on a Journey endpoint with 405', async () => {
    const res = await ctx.http
      .get(`${JOURNEY}/gradeValueAPI`)
      .set('Authorization', `Bearer ${t.token}`)
      .expect(405);
    expect(res.body.status).to.equal(405);
  });
});
