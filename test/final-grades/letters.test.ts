import { expect } from 'chai';
import type { DataSyncEmulator } from '../../src/emulators/datasync/index.js';
import { pollNow } from '../../src/exchange/jobs.js';
import type { ConnectionRow } from '../../src/exchange/service.js';
import { percentOf, symbolFor } from '../../src/grades/symbols.js';
import { tenantWithClient, uniqueId, type TenantFixture } from '../factories/index.js';
import { buildContext, type TestContext } from '../helpers/context.js';
import { connectedDataSync, courseCondition } from '../helpers/exchange.js';
import { journey } from '../helpers/journey.js';

/** One rule for a final grade's letter, the same on every surface. */
describe('letter grades and rounding', function () {
  this.timeout(60000);
  let ctx: TestContext;
  let t: TenantFixture;
  let ds: DataSyncEmulator;
  let conn: ConnectionRow;
  const courseId = uniqueId('LT');

  before(async () => {
    ctx = await buildContext();
    t = await tenantWithClient(ctx, { scopes: ['journey', 'history', 'final-grades'] });
    ({ ds, conn } = await connectedDataSync(ctx, t.tenantId));
    await journey(ctx, t.token, 'gradeSchemasAPI', [
      { title: 'Halves', symbols: 'A=89.5:B=80:C=70:F=0' },
    ]);
    await journey(ctx, t.token, 'gradableItemsAPI', [
      {
        courseId,
        name: 'Course grade',
        itemType: 'MANUAL_COLUMN',
        points: 20,
        gradeSchema: 'Halves',
      },
    ]);
    await journey(ctx, t.token, 'externalGradeColumnAPI', [{ courseId, name: 'Course grade' }]);
    await journey(ctx, t.token, 'gradeValueAPI', [
      // 17.9 of 20 is 89.5 %: it reaches A's bound. 17.8999 is 89.4995 %, truncated to 89.49 %: a B.
      { courseId, userId: 'a', name: 'Course grade', value: '17.9' },
      { courseId, userId: 'b', name: 'Course grade', value: '17.8999' },
      { courseId, userId: 'c', name: 'Course grade', value: '15.99999999999' },
    ]);
  });
  after(async () => {
    await ds?.close();
    await ctx.deps.exchange.close();
    await ctx.db.destroy();
    await ctx.database.drop();
  });

  it('truncates the percentage to two decimals and never rounds up', () => {
    expect(percentOf(17.9, 20)).to.equal(89.5);
    expect(percentOf(17.8999, 20)).to.equal(89.49);
    expect(percentOf(79.99999999, 100)).to.equal(80);
    expect(percentOf(89.999, 100)).to.equal(89.99);
    const scale = [
      { symbol: 'A', lowerBound: 90 },
      { symbol: 'B', lowerBound: 80 },
    ];
    expect(symbolFor(scale, 89.999, 100)).to.equal('B');
    expect(symbolFor(scale, 90, 100)).to.equal('A');
  });

  it('gives the same letter in Journey, the history feed, the final-grade status and the Data Sync summary', async () => {
    const expected = { a: 'A', b: 'B', c: 'B' };
    const course = await ctx
      .db('courses')
      .where({ tenant_id: t.tenantId, batch_uid: courseId })
      .first('id');
    const feed = await ctx.http
      .get(`/api/v1/courses/${course.id}/gradebook_history/feed?per_page=100`)
      .set('Authorization', `Bearer ${t.token}`)
      .expect(200);
    const users = new Map(
      (
        await ctx
          .db('users')
          .where({ tenant_id: t.tenantId })
          .whereIn('batch_uid', ['a', 'b', 'c'])
          .select('id', 'batch_uid')
      ).map((u) => [u.id as number, u.batch_uid as string]),
    );
    const fromFeed = Object.fromEntries(
      feed.body.map((v: { user_id: number; grade: string }) => [users.get(v.user_id), v.grade]),
    );
    expect(fromFeed).to.deep.equal(expected);

    const status = await ctx.http
      .get(`/gradebridge/v1/courses/${courseId}/final-grades`)
      .set('Authorization', `Bearer ${t.token}`)
      .expect(200);
    expect(
      Object.fromEntries(
        status.body.learners.map((l: { userId: string; grade: string }) => [l.userId, l.grade]),
      ),
    ).to.deep.equal(expected);

    const remote = ds.createExchange({
      query: { type: 'summary', conditions: [courseCondition(courseId) as never] },
      courseAppId: 'app-1',
    });
    await pollNow(ctx.deps, conn, ctx.deps.logger);
    const summaries = ds.received(remote.id).summaries;
    expect(Object.fromEntries(summaries.map((s) => [s.personSourceId, s.grade]))).to.deep.equal(
      expected,
    );
  });
});
