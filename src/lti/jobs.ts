import type { JobDefinition, RecurringJob } from '../jobs/worker.js';
import { pullAndRecord } from './services.js';

export { scoreJob } from './passback.js';

/** A pull of one LMS context (roster, line items, results), queued from the course page or by the command line. */
export const pullJob: JobDefinition = {
  name: 'lti.pull',
  maxAttempts: 3,
  async run({ deps, job }) {
    await pullAndRecord(deps, job.payload.ltiContextId as number);
  },
};

const HOUR = 3600_000;

/** Expires what ltijs and the login flow leave behind (MongoDB would expire these with TTL indexes). */
export const ltiCleanupJob: JobDefinition = {
  name: 'lti.cleanup',
  maxAttempts: 3,
  async run({ deps }) {
    const ago = (ms: number) => new Date(deps.clock.now() - ms).toISOString();
    await deps.db('lti_logins').where('expires_at', '<', ago(HOUR)).delete();
    await deps
      .db('lti_nonces')
      .where('created_at', '<', ago(24 * HOUR))
      .delete();
    await deps.db('lti_states').where('created_at', '<', ago(HOUR)).delete();
    await deps
      .db('lti_idtokens')
      .where('created_at', '<', ago(24 * HOUR))
      .delete();
    await deps
      .db('lti_contexttokens')
      .where('created_at', '<', ago(24 * HOUR))
      .delete();
    await deps
      .db('lti_access_tokens')
      .where('created_at', '<', ago(24 * HOUR))
      .delete();
  },
};

export const ltiCleanupSchedule: RecurringJob = { name: 'lti.cleanup', everyMs: 15 * 60_000 };
