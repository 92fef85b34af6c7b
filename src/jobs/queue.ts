import { dbClient, type Executor } from '../db/knex.js';
import { parseJson } from '../db/json.js';
import { MAX_STORED_TEXT, storableText } from '../db/text.js';

/** Why a job whose lease ran out after its last attempt is dead rather than run again. */
export const LAST_ATTEMPT_LOST =
  'its last attempt did not finish (the worker stopped, or could not record how it ended)';

export interface EnqueueOptions {
  tenantId?: number | null;
  /** When the job may run first (ISO); now by default. */
  runAt?: string;
  priority?: number;
  maxAttempts?: number;
  /** At most one job with this key, ever: a second enqueue with it is a no-op. */
  dedupeKey?: string;
  /** At most one *queued* job with this key: enqueueing again while one waits is a no-op; the key is released when the job starts. */
  queueKey?: string;
}

/**
 * Writes a job row. Call it with the transaction of the change that causes
 * the job, so the job exists exactly when the change does. Returns the job id,
 * or null when a job with the same dedupe key already exists.
 */
export async function enqueue(
  db: Executor,
  name: string,
  payload: Record<string, unknown>,
  now: string,
  options: EnqueueOptions = {},
): Promise<number | null> {
  const query = db('jobs')
    .insert({
      tenant_id: options.tenantId ?? null,
      name,
      payload: JSON.stringify(payload),
      state: 'queued',
      priority: options.priority ?? 0,
      attempts: 0,
      max_attempts: options.maxAttempts ?? 10,
      run_at: options.runAt ?? now,
      dedupe_key: options.dedupeKey ?? null,
      queue_key: options.queueKey ?? null,
      created_at: now,
      updated_at: now,
    })
    .returning('id');
  const conflict = options.dedupeKey ? 'dedupe_key' : options.queueKey ? 'queue_key' : null;
  const rows = (conflict ? await query.onConflict(conflict).ignore() : await query) as Array<{
    id: number;
  }>;
  return rows[0]?.id ?? null;
}

export interface ClaimedJob {
  id: number;
  name: string;
  tenantId: number | null;
  payload: Record<string, unknown>;
  /** This attempt's number, from 1. */
  attempt: number;
  maxAttempts: number;
}

/**
 * Claims up to `limit` jobs that are due, or whose previous worker's lease ran
 * out with attempts left (endExhaustedJobs ends the others), for `leaseMs`. On PostgreSQL the candidates are locked with FOR UPDATE
 * SKIP LOCKED, so workers on several machines never claim the same job; on
 * SQLite the single writer makes the update atomic. Each claim opens an
 * attempt record; a previous attempt left open is closed as lost.
 */
export async function claimJobs(
  db: Executor,
  worker: string,
  limit: number,
  leaseMs: number,
  now: string,
): Promise<ClaimedJob[]> {
  const until = new Date(Date.parse(now) + leaseMs).toISOString();
  const skipLocked = dbClient(db) === 'postgres' ? ' for update skip locked' : '';
  const candidates = `select id from jobs
     where (state = 'queued' and run_at <= ?)
        or (state = 'running' and locked_until < ? and attempts < max_attempts)
     order by priority desc, run_at, id limit ?${skipLocked}`;
  const result = await db.raw(
    `update jobs set state = 'running', attempts = attempts + 1, locked_by = ?, locked_until = ?, updated_at = ?, queue_key = null
      where id in (${candidates})
      returning id, name, tenant_id, payload, attempts, max_attempts`,
    [worker, until, now, now, now, limit],
  );
  const rows = (Array.isArray(result) ? result : result.rows) as Array<{
    id: number;
    name: string;
    tenant_id: number | null;
    payload: string;
    attempts: number;
    max_attempts: number;
  }>;
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.id);
  await db('job_attempts')
    .whereIn('job_id', ids)
    .whereNull('finished_at')
    .update({ finished_at: now, outcome: 'lost', error: 'the worker stopped before finishing' });
  await db('job_attempts').insert(
    rows.map((r) => ({ job_id: r.id, attempt: r.attempts, worker, started_at: now })),
  );
  return rows
    .map((r) => ({
      id: r.id,
      name: r.name,
      tenantId: r.tenant_id,
      payload: parseJson<Record<string, unknown>>(r.payload) ?? {},
      attempt: r.attempts,
      maxAttempts: r.max_attempts,
    }))
    .sort((a, b) => a.id - b.id);
}

