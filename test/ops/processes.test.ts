import { expect } from 'chai';
import { migrateLatest } from '../../src/db/migrate.js';
import { enqueue } from '../../src/jobs/queue.js';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from '../helpers/database.js';
import type { TestContext } from '../helpers/context.js';
import { startServer, type ServerProcess } from '../helpers/server-process.js';
import { until, WorkerProcess } from '../helpers/worker-process.js';

/**
 * Running at scale on PostgreSQL: WEB_PROCESSES=2 puts two web processes
 * behind one port, and `npm run worker` processes share the job queue.
 */
describe('several processes on one PostgreSQL database', function () {
  this.timeout(120000);
  let database: TestDatabase;
  let server: ServerProcess | null = null;
  const workers: WorkerProcess[] = [];

  before(async function () {
    const reason = postgresSkipReason();
    if (reason) {
      process.stderr.write(`    skipped: several processes on PostgreSQL (${reason})\n`);
      this.skip();
    }
    database = await createTestDatabase('postgres');
    const db = database.open();
    await migrateLatest(db);
    await db.destroy();
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      if (server) console.error(server.output());
      for (const w of workers) console.error(w.output.join(''));
    }
    await server?.stop('SIGKILL');
    server = null;
    await Promise.all(workers.splice(0).map((w) => w.stop('SIGKILL')));
  });
  after(async () => {
    await database?.drop();
  });

  it('answers on one port from two web processes, which accept each other’s tokens, replaces one that dies, and stops both on SIGTERM', async () => {
    server = await startServer(database, {
      from: 'source',
      env: { WEB_PROCESSES: '2', WORKER_IN_PROCESS: 'false', DEMO: 'true', DEMO_LMS: 'false' },
    });
    await until('both web processes answer', () =>
      /web processes answer at/.test(server!.output()),
    );
    const out = server.output();
    const clientId = /client_id:\s+(\S+)/.exec(out)![1]!;
    const secret = /client_secret:\s+(\S+)/.exec(out)![1]!;
    const basic = `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`;
    // Each request on a connection of its own: the primary hands connections out in turn.
    const tokens: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${server.baseUrl}/oauth2/token`, {
        method: 'POST',
        headers: {
          Authorization: basic,
          'Content-Type': 'application/x-www-form-urlencoded',
          Connection: 'close',
        },
        body: 'grant_type=client_credentials',
      });
      expect(res.status).to.equal(200);
      tokens.push(((await res.json()) as { access_token: string }).access_token);
    }
    // Each token twice, one connection after the other: once to each web process.
    for (const token of tokens) {
      for (let twice = 0; twice < 2; twice++) {
        const res = await fetch(
          `${server.baseUrl}/api/v1/courses/sis_course_id:DEMO-100/gradebook_history/days`,
          { headers: { Authorization: `Bearer ${token}`, Connection: 'close' } },
        );
        expect(res.status).to.equal(200);
      }
    }
    const answeredBy = new Set<number>();
    await until('the access log has every request', () => {
      for (const line of server!.output().split('\n')) {
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line) as { msg?: string; pid?: number; path?: string };
        if (entry.msg === 'request' && entry.path?.includes('gradebook_history'))
          answeredBy.add(entry.pid!);
      }
      return answeredBy.size >= 2;
    });
    expect(answeredBy.size, 'web processes that answered').to.equal(2);

    // A web process that dies is replaced, and the port keeps answering meanwhile.
    const [victim] = [...answeredBy];
    process.kill(victim!, 'SIGKILL');
    await until(
      'another web process answers',
      () =>
        /web process ended unexpectedly/.test(server!.output()) &&
        (server!.output().match(/"msg":"gradebridge listening"/g) ?? []).length >= 3,
      60000,
    );
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${server.baseUrl}/healthz`, { headers: { Connection: 'close' } });
      expect(res.status).to.equal(200);
    }
    expect(await server.stop('SIGTERM')).to.equal(0);
    const stopped = server
      .output()
      .split('\n')
      .filter((l) => l.includes('"msg":"stopped"'));
    expect(stopped, 'each web process stopped cleanly').to.have.length(2);
    expect(server.output()).not.to.include('shutdown deadline passed');
  });

  it('runs each job exactly once with two worker processes taking from the queue', async () => {
    const db = database.open();
    try {
      const now = new Date().toISOString();
      const ids: number[] = [];
      for (let i = 0; i < 200; i++) {
        ids.push((await enqueue(db, 'progress.exports.cleanup', { n: i }, now, {}))!);
      }
      const ctx = { database } as TestContext;
      const env = { JOBS_CONCURRENCY: '4', JOBS_POLL_MS: '20' };
      workers.push(WorkerProcess.start(ctx, env), WorkerProcess.start(ctx, env));
      await until(
        'every job is done',
        async () =>
          Number(
            (
              await db('jobs')
                .whereIn('id', ids)
                .whereNot({ state: 'done' })
                .count('* as n')
                .first()
            )?.n,
          ) === 0,
        60000,
      );
      const attempts = await db('job_attempts')
        .whereIn('job_id', ids)
        .select('job_id', 'worker', 'outcome');
      expect(attempts, 'one attempt per job').to.have.length(ids.length);
      expect(new Set(attempts.map((a) => a.job_id)).size).to.equal(ids.length);
      expect(attempts.every((a) => a.outcome === 'succeeded')).to.equal(true);
      const byWorker = new Set(attempts.map((a) => a.worker));
      expect(byWorker.size, 'both workers took jobs').to.equal(2);
      const jobs = await db('jobs').whereIn('id', ids).select('attempts');
      expect(jobs.every((j) => j.attempts === 1)).to.equal(true);
    } finally {
      await db.destroy();
    }
  });
});
