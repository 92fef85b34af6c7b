import type { AppDeps } from '../deps.js';
import { insertRows } from '../db/bulk.js';
import type { Trx } from '../db/knex.js';
import { lockTenant } from '../db/locks.js';
import { isoNow } from '../db/time.js';
import { inTransaction } from '../db/transaction.js';
import { RetryLater } from '../jobs/worker.js';
import type { Logger } from '../logger.js';
import type { ExchangeClient } from './client.js';
import { finishWith } from './finish-with.js';
import { buildPayload, chunkPayload, type PlannedChunk } from './payload.js';
import { QueryProblem, readQuery } from './scope.js';
import type { ConnectionRow } from './service.js';

/**
 * Plans an exchange once: checks it still waits in Data Sync, reads its query
 * into courses, builds what to send, splits it into chunks no larger than
 * max_data_content_length and stores the plan with the exchange. A query
 * gradebridge cannot serve gets an error posted instead.
 */
export async function planExchange(
  deps: AppDeps,
  row: Record<string, unknown>,
  conn: ConnectionRow,
  client: ExchangeClient,
  log: Logger,
): Promise<void> {
  const remoteId = row.remote_id as string;
  // The exchange as Data Sync holds it now: it may have been answered or cancelled meanwhile.
  const remote = await client.getExchange(remoteId);
  if (!remote) {
    await finishWith(
      deps,
      row.id as number,
      'failed',
      'producer_failure',
      'Data Sync no longer knows this exchange',
    );
    return;
  }
  if (remote.state === 'failed') {
    // An error was posted (perhaps by a run that died before recording it): keep its code.
    const [posted] = await client.listErrors(remoteId);
    await finishWith(
      deps,
      row.id as number,
      'refused',
      posted?.code ?? 'producer_failure',
      posted?.details ?? posted?.message ?? 'the exchange failed in Data Sync',
    );
    return;
  }
  if (remote.state !== 'created') {
    await finishWith(
      deps,
      row.id as number,
      'failed',
      'producer_failure',
      `the exchange is ${remote.state} in Data Sync, not waiting for data`,
    );
    return;
  }
  const max = Number(remote.max_data_content_length);
  try {
    if (!Number.isFinite(max) || max <= 0)
      throw new QueryProblem(
        'producer_error',
        `max_data_content_length ${String(remote.max_data_content_length)} is not a size`,
      );
    const parts = await readQuery(deps.db, conn.tenant_id, client, remote.query ?? {});
    await inTransaction(deps.db, async (trx) => {
      await lockTenant(trx, conn.tenant_id);
      const courseIds = [...new Set(parts.map((p) => p.courseId))];
      // Exchanges of the same courses go one after another, so a newer grade never arrives before an older one.
      const busy = await trx('exchanges as x')
        .join('exchange_courses as c', 'c.exchange_id', 'x.id')
        .where({ 'x.connection_id': conn.id, 'x.state': 'sending' })
        .whereNot('x.id', row.id as number)
        .whereIn('c.course_id', courseIds)
        .first('x.id');
      if (busy) throw new RetryLater(2000, `exchange ${busy.id} of the same course is being sent`);
      const payload = await buildPayload(trx, conn.id, parts);
      const chunks = chunkPayload(payload, max);
      await savePlan(trx, row, conn, courseIds, chunks, isoNow(deps.clock));
      log.info(
        {
          exchange: remoteId,
          chunks: chunks.length,
          items: chunks.reduce((n, c) => n + c.items.length, 0),
        },
        'exchange planned',
      );
    });
  } catch (err) {
    if (!(err instanceof QueryProblem)) throw err;
    await client.createError(remoteId, err.code, err.message);
    await finishWith(deps, row.id as number, 'refused', err.code, err.message);
    log.info({ exchange: remoteId, code: err.code, reason: err.message }, 'exchange refused');
  }
}

async function savePlan(
  trx: Trx,
  row: Record<string, unknown>,
  conn: ConnectionRow,
  courseIds: number[],
  chunks: PlannedChunk[],
  now: string,
): Promise<void> {
  const exchangeId = row.id as number;
  const items = chunks.flatMap((c) => c.items);
  await insertRows(
    trx,
    'exchange_courses',
    courseIds.map((courseId) => ({ exchange_id: exchangeId, course_id: courseId })),
  );
  await insertRows(
    trx,
    'exchange_chunks',
    chunks.map((c, seq) => ({
      exchange_id: exchangeId,
      seq,
      body: c.body,
      bytes: c.bytes,
      final: c.final,
      items: c.items.filter((i) => i.kind !== 'assignment').length,
      state: 'planned',
      attempts: 0,
    })),
  );
  await insertRows(
    trx,
    'exchange_items',
    items.map((item) => ({
      tenant_id: conn.tenant_id,
      connection_id: conn.id,
      course_id: item.courseId,
      item_key: item.key,
      kind: item.kind,
      column_id: item.columnId,
      user_id: item.userId,
      status: 'pending',
      pending_hash: item.hash,
      exchange_id: exchangeId,
      error_code: null,
      error_message: null,
      updated_at: now,
    })),
    {
      conflict: {
        columns: ['connection_id', 'item_key'],
        merge: [
          'status',
          'pending_hash',
          'exchange_id',
          'error_code',
          'error_message',
          'updated_at',
        ],
      },
    },
  );
  await insertRows(
    trx,
    'exchange_sends',
    items
      .filter((item) => item.kind !== 'assignment')
      .map((item) => ({
        exchange_id: exchangeId,
        column_id: item.columnId,
        user_id: item.userId,
        kind: item.kind,
        version_id: item.versionId,
        score: item.score,
        grade: item.grade,
        status: 'pending',
        created_at: now,
        updated_at: now,
      })),
  );
  await trx('exchanges')
    .where({ id: exchangeId })
    .update({ state: 'sending', chunks_total: chunks.length, updated_at: now });
}
