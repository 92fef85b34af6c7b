/**
 * Grades Exchange push: a term's final grades (200 courses, 40 learners,
 * 10 assignments each, plus a final grade column) answered to 200 waiting
 * exchanges through the Data Sync emulator, whose quota is 20 requests per
 * second (answered with 429 and Retry-After above it). Reports the request
 * rate Data Sync saw as a fraction of the quota, and the 429s after the
 * first. The in-process worker answers the exchanges, 8 jobs at a time.
 */
import { DataSyncEmulator } from '../src/emulators/datasync/index.js';
import { isoNow } from '../src/db/time.js';
import { inTransaction } from '../src/db/transaction.js';
import { enqueue } from '../src/jobs/queue.js';
import { createWorker } from '../src/job-registry.js';
import { fmt, machine, postJson, saveResult, startServer, tenantToken } from './lib.js';

const COURSES = 200;
const LEARNERS = 40;
const COLUMNS = 10;
const QUOTA = 20;

export async function run(): Promise<unknown> {
  const server = await startServer({ env: { JOBS_CONCURRENCY: '8', JOBS_POLL_MS: '50' } });
  const ds = await DataSyncEmulator.start({
    rateLimit: { requestsPerSecond: QUOTA },
    maxPageSize: 100,
  });
  try {
    const { deps } = server;
    const { tenantId, token } = await tenantToken(deps, ['journey']);
    const journey = (endpoint: string, items: unknown[]) =>
      postJson(`${server.baseUrl}/learn/api/v2/cc/gradejourney/${endpoint}`, token, items);
    const columns = Array.from({ length: COLUMNS }, (_, i) => `Assignment ${i + 1}`);
    let t = performance.now();
    for (let c = 0; c < COURSES; c++) {
      const courseId = `TERM-${c + 1}`;
      await journey('gradableItemsAPI', [
        ...columns.map((name) => ({ courseId, name, itemType: 'ASSIGNMENT', points: 10 })),
        {
          courseId,
          name: 'Final',
          itemType: 'TOTAL_COLUMN',
          points: 100,
          mapping: columns.join(','),
        },
      ]);
      await journey('externalGradeColumnAPI', [{ courseId, name: 'Final' }]);
      await journey(
        'gradeValueAPI',
        columns.flatMap((name, ci) =>
          Array.from({ length: LEARNERS }, (_, li) => ({
            courseId,
            userId: `term-s${c * LEARNERS + li}`,
            name,
            value: String(((c + ci * 3 + li * 7) % 10) + 1),
          })),
        ),
      );
    }
    const setupSeconds = (performance.now() - t) / 1000;

    ds.addClient({ clientId: 'bench', clientSecret: 'bench-secret', courseAppId: 'term' });
    await inTransaction(deps.db, (trx) =>
      deps.exchange.connect(
        trx,
        {
          tenantId,
          baseUrl: ds.endpoints.api,
          tokenUrl: ds.endpoints.token,
          clientId: 'bench',
          clientSecret: 'bench-secret',
          courseAppId: 'term',
          ratePerSecond: QUOTA,
          concurrency: 4,
        },
        isoNow(deps.clock),
      ),
    );
    const conn = (await deps.exchange.connection(deps.db, tenantId))!;
    for (let c = 0; c < COURSES; c++) {
      const courseId = `TERM-${c + 1}`;
      ds.createExchange({
        query: {
          type: 'assignment_scores',
          conditions: [
            {
              scope: 'course',
              scope_by: 'id',
              scope_id: { name: courseId, $sys: { source_id: { sis: courseId } } },
              summary_type: 'final',
            },
          ],
        },
        courseAppId: 'term',
      });
    }
    ds.resetStats();
    const worker = createWorker(deps);
    t = performance.now();
    await enqueue(
      deps.db,
      'datasync.discover',
      { connectionId: conn.id, trigger: 'poll' },
      isoNow(deps.clock),
      {
        tenantId,
      },
    );
    worker.start();
    for (;;) {
      const left = await deps
        .db('exchanges')
        .whereNot('state', 'completed')
        .count({ n: '*' })
        .first();
      const all = await deps.db('exchanges').count({ n: '*' }).first();
      if (Number(all!.n) === COURSES && Number(left!.n) === 0) break;
      if (performance.now() - t > 30 * 60_000)
        throw new Error('the push did not finish in 30 minutes');
      await new Promise((r) => setTimeout(r, 200));
    }
    // The jobs fetch the artifacts after the last chunk: wait for them to finish too.
    for (;;) {
      const busy = await deps
        .db('jobs')
        .whereIn('state', ['queued', 'running'])
        .where('name', 'like', 'datasync.%')
        .first('id');
      if (!busy) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await worker.stop();
    const seconds = (performance.now() - t) / 1000;
    const stats = ds.stats;
    const timeline = stats.timeline;
    const span = (timeline[timeline.length - 1]! - timeline[0]!) / 1000;
    const received = ds.exchanges().reduce(
      (n, e) => {
        const r = ds.received(e.id);
        return { scores: n.scores + r.scores.length, summaries: n.summaries + r.summaries.length };
      },
      { scores: 0, summaries: 0 },
    );
    const chunks = ds.exchanges().reduce((n, e) => n + e.chunks.length, 0);
    const result = {
      machine: machine(),
      courses: COURSES,
      learners: LEARNERS,
      columns: COLUMNS,
      quota: QUOTA,
      setupSeconds: Number(setupSeconds.toFixed(1)),
      pushSeconds: Number(seconds.toFixed(1)),
      requests: stats.requests,
      chunks,
      scores: received.scores,
      summaries: received.summaries,
      requestsPerSecond: Number((stats.requests / span).toFixed(2)),
      fractionOfQuota: Number((stats.requests / span / QUOTA).toFixed(3)),
      maxInOneSecond: stats.maxPerSecond,
      throttled: stats.throttled,
      throttledAfterFirst: Math.max(0, stats.throttled - 1),
      duplicateChunks: stats.duplicateChunks,
    };
    console.log(
      `\nGrades Exchange push: ${COURSES} courses x ${LEARNERS} learners x ${COLUMNS} assignments, quota ${QUOTA} requests/s`,
    );
    console.log(
      `  ${fmt(result.scores)} scores and ${fmt(result.summaries)} final grades in ${fmt(chunks)} chunks, ${fmt(result.requests)} requests in ${fmt(span, 1)} s`,
    );
    console.log(
      `  ${fmt(result.requestsPerSecond, 2)} requests/s = ${fmt(result.fractionOfQuota * 100, 1)} % of the quota; most in any second: ${result.maxInOneSecond}; 429s: ${result.throttled} (${result.throttledAfterFirst} after the first); chunks sent twice: ${result.duplicateChunks}`,
    );
    saveResult('exchange', result);
    return result;
  } finally {
    await ds.close();
    await server.deps.exchange.close();
    await server.close();
  }
}
