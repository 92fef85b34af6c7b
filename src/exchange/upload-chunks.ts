import type { AppDeps } from '../deps.js';
import type { Trx } from '../db/knex.js';
import { isoNow } from '../db/time.js';
import { RetryLater } from '../jobs/worker.js';
import type { Logger } from '../logger.js';
import { ExchangeApiError, ExchangeUnavailableError, type ExchangeClient } from './client.js';
import { finishWith } from './finish-with.js';
import type { RunLock } from './run-lock.js';

/**
 * Uploads a planned exchange's chunks in order, each marked before it is sent
 * and once it is accepted; a chunk sent again after an upload got no answer
 * is counted. An upload Data Sync refuses ends the exchange with its error.
 */
export async function uploadChunks(
  deps: AppDeps,
  row: Record<string, unknown>,
  client: ExchangeClient,
  log: Logger,
  lock: RunLock,
): Promise<void> {
  const exchangeId = row.id as number;
  const remoteId = row.remote_id as string;
  const chunks = await deps
    .db('exchange_chunks')
    .where({ exchange_id: exchangeId })
    .whereNot('state', 'accepted')
    .orderBy('seq')
    .select('id', 'seq', 'body', 'state', 'final', 'items');
  for (const chunk of chunks) {
    let uncertain = chunk.state === 'sending';
    let failures = 0;
    for (;;) {
      if (!(await lock.renew()))
        throw new RetryLater(2000, `exchange ${exchangeId} was taken over by another runner`);
      if (uncertain && chunk.final && (await client.getExchange(remoteId))?.state === 'completed') {
        // The last upload had arrived: Data Sync completed the exchange.
        break;
      }
      const now = isoNow(deps.clock);
      // A chunk whose earlier upload got no answer may have arrived: sending it again is counted.
      await deps.db.transaction(async (trx) => {
        await trx('exchange_chunks')
          .where({ id: chunk.id })
          .update({ state: 'sending', attempts: trx.raw('attempts + 1') });
        if (uncertain) {
          await trx('exchanges')
            .where({ id: exchangeId })
            .update({ chunks_resent: trx.raw('chunks_resent + 1'), updated_at: now });
        }
      });
      if (uncertain)
        log.warn(
          { exchange: remoteId, chunk: chunk.seq },
          'chunk sent again; it may have arrived before',
        );
      try {
        await client.postData(remoteId, chunk.body);
        break;
      } catch (err) {
        if (err instanceof ExchangeApiError) {
          if (chunk.final && (await client.getExchange(remoteId))?.state === 'completed') break;
          await rejectChunk(deps, exchangeId, remoteId, chunk.id as number, client, err, log);
          return;
        }
        if (err instanceof ExchangeUnavailableError && !err.unanswered && !uncertain) {
          // Never sent (no token, throttled too long): the chunk did not arrive; the job tries again later.
          await deps.db('exchange_chunks').where({ id: chunk.id }).update({ state: 'planned' });
          throw err;
        }
        if (!(err instanceof ExchangeUnavailableError)) throw err;
        uncertain = true;
        if (++failures > deps.config.DATASYNC_RETRIES) throw err;
        await new Promise((resolve) =>
          setTimeout(resolve, Math.min(30_000, 250 * 2 ** (failures - 1))),
        );
      }
    }
    await deps.db.transaction(async (trx) => {
      const now = isoNow(deps.clock);
      await trx('exchange_chunks')
        .where({ id: chunk.id })
        .update({ state: 'accepted', sent_at: now });
      await trx('exchanges')
        .where({ id: exchangeId })
        .update({
          chunks_sent: trx.raw('chunks_sent + 1'),
          items_sent: trx.raw('items_sent + ?', [chunk.items]),
          updated_at: now,
        });
      if (chunk.final) await complete(trx, exchangeId, now);
    });
  }
}

/** The last chunk was accepted: the exchange is done and everything in it was sent. */
async function complete(trx: Trx, exchangeId: number, now: string): Promise<void> {
  await trx('exchanges')
    .where({ id: exchangeId })
    .update({ state: 'completed', completed_at: now, updated_at: now });
  await trx('exchange_items')
    .where({ exchange_id: exchangeId, status: 'pending' })
    .update({ status: 'sent', sent_hash: trx.ref('pending_hash'), sent_at: now, updated_at: now });
  await trx('exchange_sends')
    .where({ exchange_id: exchangeId, status: 'pending' })
    .update({ status: 'sent', updated_at: now });
}

async function rejectChunk(
  deps: AppDeps,
  exchangeId: number,
  remoteId: string,
  chunkId: number,
  client: ExchangeClient,
  err: ExchangeApiError,
  log: Logger,
): Promise<void> {
  const message = `Data Sync refused an upload: ${err.status} ${err.body.slice(0, 500)}`;
  log.error({ exchange: remoteId, status: err.status }, 'chunk refused');
  await deps.db('exchange_chunks').where({ id: chunkId }).update({ state: 'rejected' });
  if (err.status !== 404) {
    await client.createError(remoteId, 'producer_failure', message).catch((e: unknown) => {
      log.warn({ err: e, exchange: remoteId }, 'could not post the error to Data Sync');
    });
  }
  await finishWith(deps, exchangeId, 'failed', 'producer_failure', message);
}
