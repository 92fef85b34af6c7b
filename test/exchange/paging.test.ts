import { expect } from 'chai';
import type { DataSyncEmulator } from '../../src/emulators/datasync/index.js';
import { pollNow, requestFinalGrades } from '../../src/exchange/jobs.js';
import type { ConnectionRow } from '../../src/exchange/service.js';
import { createWorker } from '../../src/job-registry.js';
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

/** Data Sync's pages are as large as its maximum page size, which may be well under 100. */
describe('Grades Exchange: paging through a Data Sync with a small maximum page size', function () {
  this.timeout(60000);
  const MAX_PAGE_SIZE = 3;
  let ctx: TestContext;
  let t: TenantFixture;
  let ds: DataSyncEmulator;
  let conn: ConnectionRow;
  let courses: GradedCourse[];

  before(async () => {
    ctx = await buildContext({ env: { DATASYNC_TIMEOUT_MS: '2000', DATASYNC_RETRIES: '3' } });
    t = await tenantWithClient(ctx, { scopes: ['journey'] });
    courses = await gradedCourses(ctx, t, {
      prefix: uniqueId('PG'),
      courses: 2,
      columns: 2,
      learners: 3,
    });
    ({ ds, conn } = await connectedDataSync(ctx, t.tenantId, { maxPageSize: MAX_PAGE_SIZE }));
  });
  after(async () => {
    await ds?.close();
    await ctx.deps.exchange.close();
    await ctx.db.destroy();
    await ctx.database.drop();
  });

  const waiting = (courseId: string, n: number) =>
    Array.from(
      { length: n },
      (_, i) =>
        ds.createExchange({
          query: {
            type: i % 2 ? 'summary' : 'assignment_scores',
            conditions: [courseCondition(courseId) as never],
          },
          courseAppId: 'app-1',
        }).id,
    );

  it('finds and answers every waiting exchange, however many pages they take', async () => {
    const ids = waiting(courses[0]!.courseId, 3 * MAX_PAGE_SIZE - 1);
    const results = await pollNow(ctx.deps, conn, ctx.deps.logger);
    expect(results.map((r) => r.remoteId).sort()).to.deep.equal([...ids].sort());
    for (const id of ids) expect(ds.exchange(id)!.state, id).to.equal('completed');

    // The scheduled look finds them too: more than a page of new ones, all recorded.
    const later = waiting(courses[0]!.courseId, MAX_PAGE_SIZE + 2);
    await enqueue(
      ctx.db,
      'datasync.discover',
      { connectionId: conn.id, trigger: 'schedule' },
      isoNow(ctx.clock),
      { tenantId: t.tenantId },
    );
    await createWorker(ctx.deps).drain();
    const recorded = await ctx.db('exchanges').whereIn('remote_id', later).pluck('remote_id');
    expect(recorded.sort()).to.deep.equal([...later].sort());
    // What the worker could not finish at once (same course, one after another) is answered next.
    await pollNow(ctx.deps, conn, ctx.deps.logger);
    for (const id of later) expect(ds.exchange(id)!.state, id).to.equal('completed');
  });

  it('finds a teacher\'s "send final grades" exchange on a later page', async () => {
    const c = courses[1]!;
    // Others are waiting already, so the requested exchange is listed past the first page.
    const others = waiting(c.courseId, MAX_PAGE_SIZE + 1);
    const course = await ctx.db('courses').where({ batch_uid: c.courseId }).first('id');
    await requestFinalGrades(ctx.db, conn, course.id, null, isoNow(ctx.clock));
    await createWorker(ctx.deps).drain();
    const made = ds.exchanges().filter((e) => e.source === 'api');
    expect(made).to.have.length(1);
    expect(made[0]!.state).to.equal('completed');
    const row = await ctx.db('exchanges').where({ remote_id: made[0]!.id }).first('trigger');
    expect(row).to.deep.equal({ trigger: 'teacher' });
    const job = await ctx.db('jobs').where({ name: 'datasync.request' }).first('state');
    expect(job.state).to.equal('done');
    for (const id of others) expect(ds.exchange(id)!.state).to.equal('created');
  });
});
