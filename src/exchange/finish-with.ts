import type { AppDeps } from '../deps.js';
import { MAX_STORED_TEXT, storableText } from '../db/text.js';
import { isoNow } from '../db/time.js';
import { inTransaction } from '../db/transaction.js';

/**
 * Ends an exchange without (all of) its data: it and its pending items carry
 * the code and message. Both may echo what Data Sync or an error said (ids,
 * names, details), so they are stored as storable text.
 */
export async function finishWith(
  deps: AppDeps,
  exchangeId: number,
  state: 'failed' | 'refused',
  errorCode: string,
  errorMessage: string,
): Promise<void> {
  const code = storableText(errorCode, 64);
  const message = storableText(errorMessage, MAX_STORED_TEXT);
  await inTransaction(deps.db, async (trx) => {
    const now = isoNow(deps.clock);
    await trx('exchanges').where({ id: exchangeId }).update({
      state,
      error_code: code,
      error_message: message,
      completed_at: now,
      updated_at: now,
    });
    await trx('exchange_items')
      .where({ exchange_id: exchangeId, status: 'pending' })
      .update({ status: 'failed', error_code: code, error_message: message, updated_at: now });
    await trx('exchange_sends')
      .where({ exchange_id: exchangeId, status: 'pending' })
      .update({ status: 'failed', error_code: code, error_message: message, updated_at: now });
  });
}
