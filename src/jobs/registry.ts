import type { AppDeps } from '../deps.js';
import { ltiCleanupJob, ltiCleanupSchedule, pullJob, scoreJob } from '../lti/jobs.js';
import { exportCleanupJob, exportCleanupSchedule, exportJob } from '../progress/exports.js';
import { JobWorker, type JobDefinition, type RecurringJob } from './worker.js';

/** Every job the service runs, and every recurring one, in one place. */
export function jobDefinitions(): JobDefinition[] {
  return [exportJob, exportCleanupJob, pullJob, scoreJob, ltiCleanupJob];
}

export function recurringJobs(): RecurringJob[] {
  return [exportCleanupSchedule, ltiCleanupSchedule];
}

export function createWorker(deps: AppDeps, overrides: { id?: string } = {}): JobWorker {
  return new JobWorker(deps, jobDefinitions(), recurringJobs(), {
    concurrency: deps.config.JOBS_CONCURRENCY,
    pollMs: deps.config.JOBS_POLL_MS,
    leaseMs: deps.config.JOBS_LEASE_MS,
    ...overrides,
  });
}
