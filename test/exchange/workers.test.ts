import { expect } from 'chai';
import { Redis } from 'ioredis';
import type { DataSyncEmulator } from '../../src/emulators/datasync/index.js';
import type { ConnectionRow } from '../../src/exchange/service.js';
import { enqueue } from '../../src/jobs/queue.js';
import { isoNow } from '../../src/db/time.js';
import { tenantWithClient, uniqueId, type TenantFixture } from '../factories/index.js';
import { buildContext, type TestContext } from '../helpers/context.js';
import {
  connectedDataSync,
  courseCondition,
  gradedCourses,
  type GradedCourse,
} from '../helpers/exchange.js';
import { journey } from '../helpers/journey.js';
import { until, WorkerProcess } from '../helpers/worker-process.js';

const redisUrl = process.env.TEST_REDIS_URL;

describe('Grades Exchange with worker processes', function () {
  this.timeout(120000);
  let ctx: TestContext;
  let t: TenantFixture;
  let ds: DataSyncEmulator;
  let conn: ConnectionRow;
  const workers: WorkerProcess[] = [];

  beforeEach(async () => {
    ctx = await buildContext();
    t = await tenantWithClient(ctx, { scopes: ['journey'] });
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      for (const w of workers) console.error(w.output.join(''));
    }
    await Promise.all(workers.splice(0).map((w) => w.stop('SIGKILL')));
    await ds?.close();
    await ctx.deps.exchange.close();
    await ctx.db.destroy();
    await ctx.database.drop();
  });

  const discover = () =>
    enqueue(
      ctx.db,
      'datasync.discover',
      { connectionId: conn.id, trigger: 'poll' },
      isoNow(ctx.clock),
      {
        tenantId: t.tenantId,
      },
    );
  const state = async (remoteId: string) =>
    (await ctx.db('exchanges').where({ remote_id: remoteId }).first('state'))?.state as
      string | undefined;
  const current = async (courseId: string) => {
    const rows = await ctx
      .db('submissions as s')
      .join('grade_columns as c', 'c.id', 's.column_id')
      .join('users as u', 'u.id', 's.user_id')
      .join('courses as k', 'k.id', 's.course_id')
      .where({ 'k.batch_uid': courseId, 'c.is_external': false })
      .select('c.id', 'u.batch_uid', 's.score');
    return new Map(rows.map((r) => [`${r.id}|${r.batch_uid}`, Number(r.score)]));
  };

  it('loses nothing when a worker is killed in the middle of a push: the job runs again, resending at most the chunk in flight', async () => {
    const [course] = (await gradedCourses(ctx, t, {
      prefix: uniqueId('K'),
      courses: 1,
      columns: 4,
      learners: 30,
    })) as [GradedCourse];
    ({ ds, conn } = await connectedDataSync(ctx, t.tenantId, { rate: 10, concurrency: 1 }));
    const query = {
      type: 'assignment_scores',
      conditions: [courseCondition(course.courseId) as never],
    };
    const first = ds.createExchange({
      query: query as never,
      maxDataContentLength: 1500,
      courseAppId: 'app-1',
    });
    await discover();
    const a = WorkerProcess.start(ctx);
    workers.push(a);
    await until('a few chunks arrived', () => (ds.exchange(first.id)?.chunks.length ?? 0) >= 3);
    await a.stop('SIGKILL');
    const arrivedBeforeKill = ds.exchange(first.id)!.chunks.length;
    expect(ds.exchange(first.id)!.state).to.equal('in_progress');
    // A grade changes while no worker runs.
    await journey(ctx, t.token, 'gradeValueAPI', [
      {
        courseId: course.courseId,
        userId: course.learners[29],
        name: course.columns[3],
        value: '0.5',
      },
    ]);
    const b = WorkerProcess.start(ctx);
    workers.push(b);
    await until(
      'the exchange completed',
      async () => (await state(first.id)) === 'completed',
      60000,
    );
    expect(ds.exchange(first.id)!.chunks.length).to.be.greaterThan(arrivedBeforeKill);
    // The changed grade goes with the next exchange.
    const second = ds.createExchange({
      query: query as never,
      maxDataContentLength: 1500,
      courseAppId: 'app-1',
    });
    await discover();
    await until(
      'the second exchange completed',
      async () => (await state(second.id)) === 'completed',
      60000,
    );

    // Every grade arrived, and the last value that arrived for each is the one gradebridge holds.
    const last = new Map<string, number | null>();
    for (const id of [first.id, second.id]) {
      for (const s of ds.received(id).scores)
        last.set(`${s.assignmentSourceId}|${s.personSourceId}`, s.score);
    }
    expect(last).to.deep.equal(await current(course.courseId));
    expect(ds.received(second.id).scores.map((s) => s.score)).to.deep.equal([0.5]);
    // No job is stuck; the killed attempt is on record as lost.
    await until('every job is done', async () => {
      const jobs = await ctx.db('jobs').where('name', 'like', 'datasync.%').select('state');
      return jobs.every((j) => j.state === 'done');
    });
    const attempts = await ctx
      .db('job_attempts as a')
      .join('jobs as j', 'j.id', 'a.job_id')
      .where({ 'j.name': 'datasync.exchange' })
      .select('a.outcome');
    expect(attempts.map((x) => x.outcome)).to.include('lost');
    // At most the chunk in flight was sent twice, and gradebridge counted what it resent.
    const row = await ctx.db('exchanges').where({ remote_id: first.id }).first('chunks_resent');
    expect(ds.stats.duplicateChunks).to.be.at.most(1);
    expect(row.chunks_resent).to.be.at.most(1);
    expect(row.chunks_resent).to.be.at.least(ds.stats.duplicateChunks);
  });

  it('two workers sharing one quota through Redis never go over it', async function () {
    if (!redisUrl) {
      process.stderr.write(
        '    skipped: two workers sharing a quota through Redis (TEST_REDIS_URL is not set)\n',
      );
      this.skip();
    }
    const redis = new Redis(redisUrl!);
    expect(await redis.ping()).to.equal('PONG');
    await redis.quit();
    const courses = await gradedCourses(ctx, t, {
      prefix: uniqueId('Q'),
      courses: 4,
      columns: 3,
      learners: 20,
    });
    ({ ds, conn } = await connectedDataSync(ctx, t.tenantId, {
      rate: 10,
      rateLimit: 10,
      concurrency: 4,
    }));
    const remotes = courses.map((c) =>
      ds.createExchange({
        query: {
          type: 'assignment_scores',
          conditions: [courseCondition(c.courseId) as never],
        } as never,
        maxDataContentLength: 1200,
        courseAppId: 'app-1',
      }),
    );
    await discover();
    // Two jobs each at most, so that both workers take exchanges.
    const env = { REDIS_URL: redisUrl!, JOBS_CONCURRENCY: '2' };
    workers.push(WorkerProcess.start(ctx, env), WorkerProcess.start(ctx, env));
    await until(
      'every exchange completed',
      async () =>
        (await Promise.all(remotes.map((r) => state(r.id)))).every((s) => s === 'completed'),
      90000,
    );
    const byWorker = await ctx
      .db('job_attempts as a')
      .join('jobs as j', 'j.id', 'a.job_id')
      .where({ 'j.name': 'datasync.exchange' })
      .distinct('a.worker');
    expect(byWorker.length, 'both workers sent').to.equal(2);
    expect(ds.stats.requests).to.be.greaterThan(40);
    expect(ds.stats.maxPerSecond).to.be.at.most(10);
    expect(ds.stats.throttled).to.equal(0);
  });
});
