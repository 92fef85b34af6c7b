import type { JobDefinition, RecurringJob } from '../jobs/worker.js';
import { pullAndRecord } from './services.js';

export { scoreJob } from './passback.js';

/** A pull of one LMS context (roster, line items, results), queued from the course page or by the command line. */
export const pullJob: JobDefinition = {
  name: 'lti.pull',
  maxAttempts: 3,
  async run({ deps, job, log }) {
    await pullAndRecord(deps, job.payload.ltiContextId as number, log);
  },
};

const HOUR = 3600_000;

/** Each table ltijs and the login flow fill, the time column that ages a row, and how old a row may get. */
const CLEANUP: Array<[table: string, column: string, maxAgeMs: number]> = [
  ['lti_logins', 'expires_at', HOUR],
  ['lti_nonces', 'created_at', 24 * HOUR],
  ['lti_states', 'created_at', HOUR],
  ['lti_idtokens', 'created_at', 24 * HOUR],
  ['lti_contexttokens', 'created_at', 24 * HOUR],
  ['lti_access_tokens', 'created_at', 24 * HOUR],
];

/** Expires what ltijs and the login flow leave behind (MongoDB would expire these with TTL indexes). */
export const ltiCleanupJob: JobDefinition = {
  name: 'lti.cleanup',
  maxAttempts: 3,
  async run({ deps }) {
    for (const [table, column, maxAgeMs] of CLEANUP) {
      const before = new Date(deps.clock.now() - maxAgeMs).toISOString();
      await deps.db(table).where(column, '<', before).delete();
    }
  },
};

export const ltiCleanupSchedule: RecurringJob = { name: 'lti.cleanup', everyMs: 15 * 60_000 };
