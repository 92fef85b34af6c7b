import type { AppDeps } from '../deps.js';
import { isoNow } from '../db/time.js';
import { inTransaction } from '../db/transaction.js';
import type { Logger } from '../logger.js';
import { applyDetails } from './apply-details.js';
import type { ExchangeClient } from './client.js';

/**
 * Keeps the exchange's artifacts as Data Sync serves them (gzipped JSON), and
 * applies what the details say failed at the consumer to those items, so
 * they are sent again with the next exchange.
 */
export async function keepArtifacts(
  deps: AppDeps,
  row: Record<string, unknown>,
  client: ExchangeClient,
  log: Logger,
): Promise<void> {
  const exchangeId = row.id as number;
  const have = new Set(
    (await deps.db('exchange_artifacts').where({ exchange_id: exchangeId }).select('kind')).map(
      (r) => r.kind as string,
    ),
  );
  for (const kind of ['details', 'consumerlogs'] as const) {
    if (have.has(kind)) continue;
    const gz =
      kind === 'details'
        ? await client.details(row.remote_id as string)
        : await client.consumerLogs(row.remote_id as string);
    if (!gz) continue;
    await inTransaction(deps.db, async (trx) => {
      const now = isoNow(deps.clock);
      await trx('exchange_artifacts').insert({
        exchange_id: exchangeId,
        kind,
        gzipped: gz,
        created_at: now,
      });
      if (kind === 'details') await applyDetails(trx, exchangeId, gz, now, log);
    });
  }
}
