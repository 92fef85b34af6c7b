import { expect } from 'chai';
import type { DataSyncEmulator } from '../../src/emulators/datasync/index.js';
import { pollNow } from '../../src/exchange/jobs.js';
import type { ConnectionRow } from '../../src/exchange/service.js';
import { isoNow } from '../../src/db/time.js';
import { inTransaction } from '../../src/db/transaction.js';
import { setApprovalMode } from '../../src/grades/final-grade-workflow.js';
import { createWorker } from '../../src/job-registry.js';
import { createApiClient } from '../../src/tenants/service.js';
import { tenantWithClient, uniqueId, type TenantFixture } from '../factories/index.js';
import { buildContext, type TestContext } from '../helpers/context.js';
import {
  connectedDataSync,
  courseCondition,
  gradedCourses,
  type GradedCourse,
} from '../helpers/exchange.js';
import { journey } from '../helpers/journey.js';

/** With approval required, Data Sync receives approved final grades and nothing else. */
describe('final grades out with approval required (Data Sync emulator)', function () {
  this.timeout(60000);
  let ctx: TestContext;
  let t: TenantFixture;
  let ds: DataSyncEmulator;
  let conn: ConnectionRow;
  let course: GradedCourse;
  let approver: string;

  before(async () => {
    ctx = await buildContext();
    t = await tenantWithClient(ctx, { scopes: ['journey', 'final-grades'] });
    [course] = await gradedCourses(ctx, t, {
      prefix: uniqueId('FX'),
      courses: 1,
      columns: 2,
      learners: 4,
    });
    ({ ds, conn } = await connectedDataSync(ctx, t.tenantId));
    approver = await inTransaction(ctx.db, async (trx) => {
      const now = isoNow(ctx.clock);
      await setApprovalMode(trx, t.tenantId, 'required', now);
      const { client } = await createApiClient(
        trx,
        { tenantId: t.tenantId, scopes: ['approval'], name: 'Registrar' },
        now,
      );
      return ctx.deps.tokens.issue({
        clientId: client.clientId,
        tenantId: t.tenantId,
        apiClientId: client.id,
        scopes: ['approval'],
      }).token;
    });
  });
  after(async () => {
    await ds?.close();
    await ctx.deps.exchange.close();
    await ctx.db.destroy();
    await ctx.database.drop();
  });

  const drain = () => createWorker(ctx.deps).drain();
  /** An exchange Data Sync's schedule creates for the course: scores and final grades. */
  const scheduled = async () => {
    const remote = ds.createExchange({
      query: { type: 'assignment_scores', conditions: [courseCondition(course.courseId) as never] },
      courseAppId: 'app-1',
    });
    await pollNow(ctx.deps, conn, ctx.deps.logger);
    return ds.received(remote.id);
  };
  const finals = async () =>
    (
      await ctx.http
        .get(`/gradebridge/v1/courses/${course.courseId}/final-grades`)
        .set('Authorization', `Bearer ${t.token}`)
        .expect(200)
    ).body.learners as Array<{ userId: string; score: number; grade: string | null }>;
  const submitAndApprove = async () => {
    const { submission } = (
      await ctx.http
        .post(`/gradebridge/v1/courses/${course.courseId}/final-grades/submissions`)
        .set('Authorization', `Bearer ${t.token}`)
        .send({})
        .expect(201)
    ).body;
    const res = await ctx.http
      .post(`/gradebridge/v1/final-grades/submissions/${submission.id}/approve`)
      .set('Authorization', `Bearer ${approver}`)
      .send({})
      .expect(200);
    expect(res.body.sendQueued).to.equal(true);
    await drain();
    const made = ds.exchanges().filter((e) => e.source === 'api');
    return ds.received(made[made.length - 1]!.id);
  };

  it('sends no final grade before approval, exactly the approved ones after, and a change only once re-approved', async () => {
    const before = await scheduled();
    expect(before.scores.length).to.be.greaterThan(0);
    expect(before.summaries).to.deep.equal([]);

    const approvedValues = await finals();
    const sent = await submitAndApprove();
    expect(sent.scores).to.deep.equal([]);
    expect(sent.summaries.map((s) => [s.personSourceId, s.score, s.grade]).sort()).to.deep.equal(
      approvedValues.map((l) => [l.userId, l.score, l.grade]).sort(),
    );

    // A grade changed after approval: its score goes out, the final grade does not.
    const learner = course.learners[0]!;
    await journey(ctx, t.token, 'gradeValueAPI', [
      { courseId: course.courseId, userId: learner, name: course.columns[0], value: '0' },
    ]);
    const afterChange = await scheduled();
    expect(afterChange.scores.map((s) => s.personSourceId)).to.deep.equal([learner]);
    expect(afterChange.summaries).to.deep.equal([]);

    const changedValue = (await finals()).find((l) => l.userId === learner)!;
    expect(changedValue.score).to.not.equal(
      approvedValues.find((l) => l.userId === learner)!.score,
    );
    const again = await submitAndApprove();
    expect(again.summaries.map((s) => [s.personSourceId, s.score, s.grade])).to.deep.equal([
      [learner, changedValue.score, changedValue.grade],
    ]);
    const states = (await finals()) as unknown as Array<{ state: string }>;
    expect(states.every((l) => l.state === 'sent')).to.equal(true);
  });
});
