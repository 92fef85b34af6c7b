import { expect } from 'chai';
import { tenantWithClient, type TenantFixture } from '../factories/index.js';
import { buildContext, type TestContext } from '../helpers/context.js';

/** The followers of grade changes run in the transaction that records the change. */
describe('followers of grade changes', () => {
  let ctx: TestContext;
  let t: TenantFixture;

  before(async () => {
    ctx = await buildContext();
    t = await tenantWithClient(ctx);
    await ctx.http
      .post('/learn/api/v2/cc/gradejourney/gradableItemsAPI')
      .set('Authorization', `Bearer ${t.token}`)
      .send([{ courseId: 'FOLLOW-1', name: 'Quiz', itemType: 'TEST', points: 10 }])
      .expect(200);
  });
  after(async () => {
    await ctx.deps.exchange.close();
    await ctx.db.destroy();
    await ctx.database.drop();
  });

  const write = (value: string) =>
    ctx.http
      .post('/learn/api/v2/cc/gradejourney/gradeValueAPI')
      .set('Authorization', `Bearer ${t.token}`)
      .send([{ courseId: 'FOLLOW-1', userId: 'u1', name: 'Quiz', value }]);
  const counts = async () => ({
    versions: Number(
      (await ctx.db('grade_versions').where({ tenant_id: t.tenantId }).count({ n: '*' }).first())!
        .n,
    ),
    submissions: Number(
      (await ctx
        .db('submissions')
        .where({ tenant_id: t.tenantId })
        .whereNotNull('score')
        .count({ n: '*' })
        .first())!.n,
    ),
  });

  it('records nothing of a grade change when a follower fails', async () => {
    // The history day summary cannot be written: its follower fails.
    await ctx.db.schema.renameTable('grade_history_totals', 'grade_history_totals_away');
    try {
      const res = await write('7');
      expect(res.status).to.be.at.least(500);
      expect(await counts()).to.deep.equal({ versions: 0, submissions: 0 });
    } finally {
      await ctx.db.schema.renameTable('grade_history_totals_away', 'grade_history_totals');
    }
  });

  it('records the change and what follows it together when all followers succeed', async () => {
    const res = await write('8');
    expect(res.status).to.equal(200);
    expect(res.body[0].status).to.equal('OK');
    expect(await counts()).to.deep.equal({ versions: 1, submissions: 1 });
    const total = await ctx
      .db('grade_history_totals')
      .where({ tenant_id: t.tenantId })
      .first('versions');
    expect(total.versions).to.equal(1);
  });
});
