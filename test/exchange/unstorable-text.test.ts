import { expect } from 'chai';
import type { DataSyncEmulator } from '../../src/emulators/datasync/index.js';
import { discoverExchanges, pollNow } from '../../src/exchange/jobs.js';
import type { ConnectionRow } from '../../src/exchange/service.js';
import { enqueue } from '../../src/jobs/queue.js';
import { isoNow } from '../../src/db/time.js';
import { signBody } from '../../src/webhooks/signature.js';
import { tenantWithClient, uniqueId, type TenantFixture } from '../factories/index.js';
import { buildContext, type TestContext } from '../helpers/context.js';
import { createTestDatabase, postgresSkipReason } from '../helpers/database.js';
import {
  connectedDataSync,
  courseCondition,
  gradedCourses,
  type GradedCourse,
} from '../helpers/exchange.js';
import { until, WorkerProcess } from '../helpers/worker-process.js';

describe('Data Sync notices: an exchange id gradebridge cannot keep is refused', function () {
  this.timeout(30000);
  let ctx: TestContext;
  let t: TenantFixture;
  let ds: DataSyncEmulator;
  let conn: ConnectionRow;

  before(async () => {
    ctx = await buildContext();
    t = await tenantWithClient(ctx, { scopes: ['journey'] });
    ({ ds, conn } = await connectedDataSync(ctx, t.tenantId));
  });
  after(async () => {
    await ds?.close();
    await ctx.deps.exchange.close();
    await ctx.db.destroy();
    await ctx.database.drop();
  });

  const notice = (id: string, data: Record<string, unknown>) => {
    const body = JSON.stringify({ id, type: 'grades.exchange.created', data });
    return ctx.http
      .post(`/webhooks/datasync/${conn.id}`)
      .set('Content-Type', 'application/json')
      .set(
        'X-DataSync-Signature',
        signBody(ctx.deps.exchange.noticeSecret(conn), body, Math.floor(Date.now() / 1000)),
      )
      .send(body);
  };

  it('answers 400 for an exchange or event id with a NUL byte, a lone surrogate, a control character or an absurd length, and records nothing', async () => {
    const before = await ctx.db('webhook_events').count({ n: '*' }).first();
    const bad = [
      { id: 'n-ok-1', data: { exchange_id: 'ab\u0000cd' } },
      { id: 'n-ok-2', data: { exchange_id: 'ab\ud800cd' } },
      { id: 'n-ok-3', data: { exchange_id: 'ab\udc00' } },
      { id: 'n-ok-4', data: { exchange_id: 'ab\ncd' } },
      { id: 'n-ok-5', data: { exchange_id: 'x'.repeat(10_000) } },
      { id: 'n-\u0000', data: { exchange_id: '6f1c3f7e-0000-4000-8000-000000000000' } },
      { id: 'n-\udfff', data: { exchange_id: '6f1c3f7e-0000-4000-8000-000000000000' } },
    ];
    for (const { id, data } of bad) {
      const res = await notice(id, data);
      expect(res.status, JSON.stringify(data)).to.equal(400);
      expect(res.body.error.message).to.be.a('string');
    }
    expect(await ctx.db('webhook_events').count({ n: '*' }).first()).to.deep.equal(before);
    // A real one, with a pair of surrogates in its event id (an emoji), still goes in.
    const ok = await notice('n-\ud83d\ude00', {
      exchange_id: '6f1c3f7e-0000-4000-8000-000000000000',
    });
    expect(ok.status).to.equal(202);
  });
});

describe('Data Sync connections: an id beyond what the database holds is no connection', function () {
  let ctx: TestContext;
  before(async () => {
    ctx = await buildContext();
  });
  after(async () => {
    await ctx.deps.exchange.close();
    await ctx.db.destroy();
    await ctx.database.drop();
  });

  it('answers a notice to connection 2147483648 (or larger) as one to an unknown connection, not with a 500', async () => {
    for (const id of ['2147483648', '9007199254740993', '99999999999999999999']) {
      const res = await ctx.http
        .post(`/webhooks/datasync/${id}`)
        .set('Content-Type', 'application/json')
        .send('{}');
      // 404 as for any unknown connection (or 400 where the path's id is refused as a number first).
      expect(res.status, id).to.be.oneOf([400, 404]);
    }
    for (const id of [2 ** 31, 2 ** 53, 1e20, 0, -1, 1.5]) {
      expect(await ctx.deps.exchange.connectionById(ctx.db, id), String(id)).to.equal(null);
    }
  });
});

