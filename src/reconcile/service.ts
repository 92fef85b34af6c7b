import { isoNow } from '../db/time.js';
import { inTransaction } from '../db/transaction.js';
import type { AppDeps } from '../deps.js';
import { enqueue } from '../jobs/queue.js';
import type { JobDefinition, RecurringJob } from '../jobs/worker.js';
import { recordDrift } from './drift.js';
import { reconcileReport, type ReconcileReport } from './report.js';

/** Computes the report for a tenant (or one course of it) and records its drift. */
export async function reconcile(
  deps: AppDeps,
  tenantId: number,
  courseId?: number,
): Promise<ReconcileReport> {
  const now = isoNow(deps.clock);
  return inTransaction(deps.db, async (trx) => {
    const report = await reconcileReport(trx, tenantId, {
      courseId,
      now,
      unknownAfterMinutes: deps.config.RECONCILE_UNKNOWN_AFTER_MINUTES,
    });
    const courseIds =
      courseId !== undefined
        ? [courseId]
        : ((await trx('courses').where({ tenant_id: tenantId }).pluck('id')) as number[]);
    await recordDrift(trx, report, courseIds);
    return report;
  });
}

/** One tenant's report, recomputed (drift recorded). */
export const reconcileTenantJob: JobDefinition = {
  name: 'reconcile.tenant',
  maxAttempts: 3,
  async run({ deps, job, log }) {
    const report = await reconcile(deps, job.payload.tenantId as number);
    log.info({ tenant: report.tenantId, counts: report.counts }, 'reconciled');
  },
};

/** The schedule: every tenant's report is recomputed. */
export const reconcileAllJob: JobDefinition = {
  name: 'reconcile.all',
  maxAttempts: 3,
  async run({ deps }) {
    const now = isoNow(deps.clock);
    for (const t of await deps.db('tenants').select('id'))
      await enqueue(deps.db, 'reconcile.tenant', { tenantId: t.id }, now, {
        tenantId: t.id,
        queueKey: `reconcile.tenant:${t.id}`,
      });
  },
};

export function reconcileSchedule(seconds: number): RecurringJob | null {
  return seconds > 0 ? { name: 'reconcile.all', everyMs: seconds * 1000 } : null;
}
