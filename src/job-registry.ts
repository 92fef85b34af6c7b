import type { AppDeps } from './deps.js';
import { ltiCleanupJob, ltiCleanupSchedule, pullJob, scoreJob } from './lti/jobs.js';
import { exportCleanupJob, exportCleanupSchedule, exportJob } from './progress/exports.js';
import type { Config } from '../config/index.js';
import { webhookEventJob } from './webhooks/events.js';
import { secretCleanupJob, secretCleanupSchedule } from './webhooks/rotate-secret.js';
import { discoverJob, exchangeJob, pollJob, pollSchedule, requestJob } from './exchange/jobs.js';
import { reconcileAllJob, reconcileSchedule, reconcileTenantJob } from './reconcile/service.js';
import { JobWorker, type JobDefinition, type RecurringJob } from './jobs/worker.js';

/**
 * Every job the service runs, and every recurring one, in one place. The
 * queue and the worker (src/jobs/) know no job; each job lives in its
 * surface's folder and is listed here.
 */
export function jobDefinitions(): JobDefinition[] {
  return [
    exportJob,
    exportCleanupJob,
    pullJob,
    scoreJob,
    ltiCleanupJob,
    exchangeJob,
    discoverJob,
    pollJob,
    requestJob,
    webhookEventJob,
    secretCleanupJob,
    reconcileAllJob,
    reconcileTenantJob,
  ];
}

export function recurringJobs(config: Config): RecurringJob[] {
  const poll = pollSchedule(config.DATASYNC_POLL_SECONDS);
  const reconcile = reconcileSchedule(config.RECONCILE_EVERY_SECONDS);
  return [
    exportCleanupSchedule,
    ltiCleanupSchedule,
    secretCleanupSchedule,
    ...(poll ? [poll] : []),
    ...(reconcile ? [reconcile] : []),
  ];
}

export function createWorker(deps: AppDeps, overrides: { id?: string } = {}): JobWorker {
  return new JobWorker(deps, jobDefinitions(), recurringJobs(deps.config), {
    concurrency: deps.config.JOBS_CONCURRENCY,
    pollMs: deps.config.JOBS_POLL_MS,
    leaseMs: deps.config.JOBS_LEASE_MS,
    ...overrides,
  });
}
