import type { Executor } from '../db/knex.js';
import { enqueue } from '../jobs/queue.js';
import type { ConnectionRow } from './service.js';
import type { Exchange } from './types.js';

/** What found an exchange: a notice, a poll, a teacher, a schedule or the command line. */
export type ExchangeTrigger = 'notice' | 'poll' | 'teacher' | 'schedule' | 'cli';

/**
 * Records an exchange Data Sync is waiting on, and queues the job that
 * answers it, in the caller's transaction. An exchange already known is left
 * alone (a notice and a poll may both report it). Returns the row id, or null
 * when it was known.
 */
export async function registerExchange(
  trx: Executor,
  conn: ConnectionRow,
  remote: Exchange,
  trigger: ExchangeTrigger,
  now: string,
  requestedBy: number | null = null,
): Promise<number | null> {
  const rows = (await trx('exchanges')
    .insert({
      tenant_id: conn.tenant_id,
      connection_id: conn.id,
      remote_id: remote.id,
      state: 'queued',
      trigger,
      query: JSON.stringify(remote.query ?? {}),
      max_data_content_length: Number(remote.max_data_content_length) || 0,
      course_app_id: remote.course_app_id ?? null,
      requested_by: requestedBy,
      created_at: now,
      updated_at: now,
    })
    .onConflict(['connection_id', 'remote_id'])
    .ignore()
    .returning('id')) as Array<{ id: number }>;
  const id = rows[0]?.id ?? null;
  if (id !== null) {
    await enqueue(trx, 'datasync.exchange', { exchangeId: id }, now, {
      tenantId: conn.tenant_id,
      queueKey: `datasync.exchange:${id}`,
      maxAttempts: 25,
    });
  }
  return id;
}
