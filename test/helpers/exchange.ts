import { DataSyncEmulator } from '../../src/emulators/datasync/index.js';
import { isoNow } from '../../src/db/time.js';
import { inTransaction } from '../../src/db/transaction.js';
import type { ConnectionRow } from '../../src/exchange/service.js';
import { chunk } from '../../src/grades/grade-batch.js';
import type { TenantFixture } from '../factories/index.js';
import type { TestContext } from './context.js';
import { journey } from './journey.js';

export interface GradedCourse {
  courseId: string;
  columns: string[];
  learners: string[];
}

/** The score a learner has in a column in the fixtures (varied, deterministic). */
export const fixtureScore = (course: number, column: number, learner: number, round = 0) =>
  ((course * 7 + column * 3 + learner * 5 + round * 11) % 10) + 1;

/**
 * Courses written through Journey: `columns` assignments of 10 points, a
 * total column "Final" set as the external grade column, and `learners`
 * learners graded in every assignment.
 */
export async function gradedCourses(
  ctx: TestContext,
  t: TenantFixture,
  o: { prefix: string; courses: number; columns: number; learners: number },
): Promise<GradedCourse[]> {
  const out: GradedCourse[] = [];
  for (let c = 0; c < o.courses; c++) {
    const courseId = `${o.prefix}-${c + 1}`;
    const columns = Array.from({ length: o.columns }, (_, i) => `Assignment ${i + 1}`);
    const learners = Array.from({ length: o.learners }, (_, i) => `${o.prefix}-s${i + 1}`);
    await journey(ctx, t.token, 'gradableItemsAPI', [
      ...columns.map((name) => ({ courseId, name, itemType: 'ASSIGNMENT', points: 10 })),
      {
        courseId,
        name: 'Final',
        itemType: 'TOTAL_COLUMN',
        points: 100,
        mapping: columns.join(','),
      },
    ]);
    await journey(ctx, t.token, 'externalGradeColumnAPI', [{ courseId, name: 'Final' }]);
    const values = columns.flatMap((name, ci) =>
      learners.map((userId, li) => ({
        courseId,
        userId,
        name,
        value: String(fixtureScore(c, ci, li)),
      })),
    );
    for (const part of chunk(values, 1000)) await journey(ctx, t.token, 'gradeValueAPI', part);
    out.push({ courseId, columns, learners });
  }
  return out;
}

/** A Data Sync emulator with a client, connected to the tenant. */
export async function connectedDataSync(
  ctx: TestContext,
  tenantId: number,
  o: { rate?: number; rateLimit?: number | null; concurrency?: number; maxPageSize?: number } = {},
): Promise<{ ds: DataSyncEmulator; conn: ConnectionRow }> {
  const ds = await DataSyncEmulator.start({
    rateLimit: { requestsPerSecond: o.rateLimit ?? null },
    ...(o.maxPageSize ? { maxPageSize: o.maxPageSize } : {}),
  });
  ds.addClient({
    clientId: `gb-${tenantId}`,
    clientSecret: 'secret-of-the-client',
    courseAppId: 'app-1',
  });
  await inTransaction(ctx.db, (trx) =>
    ctx.deps.exchange.connect(
      trx,
      {
        tenantId,
        baseUrl: ds.endpoints.api,
        tokenUrl: ds.endpoints.token,
        clientId: `gb-${tenantId}`,
        clientSecret: 'secret-of-the-client',
        courseAppId: 'app-1',
        ratePerSecond: o.rate ?? 1000,
        concurrency: o.concurrency ?? 4,
      },
      isoNow(ctx.clock),
    ),
  );
  const conn = (await ctx.deps.exchange.connection(ctx.db, tenantId))!;
  return { ds, conn };
}

/** A condition asking for one course by its SIS id, its assignments' scores and final grades. */
export function courseCondition(courseId: string, extra: Record<string, unknown> = {}) {
  return {
    scope: 'course',
    scope_by: 'id',
    scope_id: { name: courseId, $sys: { source_id: { sis: courseId } } },
    summary_type: 'final',
    ...extra,
  };
}
