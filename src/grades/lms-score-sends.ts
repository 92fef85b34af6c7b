import { inList, listParam, readRows } from '../db/bulk.js';
import type { Trx } from '../db/knex.js';
import { enqueue } from '../jobs/queue.js';

/**
 * Score passback: a grade written in gradebridge for a column that has a line
 * item goes to the platform as an AGS score. One job per grade waits at a
 * time (a newer change rides on the waiting job); the job sends the grade as
 * it is when it runs, stamped with the time it was given, so a platform that
 * holds a newer score keeps it.
 * (The LTI surface runs the job: src/lti/passback.ts.)
 */
export async function enqueueScoreSends(
  trx: Trx,
  tenantId: number,
  pairs: Array<{ columnId: number; userId: number }>,
  now: string,
): Promise<number> {
  if (pairs.length === 0) return 0;
  const linked = new Set<number>();
  // One statement for any number of columns (a prepared one on SQLite): this runs with every batch of grades.
  const rows = await readRows<{ local_id: number }>(
    trx,
    `select local_id from external_ids where tenant_id = ? and kind = 'lineitem' and local_id ${inList(trx, 'int')}`,
    [tenantId, listParam(trx, [...new Set(pairs.map((p) => p.columnId))])],
  );
  for (const r of rows) linked.add(r.local_id);
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
