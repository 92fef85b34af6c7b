import { gunzipSync } from 'node:zlib';
import type { Trx } from '../db/knex.js';
import { MAX_STORED_TEXT, storableText } from '../db/text.js';
import type { Logger } from '../logger.js';

/**
 * What the SIS did with each score and summary, from the details artifact:
 * a `synced` entry is accepted, a `failed` one refused (the item goes again
 * next time); one the artifact does not mention stays unknown.
 */
export async function applyDetails(
  trx: Trx,
  exchangeId: number,
  gz: Buffer,
  now: string,
  log: Logger,
): Promise<void> {
  let details: unknown;
  try {
    details = JSON.parse(gunzipSync(gz).toString('utf8'));
  } catch (err) {
    log.warn({ err, exchangeId }, 'the details artifact is not gzipped JSON');
    return;
  }
  for (const a of outcomes(details, 'synced')) {
    if (a.userId === null) continue;
    const sends = trx('exchange_sends').where({ exchange_id: exchangeId, user_id: a.userId });
    if (!a.summary && a.assignmentId !== null)
      sends.where({ column_id: a.assignmentId, kind: 'score' });
    else if (a.summary) sends.where({ kind: 'summary' });
    else continue;
    await sends.update({ sis_outcome: 'accepted', outcome_at: now, updated_at: now });
  }
  for (const f of outcomes(details, 'failed')) {
    const key = f.summary
      ? null
      : f.assignmentId !== null && f.userId !== null
        ? `s:${f.assignmentId}:${f.userId}`
        : null;
    const q = trx('exchange_items').where({ exchange_id: exchangeId });
    if (key) q.where({ item_key: key });
    else if (f.userId !== null) q.where({ kind: 'summary', user_id: f.userId });
    else continue;
    const message = f.message ?? `the consumer could not take it (${f.code})`;
    const n = await q.update({
      status: 'failed',
      sent_hash: null,
      error_code: f.code,
      error_message: message,
      updated_at: now,
    });
    if (n > 0) {
      const sends = trx('exchange_sends').where({ exchange_id: exchangeId, user_id: f.userId! });
      if (!f.summary && f.assignmentId !== null)
        sends.where({ column_id: f.assignmentId, kind: 'score' });
      else sends.where({ kind: 'summary' });
      await sends.update({
        status: 'failed',
        sis_outcome: 'refused',
        outcome_at: now,
        error_code: f.code,
        error_message: message,
        updated_at: now,
      });
    }
  }
}

interface Failure {
  summary: boolean;
  assignmentId: number | null;
  userId: number | null;
  code: string;
  message: string | null;
}

const gradebridgeId = (v: unknown): number | null => {
  const sys = (v as { $sys?: { app_id?: Record<string, unknown> } } | undefined)?.$sys;
  const id = Number(sys?.app_id?.gradebridge_id);
  return Number.isInteger(id) && id > 0 ? id : null;
};

/** Walks a details document for entries with this `sync_status`, wherever they sit. */
function outcomes(
  doc: unknown,
  status: 'synced' | 'failed',
  assignmentId: number | null = null,
  out: Failure[] = [],
): Failure[] {
  if (Array.isArray(doc)) {
    for (const d of doc) outcomes(d, status, assignmentId, out);
    return out;
  }
  if (!doc || typeof doc !== 'object') return out;
  const o = doc as Record<string, unknown>;
  const here = o.scores !== undefined ? (gradebridgeId(o) ?? assignmentId) : assignmentId;
  if (o.sync_status === status && o.$person) {
    const assignment = o.$assignment ? gradebridgeId(o.$assignment) : here;
    out.push({
      summary: o.summary_type !== undefined,
      assignmentId: assignment,
      userId: gradebridgeId(o.$person),
      // Data Sync's words, stored with the item: kept to storable text.
      code: storableText(String(o.error_code ?? 'failed'), 64),
      message:
        typeof o.error_message === 'string'
          ? storableText(o.error_message, MAX_STORED_TEXT)
          : typeof o.message === 'string'
            ? storableText(o.message, MAX_STORED_TEXT)
            : null,
    });
  }
  for (const v of Object.values(o)) if (v && typeof v === 'object') outcomes(v, status, here, out);
  return out;
}