/**
 * A job whose lease ran out after its last attempt is dead: it is not run
 * again, so a job that ends its worker (or whose end could not be recorded)
 * cannot do so for ever. Its open attempt is closed as lost.
 */
export async function endExhaustedJobs(db: Executor, now: string): Promise<number> {
  const ended = (await db('jobs')
    .where({ state: 'running' })
    .where('locked_until', '<', now)
    .whereRaw('attempts >= max_attempts')
    .update({
      state: 'dead',
      locked_by: null,
      locked_until: null,
      last_error: LAST_ATTEMPT_LOST,
      finished_at: now,
      updated_at: now,
    })
    .returning('id')) as Array<{ id: number }>;
  if (ended.length === 0) return 0;
  await db('job_attempts')
    .whereIn(
      'job_id',
      ended.map((r) => r.id),
    )
    .whereNull('finished_at')
    .update({ finished_at: now, outcome: 'lost', error: LAST_ATTEMPT_LOST });
  return ended.length;
}

async function closeAttempt(
  db: Executor,
  job: ClaimedJob,
  now: string,
  outcome: string,
  error: string | null,
) {
  await db('job_attempts')
    .where({ job_id: job.id, attempt: job.attempt })
    .whereNull('finished_at')
    .update({ finished_at: now, outcome, error });
}

/** Marks a job done, if this worker still holds it. Returns false when the lease was lost meanwhile. */
export async function completeJob(
  db: Executor,
  job: ClaimedJob,
  worker: string,
  now: string,
): Promise<boolean> {
  return db.transaction(async (trx) => {
    const n = await trx('jobs')
      .where({ id: job.id, state: 'running', locked_by: worker, attempts: job.attempt })
      .update({
        state: 'done',
        locked_by: null,
        locked_until: null,
        finished_at: now,
        updated_at: now,
        last_error: null,
      });
    await closeAttempt(trx, job, now, 'succeeded', null);
    return n > 0;
  });
}

/**
 * Records a failed attempt: the job runs again at `retryAt`, or becomes dead
 * when it has used its attempts (or `retryAt` is null). A retry that was asked
 * for (`countsAsAttempt` false, e.g. a rate limit) gives the attempt back.
 * The error is stored as storable text (no NUL, no lone surrogate, capped);
 * the job and its attempt are written together or not at all.
 */
export async function failJob(
  db: Executor,
  job: ClaimedJob,
  worker: string,
  error: string,
  now: string,
  retryAt: string | null,
  countsAsAttempt = true,
): Promise<'retry' | 'dead'> {
  const dead = retryAt === null || (countsAsAttempt && job.attempt >= job.maxAttempts);
  const text = storableText(error, MAX_STORED_TEXT);
  await db.transaction(async (trx) => {
    await trx('jobs')
      .where({ id: job.id, locked_by: worker, attempts: job.attempt })
      .update({
        state: dead ? 'dead' : 'queued',
        run_at: dead ? now : retryAt,
        attempts: countsAsAttempt ? job.attempt : job.attempt - 1,
        locked_by: null,
        locked_until: null,
        last_error: text,
        finished_at: dead ? now : null,
        updated_at: now,
      });
    await closeAttempt(trx, job, now, countsAsAttempt ? 'failed' : 'retry', text);
  });
  return dead ? 'dead' : 'retry';
}

/** Extends the lease of a job still held by this worker (a heartbeat for long jobs). */
export async function extendLease(
  db: Executor,
  job: ClaimedJob,
  worker: string,
  until: string,
): Promise<boolean> {
  const n = await db('jobs')
    .where({ id: job.id, state: 'running', locked_by: worker })
    .update({ locked_until: until });
  return n > 0;
}

/** Puts dead jobs back in the queue with fresh attempts (an operator's retry). */
export async function retryDeadJobs(
  db: Executor,
  now: string,
  filter: { name?: string; ids?: number[] } = {},
): Promise<number> {
  const query = db('jobs').where({ state: 'dead' });
  if (filter.name) query.where({ name: filter.name });
  if (filter.ids) query.whereIn('id', filter.ids);
  return query.update({
    state: 'queued',
    attempts: 0,
    run_at: now,
    finished_at: null,
    updated_at: now,
  });
}
