import { randomUUID } from 'node:crypto';
import type { AppDeps } from '../deps.js';
import type { Executor } from '../db/knex.js';
import { isoNow } from '../db/time.js';
import { inTransaction } from '../db/transaction.js';
import { enqueue } from '../jobs/queue.js';
import {
  PermanentFailure,
  RetryLater,
  type JobDefinition,
  type RecurringJob,
} from '../jobs/worker.js';
import type { Logger } from '../logger.js';
import { finishWith } from './finish-with.js';
import { registerExchange, type ExchangeTrigger } from './register-exchange.js';
import { runExchange } from './run-exchange.js';
import type { ConnectionRow } from './service.js';

/**
 * Lists the exchanges Data Sync has waiting (state `created`) for a
 * connection, page by page until Data Sync answers an empty page (its pages
 * are as long as its own maximum page size), and records the ones gradebridge
 * has not seen, each with its job. Returns the new exchanges' row ids.
 */
export async function discoverExchanges(
  deps: AppDeps,
  conn: ConnectionRow,
  trigger: ExchangeTrigger,
): Promise<number[]> {
  const client = deps.exchange.client(conn);
  const found: number[] = [];
  for await (const exchanges of client.exchangePages({ state: 'created' })) {
    await inTransaction(deps.db, async (trx) => {
      const now = isoNow(deps.clock);
      for (const e of exchanges) {
        const id = await registerExchange(trx, conn, e, trigger, now);
        if (id !== null) found.push(id);
      }
    });
  }
  await deps
    .db('datasync_connections')
    .where({ id: conn.id })
    .update({ last_polled_at: isoNow(deps.clock) });
  return found;
}

async function connectionById(deps: AppDeps, id: number): Promise<ConnectionRow> {
  const row = await deps.exchange.connectionById(deps.db, id);
  if (!row) throw new PermanentFailure(`Data Sync connection ${id} no longer exists`);
  return row;
}

