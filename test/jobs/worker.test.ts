import { expect } from 'chai';
import { isoNow } from '../../src/db/time.js';
import { enqueue } from '../../src/jobs/queue.js';
import { JobWorker, type JobDefinition } from '../../src/jobs/worker.js';
import { createTestDatabase, postgresSkipReason } from '../helpers/database.js';
import { buildContext, type TestContext } from '../helpers/context.js';
import { until } from '../helpers/worker-process.js';

/** What a failing job may say: a NUL byte and lone surrogates, as an id read from anywhere may hold, and far too long. */
const POISON = `Data Sync is unavailable for reading exchange ab\u0000cd\ud800ef\udc00gh: ${'x'.repeat(20_000)}`;

/**
 * PostgreSQL refuses text with a NUL byte (22021): an error message carrying
 * one used to make the worker's own write of the outcome fail, unhandled,
 * and take the process down. Recording an outcome must never stop a worker.
 */
describe('job worker on PostgreSQL: recording an outcome never stops it', function () {
  this.timeout(60000);
  let ctx: TestContext;
  let worker: JobWorker | null = null;
  const ran: number[] = [];
  const definitions: JobDefinition[] = [
    {
      name: 'test.poison',
      backoffMs: () => 0,
      async run() {
        throw new Error(POISON);
      },
    },
    {
      name: 'test.refused-detail',
      backoffMs: () => 0,
      async run() {
        throw new Error('a detail the database refuses');
      },
    },
    {
      name: 'test.ok',
      async run({ job }) {
        ran.push(job.id);
      },
    },
  ];

  before(async function () {
    const reason = postgresSkipReason();
    if (reason) {
      process.stderr.write(`    skipped: job worker on PostgreSQL (${reason})\n`);
      this.skip();
    }
    ctx = await buildContext({ database: await createTestDatabase('postgres') });
  });
  afterEach(async () => {
    await worker?.stop();
    worker = null;
    await ctx.db.raw('drop trigger if exists refuse_outcome on jobs');
  });
  after(async () => {
    if (!ctx) return;
    await ctx.deps.exchange.close();
    await ctx.db.destroy();
    await ctx.database.drop();
  });

  const startWorker = () => {
    worker = new JobWorker(ctx.deps, definitions, [], {
      concurrency: 2,
      pollMs: 20,
      leaseMs: 1000,
      id: `test-worker-${Date.now()}`,
    });
    worker.start();
    return worker;
  };
  const add = (name: string, maxAttempts = 1) =>
    enqueue(ctx.db, name, {}, isoNow(ctx.clock), { maxAttempts }) as Promise<number>;
  const job = (id: number) => ctx.db('jobs').where({ id }).first();
  const ranNext = async () => {
    const next = await add('test.ok');
    worker!.wake();
    await until('the next job is done', async () => (await job(next)).state === 'done');
    expect(ran).to.include(next);
  };
  /** A PostgreSQL trigger that refuses, as the database would, the worker's write of a job's outcome. */
  const refuseOutcome = (condition: string) =>
    ctx.db.raw(`
      create or replace function refuse_outcome() returns trigger language plpgsql as $$
      begin
        if ${condition} then raise exception 'the database refuses this write'; end if;
        return new;
      end $$;
      create trigger refuse_outcome before update on jobs for each row execute function refuse_outcome();`);

  it('stores an error holding NUL and lone surrogates cleaned and capped, marks the job dead after its attempts, and goes on', async () => {
    const id = await add('test.poison', 2);
    startWorker();
    await until('the job is dead', async () => (await job(id)).state === 'dead');
    const row = await job(id);
    expect(row.attempts).to.equal(2);
    expect(row.last_error).not.to.include('\u0000');
    expect(
      row.last_error.startsWith(
        'Data Sync is unavailable for reading exchange abcd\ufffdef\ufffdgh: xxx',
      ),
    ).to.equal(true);
    expect(row.last_error.length).to.be.at.most(4000);
    const attempts = await ctx.db('job_attempts').where({ job_id: id }).orderBy('attempt');
    expect(attempts.map((a) => [a.attempt, a.outcome])).to.deep.equal([
      [1, 'failed'],
      [2, 'failed'],
    ]);
    for (const a of attempts) expect(a.error).to.equal(row.last_error);
    await ranNext();
  });

  it('falls back to a plain message when the error itself cannot be stored, and still ends the job dead after its attempts', async () => {
    await refuseOutcome(`new.last_error like '%the database refuses%'`);
    const id = await add('test.refused-detail', 2);
    startWorker();
    await until('the job is dead', async () => (await job(id)).state === 'dead');
    const row = await job(id);
    expect(row.attempts).to.equal(2);
    expect(row.last_error).to.match(/could not be recorded/);
    expect(ctx.logs.text()).to.include('a detail the database refuses');
    await ranNext();
  });

  it('logs it with the job id and goes on with the next job when the outcome cannot be recorded at all; the job is dead once its lease runs out', async () => {
    await refuseOutcome(`new.name = 'test.poison' and new.state <> 'running'`);
    const id = await add('test.poison', 1);
    startWorker();
    await until('the failure to record is logged', () =>
      ctx.logs.lines.some((l) => {
        const line = JSON.parse(l) as { job?: number; msg?: string };
        return line.job === id && /could not record/.test(line.msg ?? '');
      }),
    );
    await ranNext();
    expect((await job(id)).state).to.equal('running');
    // Once the database takes writes again, the job whose lease ran out after its last attempt is dead, not run again.
    await ctx.db.raw('drop trigger refuse_outcome on jobs');
    await until('the job is dead', async () => (await job(id)).state === 'dead', 10000);
    const row = await job(id);
    expect(row.attempts).to.equal(1);
    expect(row.last_error).to.match(/did not finish/);
    const attempts = await ctx.db('job_attempts').where({ job_id: id });
    expect(attempts.map((a) => a.outcome)).to.deep.equal(['lost']);
  });
});
