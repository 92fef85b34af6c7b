import { expect } from 'chai';
import type { DataSyncEmulator } from '../../src/emulators/datasync/index.js';
import { pollNow } from '../../src/exchange/jobs.js';
import { runExchange } from '../../src/exchange/run-exchange.js';
import type { ConnectionRow } from '../../src/exchange/service.js';
import { tenantWithClient, uniqueId, type TenantFixture } from '../factories/index.js';
import { buildContext, type TestContext } from '../helpers/context.js';
import {
  connectedDataSync,
  courseCondition,
  fixtureScore,
  gradedCourses,
  type GradedCourse,
} from '../helpers/exchange.js';

describe('Grades Exchange under faults: throttling, errors, timeouts, dropped connections', function () {
  this.timeout(90000);
  let ctx: TestContext;
  let t: TenantFixture;
  let course: GradedCourse;
  let ds: DataSyncEmulator | null = null;
  let conn: ConnectionRow;

  before(async () => {
    ctx = await buildContext({
      env: { DATASYNC_TIMEOUT_MS: '1000', DATASYNC_RETRIES: '4' },
    });
    t = await tenantWithClient(ctx, { scopes: ['journey'] });
    [course] = await gradedCourses(ctx, t, {
      prefix: uniqueId('F'),
      courses: 1,
      columns: 2,
      learners: 10,
    });
  });
  beforeEach(async () => {
    // Each test starts from a Data Sync that has received nothing.
    await ctx.db('exchange_items').delete();
    ({ ds, conn } = await connectedDataSync(ctx, t.tenantId, { rate: 1000 }));
  });
  afterEach(async () => {
    await ds?.close();
    ds = null;
  });
  after(async () => {
    await ctx.deps.exchange.close();
    await ctx.db.destroy();
    await ctx.database.drop();
  });

  const exchange = () =>
    ds!.createExchange({
      query: { type: 'assignment_scores', conditions: [courseCondition(course.courseId) as never] },
      maxDataContentLength: 1200,
      courseAppId: 'app-1',
    });

  /** Every score arrived with the value gradebridge holds; returns how many arrived more than once. */
  function expectWhole(remoteId: string): number {
    const received = ds!.received(remoteId);
    const latest = new Map<string, number | null>();
    for (const s of received.scores)
      latest.set(`${s.assignmentSourceId}|${s.personSourceId}`, s.score);
    expect(latest.size).to.equal(course.columns.length * course.learners.length);
    const values = [...latest.values()].sort();
    const expected = course.columns
      .flatMap((_, ci) => course.learners.map((__, li) => fixtureScore(0, ci, li)))
      .sort();
    expect(values).to.deep.equal(expected);
    expect(received.summaries).to.have.length(course.learners.length);
    return received.scores.length - latest.size;
  }

  it('slows down on 429 with Retry-After when the quota is lower than configured, and loses nothing', async () => {
    ds!.setRateLimit({ requestsPerSecond: 4 });
    const remote = exchange();
    const [result] = await pollNow(ctx.deps, conn, ctx.deps.logger);
    expect(result).to.include({ state: 'completed', chunksResent: 0 });
    expect(ds!.stats.throttled).to.be.greaterThan(0);
    expect(ds!.exchange(remote.id)!.chunks.length).to.be.greaterThan(3);
    expect(expectWhole(remote.id)).to.equal(0);
    expect(ds!.stats.duplicateChunks).to.equal(0);
  });

  it('treats 403 "Rate Limit Exceeded" without Retry-After as throttling too', async () => {
    ds!.setRateLimit({ requestsPerSecond: 4, status: 403, retryAfter: false });
    const remote = exchange();
    const [result] = await pollNow(ctx.deps, conn, ctx.deps.logger);
    expect(result!.state).to.equal('completed');
    expect(ds!.stats.throttled).to.be.greaterThan(0);
    expect(expectWhole(remote.id)).to.equal(0);
  });

  it('retries 500s and a failing token endpoint; nothing arrives twice', async () => {
    ds!.injectFaults([
      { match: { path: 'token' }, kind: 'status', status: 503, count: 2 },
      { match: { method: 'POST', path: '/data$' }, kind: 'status', status: 500, count: 3 },
    ]);
    const remote = exchange();
    const [result] = await pollNow(ctx.deps, conn, ctx.deps.logger);
    // A 5xx to an upload may hide a stored chunk: each resend after one is counted; none arrived twice.
    expect(result).to.include({ state: 'completed', chunksResent: 3 });
    expect(ds!.stats.faulted).to.equal(5);
    expect(expectWhole(remote.id)).to.equal(0);
    expect(ds!.stats.duplicateChunks).to.equal(0);
  });

  it('sends a chunk again after a timeout, and counts it when it had arrived', async () => {
    ds!.injectFaults([
      { match: { method: 'POST', path: '/data$' }, kind: 'timeout', when: 'after', count: 1 },
    ]);
    const remote = exchange();
    const [result] = await pollNow(ctx.deps, conn, ctx.deps.logger);
    expect(result).to.include({ state: 'completed', chunksResent: 1 });
    expect(ds!.stats.duplicateChunks).to.equal(1);
    expect(expectWhole(remote.id)).to.be.greaterThan(0);
  });

  it('completes an exchange whose last upload arrived without an answer, without sending it again', async () => {
    ds!.injectFaults([
      {
        match: { method: 'POST', path: '/data$' },
        kind: 'status',
        status: 502,
        when: 'after',
        count: 1,
      },
    ]);
    const remote = ds!.createExchange({
      query: { type: 'assignment_scores', conditions: [courseCondition(course.courseId) as never] },
      courseAppId: 'app-1',
    });
    const [result] = await pollNow(ctx.deps, conn, ctx.deps.logger);
    expect(result).to.include({ state: 'completed', chunks: 1, chunksResent: 0 });
    expect(ds!.exchange(remote.id)!.chunks).to.have.length(1);
    expect(ds!.exchange(remote.id)!.errors).to.have.length(0);
    const statuses = await ctx
      .db('exchange_items')
      .where({ connection_id: conn.id })
      .distinct('status');
    expect(statuses.map((x) => x.status)).to.deep.equal(['sent']);
  });

  it('sends a chunk again after a dropped connection (counted as possibly sent twice)', async () => {
    ds!.injectFaults([{ match: { method: 'POST', path: '/data$' }, kind: 'drop', count: 1 }]);
    const remote = exchange();
    const [result] = await pollNow(ctx.deps, conn, ctx.deps.logger);
    expect(result).to.include({ state: 'completed', chunksResent: 1 });
    // Dropped before it was stored: it arrived once.
    expect(ds!.stats.duplicateChunks).to.equal(0);
    expect(expectWhole(remote.id)).to.equal(0);
  });

  it('gives up for now when Data Sync keeps failing, and resumes where it stopped', async () => {
    const remote = exchange();
    ds!.injectFaults([
      { match: { method: 'POST', path: '/data$' }, kind: 'status', status: 502, count: 1000 },
    ]);
    let failure: unknown = null;
    await pollNow(ctx.deps, conn, ctx.deps.logger).catch((err: unknown) => {
      failure = err;
    });
    expect(String(failure)).to.match(/unavailable/i);
    const row = await ctx.db('exchanges').where({ remote_id: remote.id }).first();
    expect(row).to.include({ state: 'sending', chunks_sent: 0 });
    const planned = await ctx
      .db('exchange_chunks')
      .where({ exchange_id: row.id })
      .count({ n: '*' });
    ds!.clearFaults();
    const result = await runExchange(ctx.deps, row.id, ctx.deps.logger);
    // The chunk answered 502 may have been stored: sending it again is counted (it was not, here).
    expect(result.state).to.equal('completed');
    expect(result.chunksResent).to.be.greaterThan(0);
    expect(ds!.stats.duplicateChunks).to.equal(0);
    expect(ds!.exchange(remote.id)!.chunks).to.have.length(Number(planned[0]!.n));
    expect(expectWhole(remote.id)).to.equal(0);
  });
});
