import type { Trx } from '../db/knex.js';
import { enqueueScoreSends } from '../lti/passback.js';
import type { GradeSource } from './grade-batch.js';

/**
 * What must follow a grade change outside gradebridge, enqueued in the same
 * transaction as the change: grades for columns with an LMS line item go back
 * to the LMS as scores (except grades that came from the LMS itself).
 */
export async function afterGradeChanges(
  trx: Trx,
  tenantId: number,
  changes: Array<{ columnId: number; userId: number; source: GradeSource }>,
  now: string,
): Promise<void> {
  await enqueueScoreSends(
    trx,
    tenantId,
    changes.filter((c) => c.source !== 'ags'),
    now,
  );
}
