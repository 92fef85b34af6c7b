import type { Executor } from '../db/knex.js';
import { enqueue } from '../jobs/queue.js';
import { chunk } from './grade-batch.js';

/**
 * Score passback: a grade written in gradebridge for a column that has a line
 * item goes to the platform as an AGS score. One job per grade waits at a
 * time (a newer change rides on the waiting job); the job sends the grade as
 * it is when it runs, stamped with the time it was given, so a platform that
 * holds a newer score keeps it.
 * (The LTI surface runs the job: src/lti/passback.ts.)
 */
export async function enqueueScoreSends(
  trx: Executor,
  tenantId: number,
  pairs: Array<{ columnId: number; userId: number }>,
  now: string,
): Promise<number> {
  if (pairs.length === 0) return 0;
  const linked = new Set<number>();
  for (const part of chunk([...new Set(pairs.map((p) => p.columnId))], 500)) {
    const rows = await trx('external_ids')
      .where({ tenant_id: tenantId, kind: 'lineitem' })
      .whereIn('local_id', part)
      .select('local_id');
    for (const r of rows) linked.add(r.local_id);
  }
  let queued = 0;
  const seen = new Set<string>();
  for (const { columnId, userId } of pairs) {
    const key = `lti.score:${columnId}:${userId}`;
    if (!linked.has(columnId) || seen.has(key)) continue;
    seen.add(key);
    const id = await enqueue(trx, 'lti.score', { columnId, userId }, now, {
      tenantId,
      queueKey: key,
      maxAttempts: 8,
    });
    if (id !== null) queued++;
  }
  return queued;
}
