import { expect } from 'chai';
import { gunzipSync } from 'node:zlib';
import type { DataSyncEmulator } from '../../src/emulators/datasync/index.js';
import { pollNow, requestFinalGrades } from '../../src/exchange/jobs.js';
import type { ConnectionRow } from '../../src/exchange/service.js';
import { createWorker } from '../../src/job-registry.js';
import { enqueue } from '../../src/jobs/queue.js';
import { isoNow } from '../../src/db/time.js';
import { inTransaction } from '../../src/db/transaction.js';
import { applyIncomingGrade } from '../../src/webhooks/grades.js';
import { tenantWithClient, uniqueId, type TenantFixture } from '../factories/index.js';
import { buildContext, type TestContext } from '../helpers/context.js';
import {
  connectedDataSync,
  courseCondition,
  fixtureScore,
  gradedCourses,
  type GradedCourse,
} from '../helpers/exchange.js';
import { journey } from '../helpers/journey.js';

describe('Grades Exchange: final grades out through Data Sync', function () {
  this.timeout(60000);
  let ctx: TestContext;
  let t: TenantFixture;
  let ds: DataSyncEmulator;
  let conn: ConnectionRow;
  let courses: GradedCourse[];

  before(async () => {
    ctx = await buildContext({ env: { DATASYNC_TIMEOUT_MS: '2000', DATASYNC_RETRIES: '3' } });
    t = await tenantWithClient(ctx, { scopes: ['journey', 'history'] });
    courses = await gradedCourses(ctx, t, {
      prefix: uniqueId('X'),
      courses: 2,
      columns: 3,
      learners: 12,
    });
    ({ ds, conn } = await connectedDataSync(ctx, t.tenantId));
  });
  after(async () => {
    await ds?.close();
    await ctx.deps.exchange.close();
    await ctx.db.destroy();
    await ctx.database.drop();
  });

  const poll = () => pollNow(ctx.deps, conn, ctx.deps.logger);
  const key = (assignment: string | null, person: string | null) => `${assignment}|${person}`;

  it("sends a course's assignments, scores and final grades in several chunks, whole and once", async () => {
    const c = courses[0]!;
    const remote = ds.createExchange({
      query: { type: 'assignment_scores', conditions: [courseCondition(c.courseId) as never] },
      maxDataContentLength: 2500,
      courseAppId: 'app-1',
    });
    const [result] = await poll();
    expect(result).to.include({ remoteId: remote.id, state: 'completed', chunksResent: 0 });
    const record = ds.exchange(remote.id)!;
    expect(record.state).to.equal('completed');
    expect(record.chunks.length).to.be.greaterThan(2);
    expect(record.chunks.every((ch) => ch.bytes <= 2500)).to.equal(true);
    expect(record.chunks.map((ch) => ch.final)).to.deep.equal(
      record.chunks.map((_, i) => i === record.chunks.length - 1),
    );
    expect(ds.stats.duplicateChunks).to.equal(0);

    const received = ds.received(remote.id);
    const columns = await ctx
      .db('grade_columns as g')
      .join('courses as k', 'k.id', 'g.course_id')
      .where({ 'k.batch_uid': c.courseId })
      .select('g.id', 'g.name');
    const idOf = new Map(columns.map((col) => [col.name as string, String(col.id)]));
    // Every score exactly once, with the value gradebridge holds.
    const seen = new Map<string, number | null>();
    for (const s of received.scores) {
      const k = key(s.assignmentSourceId, s.personSourceId);
      expect(seen.has(k), `${k} arrived twice`).to.equal(false);
      seen.set(k, s.score);
    }
    expect(seen.size).to.equal(c.columns.length * c.learners.length);
    c.columns.forEach((name, ci) =>
      c.learners.forEach((learner, li) =>
        expect(seen.get(key(idOf.get(name)!, learner))).to.equal(fixtureScore(0, ci, li)),
      ),
    );
    // Final grades: the total column, each learner once.
    expect(received.summaries).to.have.length(c.learners.length);
    for (const [li, learner] of c.learners.entries()) {
      const s = received.summaries.find((x) => x.personSourceId === learner)!;
      const total = c.columns.reduce((sum, _, ci) => sum + fixtureScore(0, ci, li), 0);
      expect(s).to.include({ summaryType: 'final', scoreType: 'raw', score: total });
    }
    // Stored: every item sent, and the artifacts kept as Data Sync serves them (gzipped).
    const statuses = await ctx
      .db('exchange_items')
      .where({ connection_id: conn.id })
      .select('status')
      .distinct();
    expect(statuses.map((s) => s.status)).to.deep.equal(['sent']);
    const artifact = await ctx
      .db('exchange_artifacts')
      .join('exchanges', 'exchanges.id', 'exchange_artifacts.exchange_id')
      .where({ 'exchanges.remote_id': remote.id, kind: 'details' })
      .first('gzipped');
    const details = JSON.parse(gunzipSync(artifact.gzipped as Buffer).toString('utf8'));
    expect(details.exchange_id).to.equal(remote.id);
  });

  it('sends only what changed since the last successful exchange', async () => {
    const c = courses[0]!;
    await journey(ctx, t.token, 'gradeValueAPI', [
      { courseId: c.courseId, userId: c.learners[0], name: c.columns[1], value: '0' },
      { courseId: c.courseId, userId: c.learners[3], name: c.columns[2], value: '10' },
    ]);
    const remote = ds.createExchange({
      query: { type: 'assignment_scores', conditions: [courseCondition(c.courseId) as never] },
      maxDataContentLength: 2500,
      courseAppId: 'app-1',
    });
    const [result] = await poll();
    expect(result!.state).to.equal('completed');
    const received = ds.received(remote.id);
    expect(received.scores.map((s) => [s.personSourceId, s.score]).sort()).to.deep.equal(
      [
        [c.learners[0], 0],
        [c.learners[3], 10],
      ].sort(),
    );
    // The two learners' final grades moved with them; nobody else's did.
    expect(received.summaries.map((s) => s.personSourceId).sort()).to.deep.equal(
      [c.learners[0], c.learners[3]].sort(),
    );
    expect(received.assignments.map((a) => a.name).sort()).to.deep.equal(
      [c.columns[1], c.columns[2]].sort(),
    );
  });

  it('sends a grade removed since it was sent as a score of null', async () => {
    const c = courses[0]!;
    await inTransaction(ctx.db, (trx) =>
      applyIncomingGrade(
        trx,
        t.tenantId,
        {
          courseBatchUid: c.courseId,
          column: { name: c.columns[0] },
          user: { batchUid: c.learners[4] },
          score: null,
          grade: null,
          gradedAt: isoNow(ctx.clock),
          source: 'webhook',
          idempotencyKey: uniqueId('clear'),
          changeUser: 'test',
        },
        isoNow(ctx.clock),
      ),
    );
    const remote = ds.createExchange({
      query: { type: 'assignment_scores', conditions: [courseCondition(c.courseId) as never] },
      courseAppId: 'app-1',
    });
    await poll();
    const received = ds.received(remote.id);
    expect(received.scores.map((s) => [s.personSourceId, s.score, s.grade])).to.deep.equal([
      [c.learners[4], null, null],
    ]);
    expect(received.summaries.map((s) => s.personSourceId)).to.deep.equal([c.learners[4]]);
  });

  it('answers an exchange with nothing new with one empty final chunk', async () => {
    const remote = ds.createExchange({
      query: { type: 'summary', conditions: [courseCondition(courses[0]!.courseId) as never] },
      courseAppId: 'app-1',
    });
    await poll();
    const record = ds.exchange(remote.id)!;
    expect(record.state).to.equal('completed');
    expect(record.chunks).to.have.length(1);
    expect(record.chunks[0]!.body).to.deep.include({ assignments: [], summaries: [], final: true });
  });

  it('posts the right error for a query it cannot serve, and sends nothing', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [
        { type: 'attendance', conditions: [courseCondition(courses[1]!.courseId)] },
        'query_type_not_supported',
      ],
      [
        {
          type: 'summary',
          conditions: [courseCondition(courses[1]!.courseId, { summary_type: 'midterm' })],
        },
        'query_conditions_not_supported',
      ],
      [
        { type: 'assignment_scores', conditions: [courseCondition('NO-SUCH-COURSE')] },
        'producer_error',
      ],
    ];
    for (const [query, code] of cases) {
      // 'attendance' stands for a query type newer than gradebridge: the emulator creates it unchecked.
      const remote = ds.createExchange(
        { query: query as never, courseAppId: 'app-1' },
        { strict: query.type !== 'attendance' },
      );
      const [result] = await poll();
      expect(result).to.include({ remoteId: remote.id, state: 'refused', errorCode: code });
      const record = ds.exchange(remote.id)!;
      expect(record.errors.map((e) => e.code)).to.deep.equal([code]);
      expect(record.state).to.equal('failed');
      expect(record.chunks).to.have.length(0);
    }
  });

  it('marks what the consumer could not take as failed, and sends it again next time', async () => {
    const c = courses[1]!;
    const failing = c.learners[2]!;
    ds.failPerson(failing, 'person_not_found');
    const first = ds.createExchange({
      query: { type: 'assignment_scores', conditions: [courseCondition(c.courseId) as never] },
      courseAppId: 'app-1',
    });
    await poll();
    expect(ds.exchange(first.id)!.state).to.equal('completed');
    const failed = await ctx
      .db('exchange_items as i')
      .join('users as u', 'u.id', 'i.user_id')
      .where({ 'i.connection_id': conn.id, 'i.status': 'failed' })
      .select('u.batch_uid', 'i.error_code', 'i.kind');
    expect(failed.length).to.be.greaterThan(0);
    expect(
      failed.every((f) => f.batch_uid === failing && f.error_code === 'person_not_found'),
    ).to.equal(true);
    const second = ds.createExchange({
      query: { type: 'assignment_scores', conditions: [courseCondition(c.courseId) as never] },
      courseAppId: 'app-1',
    });
    await poll();
    const again = ds.received(second.id);
    expect(new Set(again.scores.map((s) => s.personSourceId))).to.deep.equal(new Set([failing]));
    expect(again.scores).to.have.length(c.columns.length);
  });

  it('finds waiting exchanges on the schedule (a listing by state) and answers them', async () => {
    const remote = ds.createExchange({
      query: { type: 'summary', conditions: [courseCondition(courses[1]!.courseId) as never] },
      courseAppId: 'app-1',
    });
    await enqueue(ctx.db, 'datasync.poll', {}, isoNow(ctx.clock));
    await createWorker(ctx.deps).drain();
    expect(ds.exchange(remote.id)!.state).to.equal('completed');
    const row = await ctx.db('exchanges').where({ remote_id: remote.id }).first('trigger');
    expect(row.trigger).to.equal('schedule');
  });

  it('answers a teacher\'s "send final grades" by asking Data Sync for an exchange of final grades and filling it', async () => {
    const c = courses[1]!;
    await journey(ctx, t.token, 'gradeValueAPI', [
      { courseId: c.courseId, userId: c.learners[5], name: c.columns[0], value: '1' },
    ]);
    const course = await ctx.db('courses').where({ batch_uid: c.courseId }).first('id');
    await requestFinalGrades(ctx.db, conn, course.id, null, isoNow(ctx.clock));
    await createWorker(ctx.deps).drain();
    const made = ds.exchanges().filter((e) => e.source === 'api');
    expect(made).to.have.length(1);
    expect(made[0]!.metadata).to.have.property('gradebridge_request');
    expect(made[0]!.state).to.equal('completed');
    const received = ds.received(made[0]!.id);
    // "Send final grades" sends final grades only: the learner whose grade changed gets a new one.
    expect(received.scores).to.deep.equal([]);
    expect(received.summaries.map((s) => s.personSourceId)).to.include(c.learners[5]);
    expect(received.summaries.every((s) => s.summaryType === 'final')).to.equal(true);
    const row = await ctx
      .db('exchanges')
      .where({ remote_id: made[0]!.id })
      .first('trigger', 'state');
    expect(row).to.deep.equal({ trigger: 'teacher', state: 'completed' });
  });
});
