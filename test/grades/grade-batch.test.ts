import { expect } from 'chai';
import { ensureUsersByBatchUid } from '../../src/courses/service.js';
import { isoNow } from '../../src/db/time.js';
import { inTransaction } from '../../src/db/transaction.js';
import { loadCourseColumns } from '../../src/grades/course-columns.js';
import {
  currentGradesOnly,
  type GradeChanges,
  type GradeFollower,
} from '../../src/grades/followers.js';
import { GradeBatch, type GradeWrite, type RecordOutcome } from '../../src/grades/grade-batch.js';
import { recalculate } from '../../src/grades/recalculate.js';
import { tenantWithClient, uniqueId, type TenantFixture } from '../factories/index.js';
import { buildContext, type TestContext } from '../helpers/context.js';
import { journey } from '../helpers/journey.js';

/**
 * A write "as of" a time (an event's own time): an event older than the
 * change that made the current grade is kept in the history but never moves
 * the grade backwards.
 */
describe('the grade model: writes as of a time (late events)', function () {
  this.timeout(20000);
  let ctx: TestContext;
  let t: TenantFixture;
  let courseId: number;
  let quizId: number;
  let totalId: number;
  const change = { type: 'GradeChanged', user: 'test' };

  before(async () => {
    ctx = await buildContext();
    t = await tenantWithClient(ctx);
    const course = uniqueId('ASOF');
    await journey(ctx, t.token, 'gradableItemsAPI', [
      { courseId: course, name: 'Quiz', itemType: 'TEST', points: 10 },
      { courseId: course, name: 'Total', itemType: 'TOTAL_COLUMN', points: 10, mapping: 'Quiz' },
    ]);
    const columns = await ctx
      .db('grade_columns as c')
      .join('courses as k', 'k.id', 'c.course_id')
      .where({ 'k.batch_uid': course, 'k.tenant_id': t.tenantId })
      .select('c.id', 'c.name', 'c.course_id');
    courseId = columns[0].course_id;
    quizId = columns.find((c) => c.name === 'Quiz').id;
    totalId = columns.find((c) => c.name === 'Total').id;
  });
  after(async () => {
    await ctx.deps.exchange.close();
    await ctx.db.destroy();
    await ctx.database.drop();
  });

  const learner = async () =>
    inTransaction(ctx.db, async (trx) => {
      const uid = uniqueId('learner');
      return (await ensureUsersByBatchUid(trx, t.tenantId, [uid], isoNow(ctx.clock))).get(uid)!;
    });
  const write = (userId: number, score: number, gradedAt: string): GradeWrite => ({
    courseId,
    columnId: quizId,
    userId,
    score,
    grade: String(score),
    pointsPossible: 10,
    gradedAt,
    graderId: null,
    source: 'webhook',
    idempotencyKey: uniqueId('key'),
  });
  /** Records the writes in one batch (as of their graded_at, or in arrival order when `asOf` is false) and recalculates the total. */
  const record = (
    writes: Array<{ w: GradeWrite; asOf?: boolean }>,
  ): Promise<Array<RecordOutcome | boolean>> =>
    inTransaction(ctx.db, async (trx) => {
      const batch = new GradeBatch(trx, t.tenantId, isoNow(ctx.clock));
      await batch.load(writes.map(({ w }) => ({ columnId: w.columnId, userId: w.userId })));
      const out = writes.map(({ w, asOf = true }) =>
        asOf ? batch.recordAsOf(w, w.gradedAt, change) : batch.record(w, change),
      );
      const columns = (await loadCourseColumns(trx, t.tenantId, [courseId])).get(courseId)!;
      const current = writes.filter((_, i) => out[i] === 'current' || out[i] === true);
      if (current.length > 0)
        await recalculate(
          batch,
          columns,
          [quizId],
          [...new Set(current.map(({ w }) => w.userId))],
          {
            gradedAt: current[0]!.w.gradedAt,
            keyPrefix: uniqueId('calc'),
            change,
          },
        );
      await batch.flush();
      return out;
    });
  const submission = (userId: number, columnId = quizId) =>
    ctx.db('submissions').where({ column_id: columnId, user_id: userId }).first();
  const versions = (userId: number, columnId = quizId) =>
    ctx
      .db('grade_versions')
      .where({ column_id: columnId, user_id: userId })
      .orderBy('id')
      .select('score', 'graded_at');
  const iso = (s: string | Date) => new Date(s).toISOString();

  it('keeps an event older than the current grade as a version; the newer grade stands', async () => {
    const u = await learner();
    expect(await record([{ w: write(u, 7, '2026-03-01T10:05:00.000Z') }])).to.deep.equal([
      'current',
    ]);
    expect(await record([{ w: write(u, 5, '2026-03-01T10:00:00.000Z') }])).to.deep.equal(['late']);
    const s = await submission(u);
    expect(s.score).to.equal(7);
    expect(iso(s.changed_at)).to.equal('2026-03-01T10:05:00.000Z');
    expect((await versions(u)).map((v) => [v.score, iso(v.graded_at)])).to.deep.equal([
      [7, '2026-03-01T10:05:00.000Z'],
      [5, '2026-03-01T10:00:00.000Z'],
    ]);
    // The total follows the current grade only.
    expect((await submission(u, totalId)).score).to.equal(7);
    expect((await versions(u, totalId)).map((v) => v.score)).to.deep.equal([7]);
  });

  it('orders the writes of one batch by their time too', async () => {
    const u = await learner();
    expect(
      await record([
        { w: write(u, 9, '2026-03-02T12:00:00.000Z') },
        { w: write(u, 4, '2026-03-02T11:00:00.000Z') },
        { w: write(u, 6, '2026-03-02T11:30:00.000Z') },
      ]),
    ).to.deep.equal(['current', 'late', 'late']);
    expect((await submission(u)).score).to.equal(9);
    expect((await versions(u)).map((v) => v.score)).to.deep.equal([9, 4, 6]);
  });

  it('records a late event even when its value equals the current grade: every event is in the history', async () => {
    const u = await learner();
    await record([{ w: write(u, 8, '2026-03-03T12:00:00.000Z') }]);
    expect(await record([{ w: write(u, 8, '2026-03-03T09:00:00.000Z') }])).to.deep.equal(['late']);
    expect((await versions(u)).map((v) => v.score)).to.deep.equal([8, 8]);
  });

  it('lets writes without a time of their own take effect in arrival order, as of when they were recorded', async () => {
    const u = await learner();
    const later = new Date(ctx.clock.now() + 3_600_000).toISOString();
    await record([{ w: write(u, 8, later) }]);
    // A Journey value arrives: it is the current grade whatever times came before.
    expect(await record([{ w: write(u, 6, isoNow(ctx.clock)), asOf: false }])).to.deep.equal([
      true,
    ]);
    expect((await submission(u)).score).to.equal(6);
    // An event made before that value was recorded is late.
    const before = new Date(ctx.clock.now() - 60_000).toISOString();
    expect(await record([{ w: write(u, 3, before) }])).to.deep.equal(['late']);
    expect((await submission(u)).score).to.equal(6);
  });

  it('compares with graded_at for grades stored before the change time was kept', async () => {
    const u = await learner();
    await record([{ w: write(u, 7, '2026-03-04T12:00:00.000Z') }]);
    await ctx
      .db('submissions')
      .where({ column_id: quizId, user_id: u })
      .update({ changed_at: null });
    expect(await record([{ w: write(u, 2, '2026-03-04T11:00:00.000Z') }])).to.deep.equal(['late']);
    expect(await record([{ w: write(u, 9, '2026-03-04T13:00:00.000Z') }])).to.deep.equal([
      'current',
    ]);
    expect((await submission(u)).score).to.equal(9);
  });

  it('counts a late version on its day in the history summary', async () => {
    const u = await learner();
    const day = async () =>
      Number(
        (
          await ctx
            .db('grade_history_days')
            .where({ course_id: courseId, day: '2026-03-05' })
            .sum({ n: 'versions' })
            .first()
        )?.n ?? 0,
      );
    await record([{ w: write(u, 7, '2026-03-06T12:00:00.000Z') }]);
    const before = await day();
    await record([{ w: write(u, 5, '2026-03-05T12:00:00.000Z') }]);
    expect(await day()).to.equal(before + 1);
  });

  it('sends a late version to no LMS and does not count it as a change since approval', async () => {
    const u = await learner();
    const now = isoNow(ctx.clock);
    await record([{ w: write(u, 7, '2026-03-07T12:00:00.000Z') }]);
    // The column is linked to an LMS line item, and its grades were approved at 7.
    await ctx.db('external_ids').insert({
      tenant_id: t.tenantId,
      kind: 'lineitem',
      system: 'https://lms.example',
      external_id: `https://lms.example/lineitems/${quizId}`,
      local_id: quizId,
      created_at: now,
    });
    const [approved] = await ctx
      .db('final_grade_submissions')
      .insert({
        tenant_id: t.tenantId,
        course_id: courseId,
        column_id: quizId,
        state: 'approved',
        submitted_by_name: 'test',
        submitted_at: now,
      })
      .returning('id');
    await ctx
      .db('final_grade_snapshots')
      .insert({ submission_id: approved.id, user_id: u, score: 7, grade: '7' });
    const sends = async () =>
      (await ctx.db('jobs').where({ name: 'lti.score' }).select('payload'))
        .map((j) => JSON.parse(j.payload as string) as { userId: number })
        .filter((p) => p.userId === u).length;
    const changedSinceApproval = async () =>
      (
        await ctx
          .db('final_grade_events')
          .where({ kind: 'changed_since_approval', learner_id: u })
          .select('id')
      ).length;

    await record([{ w: write(u, 3, '2026-03-07T11:00:00.000Z') }]);
    expect(await sends()).to.equal(0);
    expect(await changedSinceApproval()).to.equal(0);

    await record([{ w: write(u, 4, '2026-03-07T13:00:00.000Z') }]);
    expect(await sends()).to.equal(1);
    expect(await changedSinceApproval()).to.equal(1);
  });

  it('hands followers that act on current grades only the changes that became current', async () => {
    const seen: GradeChanges[] = [];
    const follower: GradeFollower = {
      name: 'test',
      follow: (_trx, batch) => {
        seen.push(batch);
        return Promise.resolve();
      },
    };
    const base = {
      courseId: 1,
      columnId: 1,
      userId: 1,
      graderId: null,
      gradedAt: '2026-03-01T00:00:00.000Z',
      source: 'webhook' as const,
      grade: null,
    };
    const wrapped = currentGradesOnly(follower);
    await wrapped.follow(null as never, {
      tenantId: 1,
      now: '2026-03-01T00:00:00.000Z',
      changes: [
        { ...base, score: 1, superseded: false },
        { ...base, score: 2, superseded: true },
      ],
    });
    await wrapped.follow(null as never, {
      tenantId: 1,
      now: '2026-03-01T00:00:00.000Z',
      changes: [{ ...base, score: 3, superseded: true }],
    });
    expect(seen.map((b) => b.changes.map((c) => c.score))).to.deep.equal([[1]]);
  });
});