/** Answers one exchange (plan, upload, finish); a failed run resumes where it stopped. */
export const exchangeJob: JobDefinition = {
  name: 'datasync.exchange',
  maxAttempts: 25,
  async run({ deps, job, log }) {
    const exchangeId = job.payload.exchangeId as number;
    try {
      const result = await runExchange(deps, exchangeId, log);
      log.info({ ...result }, 'exchange run');
    } catch (err) {
      const last =
        err instanceof PermanentFailure ||
        (!(err instanceof RetryLater) && job.attempt >= job.maxAttempts);
      if (last) {
        // Given up: the exchange ends failed, so its items are sent with the next one and its courses are free.
        await finishWith(
          deps,
          exchangeId,
          'failed',
          'producer_failure',
          `gave up after ${job.attempt} attempts: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      throw err;
    }
  },
};

/** Looks for waiting exchanges of one connection. */
export const discoverJob: JobDefinition = {
  name: 'datasync.discover',
  maxAttempts: 5,
  async run({ deps, job, log }) {
    const conn = await connectionById(deps, job.payload.connectionId as number);
    const found = await discoverExchanges(
      deps,
      conn,
      (job.payload.trigger as ExchangeTrigger) ?? 'poll',
    );
    if (found.length) log.info({ connection: conn.id, exchanges: found.length }, 'exchanges found');
  },
};

/** The schedule: every connection looks for waiting exchanges. */
export const pollJob: JobDefinition = {
  name: 'datasync.poll',
  maxAttempts: 3,
  async run({ deps }) {
    const now = isoNow(deps.clock);
    for (const c of await deps.db('datasync_connections').select('id', 'tenant_id')) {
      await enqueue(
        deps.db,
        'datasync.discover',
        { connectionId: c.id, trigger: 'schedule' },
        now,
        {
          tenantId: c.tenant_id,
          queueKey: `datasync.discover:${c.id}`,
        },
      );
    }
  },
};

export function pollSchedule(seconds: number): RecurringJob | null {
  return seconds > 0 ? { name: 'datasync.poll', everyMs: seconds * 1000 } : null;
}

/**
 * A teacher's "send final grades" (or an approval): asks Data Sync for an
 * exchange of the course's final grades only (a `summary` query), finds it among the waiting
 * exchanges by the request id gradebridge put in its metadata, and answers it.
 */
export const requestJob: JobDefinition = {
  name: 'datasync.request',
  maxAttempts: 10,
  async run({ deps, job, log }) {
    const conn = await connectionById(deps, job.payload.connectionId as number);
    const client = deps.exchange.client(conn);
    const requestId = job.payload.requestId as string;
    const course = await deps
      .db('courses')
      .where({ id: job.payload.courseId as number, tenant_id: conn.tenant_id })
      .first('id', 'title', 'batch_uid');
    if (!course) throw new PermanentFailure('the course no longer exists');
    let remote = await findRequested(deps, conn, requestId);
    if (!remote && !job.payload.created) {
      await client.createExchange({
        query: {
          type: 'summary',
          conditions: [
            {
              scope: 'course',
              scope_by: 'id',
              scope_id: {
                name: course.title,
                $sys: {
                  source_id: course.batch_uid ? { sis_id: course.batch_uid } : {},
                  app_id: { gradebridge_id: String(course.id) },
                },
              },
              summary_type: 'final',
            },
          ],
        },
        metadata: { gradebridge_request: requestId, requested_by: job.payload.userId ?? null },
      });
      // Remember that it was asked for, so a retry does not ask twice.
      await deps
        .db('jobs')
        .where({ id: job.id })
        .update({ payload: JSON.stringify({ ...job.payload, created: true }) });
      remote = await findRequested(deps, conn, requestId);
    }
    if (!remote) throw new Error('the requested exchange is not listed in Data Sync');
    // The course page follows the send to this exchange.
    await deps
      .db('jobs')
      .where({ id: job.id })
      .update({ payload: JSON.stringify({ ...job.payload, created: true, remoteId: remote.id }) });
    if (remote.state !== 'created') {
      log.info(
        { exchange: remote.id, state: remote.state },
        'the requested exchange was already answered',
      );
      return;
    }
    const id = await inTransaction(deps.db, (trx) =>
      registerExchange(
        trx,
        conn,
        remote,
        'teacher',
        isoNow(deps.clock),
        (job.payload.userId as number) ?? null,
      ),
    );
    log.info({ exchange: remote.id, row: id }, 'final grades requested');
  },
};

async function findRequested(deps: AppDeps, conn: ConnectionRow, requestId: string) {
  const client = deps.exchange.client(conn);
  // Waiting exchanges first (the usual case), then all of them (it may have been answered meanwhile).
  for (const state of ['created', undefined]) {
    for await (const list of client.exchangePages({ state })) {
      const hit = list.find(
        (e) => (e.metadata as Record<string, unknown> | null)?.gradebridge_request === requestId,
      );
      if (hit) return hit;
    }
  }
  return null;
}

/** Queues a teacher's "send final grades" for a course, in the caller's transaction. */
export async function requestFinalGrades(
  trx: Executor,
  conn: ConnectionRow,
  courseId: number,
  userId: number | null,
  now: string,
): Promise<number | null> {
  return enqueue(
    trx,
    'datasync.request',
    { connectionId: conn.id, courseId, userId, requestId: randomUUID() },
    now,
    { tenantId: conn.tenant_id, queueKey: `datasync.request:${courseId}` },
  );
}

/** Runs what `datasync poll` found, to the end, in this process (the command line). */
export async function pollNow(
  deps: AppDeps,
  conn: ConnectionRow,
  log: Logger,
): Promise<Array<Awaited<ReturnType<typeof runExchange>>>> {
  await discoverExchanges(deps, conn, 'cli');
  const waiting = await deps
    .db('exchanges')
    .where({ connection_id: conn.id })
    .whereIn('state', ['queued', 'sending'])
    .orderBy('id')
    .select('id');
  const results = [];
  for (const w of waiting) {
    for (;;) {
      try {
        results.push(await runExchange(deps, w.id as number, log));
        break;
      } catch (err) {
        if (!(err instanceof RetryLater)) throw err;
        await new Promise((resolve) => setTimeout(resolve, err.delayMs));
      }
    }
  }
  return results;
}