describe('Data Sync texts PostgreSQL cannot store (PostgreSQL)', function () {
  this.timeout(90000);
  let ctx: TestContext;
  let t: TenantFixture;
  let ds: DataSyncEmulator;
  let conn: ConnectionRow;
  let course: GradedCourse;
  let worker: WorkerProcess | null = null;

  before(async function () {
    const reason = postgresSkipReason();
    if (reason) {
      process.stderr.write(`    skipped: Data Sync texts on PostgreSQL (${reason})\n`);
      this.skip();
    }
    ctx = await buildContext({
      database: await createTestDatabase('postgres'),
      env: { DATASYNC_RETRIES: '0', DATASYNC_TIMEOUT_MS: '2000' },
    });
    t = await tenantWithClient(ctx, { scopes: ['journey'] });
    [course] = (await gradedCourses(ctx, t, {
      prefix: uniqueId('NUL'),
      courses: 1,
      columns: 2,
      learners: 3,
    })) as [GradedCourse];
    ({ ds, conn } = await connectedDataSync(ctx, t.tenantId));
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && worker) console.error(worker.output.join(''));
    await worker?.stop('SIGKILL');
    worker = null;
    ds?.clearFaults();
  });
  after(async () => {
    if (!ctx) return;
    await ds?.close();
    await ctx.deps.exchange.close();
    await ctx.db.destroy();
    await ctx.database.drop();
  });

  it('keeps a worker process running through a job whose error holds a NUL byte: the error is stored cleaned, the job ends dead after its attempts, the next exchange goes through', async () => {
    // An exchange for a section whose Data Sync id holds a NUL byte, while Data Sync cannot resolve sections.
    ds.createExchange({
      query: {
        type: 'assignment_scores',
        conditions: [
          {
            scope: 'section',
            scope_by: 'id',
            scope_id: { name: 'Section one', $sys: { id: 'sec-\u0000-1' } },
          },
        ],
      },
      courseAppId: 'app-1',
    });
    ds.injectFaults([{ match: { path: '/sections/' }, kind: 'status', status: 503, count: 100 }]);
    const [rowId] = await discoverExchanges(ctx.deps, conn, 'poll');
    const job = () =>
      ctx
        .db('jobs')
        .where({ name: 'datasync.exchange' })
        .whereRaw(`payload::jsonb ->> 'exchangeId' = ?`, [String(rowId)])
        .first();
    await ctx
      .db('jobs')
      .where({ id: (await job()).id })
      .update({ max_attempts: 2 });

    worker = WorkerProcess.start(ctx, { DATASYNC_RETRIES: '0' });
    const alive = () => {
      if (worker!.child.exitCode !== null || worker!.child.signalCode !== null)
        throw new Error(
          `the worker exited (${worker!.child.exitCode ?? worker!.child.signalCode})`,
        );
    };
    await until('the job is dead', async () => {
      alive();
      return (await job()).state === 'dead';
    });
    const dead = await job();
    expect(dead.attempts).to.equal(2);
    expect(dead.last_error).to.include('resolving section sec--1');
    expect(dead.last_error).not.to.include('\u0000');
    const attempts = await ctx.db('job_attempts').where({ job_id: dead.id }).orderBy('attempt');
    expect(attempts.map((a) => a.outcome)).to.deep.equal(['failed', 'failed']);
    // Given up: the exchange ends failed with the cleaned message, its course free for the next one.
    const exchange = await ctx.db('exchanges').where({ id: rowId }).first();
    expect(exchange.state).to.equal('failed');
    expect(exchange.error_message).to.match(
      /^gave up after 2 attempts: .*resolving section sec--1/,
    );

    // The same worker process answers the next exchange.
    ds.clearFaults();
    const good = ds.createExchange({
      query: { type: 'summary', conditions: [courseCondition(course.courseId) as never] },
      courseAppId: 'app-1',
    });
    await enqueue(
      ctx.db,
      'datasync.discover',
      { connectionId: conn.id, trigger: 'poll' },
      isoNow(ctx.clock),
      { tenantId: t.tenantId },
    );
    await until('the next exchange is answered', async () => {
      alive();
      const row = await ctx.db('exchanges').where({ remote_id: good.id }).first('state');
      return row?.state === 'completed';
    });
    expect(ds.exchange(good.id)!.state).to.equal('completed');
    alive();
  });

  it("stores an exchange's refusal cleaned when the course it names holds a NUL byte and a lone surrogate", async () => {
    const remote = ds.createExchange({
      query: {
        type: 'summary',
        conditions: [
          {
            scope: 'course',
            scope_by: 'id',
            scope_id: { name: 'No\u0000where \ud800', $sys: { source_id: { sis: 'NONE-\u0000' } } },
            summary_type: 'final',
          },
        ],
      },
      courseAppId: 'app-1',
    });
    const results = await pollNow(ctx.deps, conn, ctx.deps.logger);
    const result = results.find((r) => r.remoteId === remote.id)!;
    expect(result).to.include({ state: 'refused', errorCode: 'producer_error' });
    expect(result.errorMessage).to.include(
      'no course in gradebridge matches the course "Nowhere \ufffd"',
    );
    // Data Sync was told, in its own words.
    expect(ds.exchange(remote.id)!.errors.map((e) => e.code)).to.deep.equal(['producer_error']);
  });
});
