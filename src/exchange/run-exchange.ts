import type { AppDeps } from '../deps.js';
import { RetryLater } from '../jobs/worker.js';
import type { Logger } from '../logger.js';
import { keepArtifacts } from './keep-artifacts.js';
import { planExchange } from './plan-exchange.js';
import { RunLock } from './run-lock.js';
import { uploadChunks } from './upload-chunks.js';

/** Where answering an exchange got to: its state, what was sent, and the error it ended with. */
export interface ExchangeOutcome {
  exchangeId: number;
  remoteId: string;
  state: string;
  chunks: number;
  chunksResent: number;
  itemsSent: number;
  errorCode: string | null;
  errorMessage: string | null;
}

const DONE = new Set(['completed', 'failed', 'refused']);

/**
 * Answers one exchange, to the end: plans it once (what to send, split into
 * chunks no larger than max_data_content_length, stored with the exchange),
 * then uploads the chunks in order, each marked before it is sent and after
 * it was accepted, so a job that dies and runs again resends at most the
 * chunk that was in flight (and counts it). A query gradebridge cannot serve
 * gets an error posted instead. When the last chunk is accepted, every item
 * in the exchange is marked sent, and the details and consumer-log artifacts
 * are kept (gzipped, as Data Sync serves them).
 */
export async function runExchange(
  deps: AppDeps,
  exchangeId: number,
  log: Logger,
): Promise<ExchangeOutcome> {
  let row = await deps.db('exchanges').where({ id: exchangeId }).first();
  if (!row) throw new Error(`exchange ${exchangeId} does not exist`);
  const conn = (await deps.exchange.connectionById(deps.db, row.connection_id))!;
  const client = deps.exchange.client(conn);
  if (DONE.has(row.state) && row.state !== 'completed') return outcome(row);
  // One runner per exchange (a worker, or the command line): the others wait.
  const lock = new RunLock(deps, exchangeId);
  if (!(await lock.acquire()))
    throw new RetryLater(2000, `exchange ${exchangeId} is being answered by another runner`);
  try {
    if (!DONE.has(row.state) && row.chunks_total === null) {
      await planExchange(deps, row, conn, client, log);
      row = await deps.db('exchanges').where({ id: exchangeId }).first();
    }
    if (row.state === 'sending') {
      await uploadChunks(deps, row, client, log, lock);
      row = await deps.db('exchanges').where({ id: exchangeId }).first();
    }
    if (row.state === 'completed') await keepArtifacts(deps, row, client, log);
  } finally {
    await lock.release();
  }
  return outcome(row);
}

function outcome(row: Record<string, unknown>): ExchangeOutcome {
  return {
    exchangeId: row.id as number,
    remoteId: row.remote_id as string,
    state: row.state as string,
    chunks: (row.chunks_total as number | null) ?? 0,
    chunksResent: row.chunks_resent as number,
    itemsSent: row.items_sent as number,
    errorCode: (row.error_code as string | null) ?? null,
    errorMessage: (row.error_message as string | null) ?? null,
  };
}
