import { randomUUID } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import type { AppDeps } from '../deps.js';
import type { Executor, Trx } from '../db/knex.js';
import { isoNow } from '../db/time.js';
import { lockTenant } from '../db/locks.js';
import { insertRows } from '../db/bulk.js';
import { inTransaction } from '../db/transaction.js';
import { enqueue } from '../jobs/queue.js';
import { MAX_STORED_TEXT, storableText } from '../db/text.js';
import { RetryLater } from '../jobs/worker.js';
import type { Logger } from '../logger.js';
import { ExchangeApiError, ExchangeUnavailableError, type ExchangeClient } from './client.js';
import { buildPayload, chunkPayload, type PlannedChunk } from './payload.js';
import { QueryProblem, readQuery } from './scope.js';
import type { ConnectionRow } from './service.js';
import type { Exchange } from './types.js';

export type ExchangeTrigger = 'notice' | 'poll' | 'teacher' | 'schedule' | 'cli';

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
      await plan(deps, row, conn, client, log);
      row = await deps.db('exchanges').where({ id: exchangeId }).first();
    }
    if (row.state === 'sending') {
      await upload(deps, row, client, log, lock);
      row = await deps.db('exchanges').where({ id: exchangeId }).first();
    }
    if (row.state === 'completed') await keepArtifacts(deps, row, client, log);
  } finally {
    await lock.release();
  }
  return outcome(row);
}

/** An exchange's run lock: a row-level lease, renewed before every upload. */
class RunLock {
  private readonly owner = randomUUID();
  constructor(
    private readonly deps: AppDeps,
    private readonly exchangeId: number,
  ) {}

  private get leaseMs(): number {
    return Math.max(this.deps.config.JOBS_LEASE_MS, this.deps.config.DATASYNC_TIMEOUT_MS * 2);
  }

  async acquire(): Promise<boolean> {
    const now = this.deps.clock.now();
    const taken = await this.deps
      .db('exchanges')
      .where({ id: this.exchangeId })
      .where((q) =>
        q
          .whereNull('locked_until')
          .orWhere('locked_until', '<', new Date(now).toISOString())
          .orWhere('locked_by', this.owner),
      )
      .update({ locked_by: this.owner, locked_until: new Date(now + this.leaseMs).toISOString() });
    return taken === 1;
  }

  /** Renews the lease; false when another runner took the exchange over meanwhile. */
  async renew(): Promise<boolean> {
    const taken = await this.deps
      .db('exchanges')
      .where({ id: this.exchangeId, locked_by: this.owner })
      .update({ locked_until: new Date(this.deps.clock.now() + this.leaseMs).toISOString() });
    return taken === 1;
  }

  async release(): Promise<void> {
    await this.deps
      .db('exchanges')
      .where({ id: this.exchangeId, locked_by: this.owner })
      .update({ locked_by: null, locked_until: null });
  }
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

async function plan(
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

async function upload(
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

/**
 * Keeps the exchange's artifacts as Data Sync serves them (gzipped JSON), and
 * applies what the details say failed at the consumer to those items, so
 * they are sent again with the next exchange.
 */
async function keepArtifacts(
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

/** Items the details artifact reports as failed at the consumer. */
async function applyDetails(
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
  for (const f of failures(details)) {
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

/** Walks a details document for entries with `sync_status: "failed"`, wherever they sit. */
function failures(
  doc: unknown,
  assignmentId: number | null = null,
  out: Failure[] = [],
): Failure[] {
  if (Array.isArray(doc)) {
    for (const d of doc) failures(d, assignmentId, out);
    return out;
  }
  if (!doc || typeof doc !== 'object') return out;
  const o = doc as Record<string, unknown>;
  const here = o.scores !== undefined ? (gradebridgeId(o) ?? assignmentId) : assignmentId;
  if (o.sync_status === 'failed' && o.$person) {
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
  for (const v of Object.values(o)) if (v && typeof v === 'object') failures(v, here, out);
  return out;
}
