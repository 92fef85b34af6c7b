import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { AppDeps } from '../deps.js';
import type { Executor, Trx } from '../db/knex.js';
import { isoNow } from '../db/time.js';
import { inTransaction } from '../db/transaction.js';
import { registerExchange } from '../exchange/register-exchange.js';
import { enqueue } from '../jobs/queue.js';
import { isWellFormed } from '../db/text.js';
import { PermanentFailure, type JobDefinition } from '../jobs/worker.js';
import { caliperEvent, fromCaliper } from './caliper.js';
import { applyIncomingGrade, type ApplyResult } from './grades.js';

/** An id gradebridge can keep and look up: no control character (NUL among them), no lone surrogate. */
const cleanId = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    // eslint-disable-next-line no-control-regex -- control characters are what is refused
    .refine((s) => !/[\u0000-\u001f\u007f]/.test(s) && isWellFormed(s), {
      message: 'must not hold control characters or lone surrogates',
    });

/** A Data Sync notice that an exchange is waiting. */
export const dataSyncNotice = z.object({
  id: cleanId(255),
  type: cleanId(128),
  created_at: z.string().optional(),
  data: z
    .object({
      exchange_id: cleanId(64).optional(),
      course_app_id: z.string().nullable().optional(),
    })
    .loose()
    .optional(),
});

/** Canvas Live Events: the JWT's payload, `{metadata, body}`. */
export const canvasEvent = z.object({
  metadata: z
    .object({
      event_name: z.string().min(1).max(128),
      event_time: z.string().optional(),
      event_id: z.string().optional(),
      context_type: z.string().optional(),
      context_id: z.union([z.string(), z.number()]).optional(),
      context_sis_source_id: z.string().nullable().optional(),
      root_account_uuid: z.string().optional(),
    })
    .loose(),
  body: z.record(z.string(), z.unknown()),
});

export type CanvasEvent = z.infer<typeof canvasEvent>;

const score = z.number().finite().nullable();

/** gradebridge's own grade webhook, for senders that are neither Canvas nor Data Sync. */
export const gradeWebhook = z.object({
  id: z.string().min(1).max(255),
  type: z.literal('grade.changed'),
  occurred_at: z.iso.datetime({ offset: true }).optional(),
  data: z.strictObject({
    course: z.string().min(1).max(255),
    column: z.string().min(1).max(333),
    user: z.string().min(1).max(255),
    score,
    grade: z.string().max(333).nullable().optional(),
    points_possible: z.number().positive().optional(),
    late: z.boolean().optional(),
    missing: z.boolean().optional(),
    excused: z.boolean().optional(),
  }),
});

/** The event id Canvas gives, else a digest of what identifies the event (name, time, submission, values). */
export function canvasEventId(e: CanvasEvent): string {
  if (e.metadata.event_id) return e.metadata.event_id;
  return createHash('sha256')
    .update(JSON.stringify([e.metadata.event_name, e.metadata.event_time ?? null, e.body]))
    .digest('hex');
}

/**
 * Records a verified event once (its sender and event id are unique) and
 * queues its processing in the same transaction. Returns false for a
 * duplicate, which is acknowledged and otherwise ignored.
 */
export async function recordEvent(
  trx: Executor,
  tenantId: number,
  sender: string,
  eventId: string,
  eventType: string,
  payload: unknown,
  now: string,
): Promise<boolean> {
  const rows = (await trx('webhook_events')
    .insert({
      tenant_id: tenantId,
      sender,
      event_id: eventId,
      event_type: eventType,
      payload: JSON.stringify(payload),
      status: 'received',
      received_at: now,
    })
    .onConflict(['tenant_id', 'sender', 'event_id'])
    .ignore()
    .returning('id')) as Array<{ id: number }>;
  const id = rows[0]?.id;
  if (id === undefined) return false;
  await enqueue(trx, 'webhooks.event', { eventId: id }, now, { tenantId, maxAttempts: 10 });
  return true;
}

const toNumber = (v: unknown): number | null => {
  if (v === null || v === undefined || v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
};
const toText = (v: unknown): string | null =>
  v === null || v === undefined || v === '' ? null : String(v);
/** A time the sender gave, as gradebridge stores times (ISO-8601 UTC); null when absent or not a time. */
const toTime = (v: unknown): string | null => {
  if (typeof v !== 'string' || v === '') return null;
  const ms = Date.parse(v);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
};
const toFlag = (v: unknown): boolean | undefined =>
  v === true || v === 'true' ? true : v === false || v === 'false' ? false : undefined;

/**
 * Whether a Canvas event says the submission is excused: its `excused` flag
 * when it carries one, the grade `EX` Canvas shows for an excused submission,
 * or a `workflow_state` of `excused`; a score or grade given otherwise ends
 * an excuse (Canvas clears it when a grade is entered). Undefined: keep what
 * is recorded.
 */
function canvasExcused(b: Record<string, unknown>): boolean | undefined {
  const flag = toFlag(b.excused);
  if (flag !== undefined) return flag;
  if (toText(b.grade)?.toUpperCase() === 'EX' || b.workflow_state === 'excused') return true;
  if (toNumber(b.score) !== null || toText(b.grade) !== null) return false;
  return undefined;
}

async function finish(
  trx: Executor,
  id: number,
  status: string,
  detail: string | null,
  now: string,
) {
  await trx('webhook_events').where({ id }).update({ status, detail, processed_at: now });
}

/** What an event did: its status and detail, written with its effects. */
async function applyCanvas(
  trx: Trx,
  row: { tenant_id: number; sender: string; event_id: string },
  e: CanvasEvent,
  now: string,
): Promise<ApplyResult> {
  const system = `canvas:${e.metadata.root_account_uuid ?? row.sender}`;
  const b = e.body;
  const name = e.metadata.event_name;
  if (name !== 'grade_change' && name !== 'submission_updated')
    return { status: 'ignored', reason: `event ${name} carries no grade` };
  if (e.metadata.context_type && e.metadata.context_type !== 'Course')
    return { status: 'ignored', reason: `context ${e.metadata.context_type} is not a course` };
  const userExternal = toText(b.student_id ?? b.user_id);
  const excused = canvasExcused(b);
  const eventTime = toTime(e.metadata.event_time);
  return applyIncomingGrade(
    trx,
    row.tenant_id,
    {
      courseBatchUid: toText(e.metadata.context_sis_source_id),
      course: e.metadata.context_id ? { system, id: String(e.metadata.context_id) } : null,
      column: {
        name: toText(b.assignment_name),
        pointsPossible: toNumber(b.points_possible),
        external: b.assignment_id ? { system, id: String(b.assignment_id) } : null,
      },
      user: {
        batchUid: toText(b.student_sis_id),
        external: userExternal ? { system, id: userExternal } : null,
      },
      // Excused: no score and no grade, as Canvas keeps an excused submission.
      score: excused ? null : toNumber(b.score),
      grade: excused ? null : toText(b.grade),
      excused,
      gradedAt: toTime(b.graded_at) ?? eventTime ?? now,
      // Ordered by when Canvas made the change: the event's time, else the submission's.
      asOf: eventTime ?? toTime(b.updated_at) ?? toTime(b.graded_at),
      ...(name === 'submission_updated'
        ? {
            late: b.late === undefined ? undefined : !!b.late,
            missing: b.missing === undefined ? undefined : !!b.missing,
            workflowState: toText(b.workflow_state) ?? undefined,
          }
        : {}),
      ...(excused && name !== 'submission_updated' ? { workflowState: 'graded' } : {}),
      source: 'live_event',
      idempotencyKey: `${row.sender}:${row.event_id}`,
      changeUser: 'Canvas',
    },
    now,
  );
}

/** A recorded Canvas event in Canvas's own format; one recorded in the Caliper format is read as the same. */
function storedCanvasEvent(payload: unknown): CanvasEvent {
  if (typeof payload === 'object' && payload !== null && 'metadata' in payload)
    return canvasEvent.parse(payload);
  return canvasEvent.parse(fromCaliper(caliperEvent.parse(payload)));
}

/** Processes one recorded event: a Data Sync notice starts the exchange; a grade event becomes a version. */
export const webhookEventJob: JobDefinition = {
  name: 'webhooks.event',
  maxAttempts: 10,
  async run({ deps, job, log }) {
    const row = await deps
      .db('webhook_events')
      .where({ id: job.payload.eventId as number })
      .first();
    if (!row || row.status !== 'received') return;
    const payload = JSON.parse(row.payload as string) as unknown;
    const [kind, senderId] = (row.sender as string).split(':') as [string, string];
    if (kind === 'datasync') {
      await dataSyncNoticeEvent(deps, row, Number(senderId), dataSyncNotice.parse(payload));
      return;
    }
    await inTransaction(deps.db, async (trx) => {
      const now = isoNow(deps.clock);
      let result: ApplyResult;
      if (kind === 'canvas') result = await applyCanvas(trx, row, storedCanvasEvent(payload), now);
      else if (kind === 'hmac') {
        const e = gradeWebhook.parse(payload);
        result = await applyIncomingGrade(
          trx,
          row.tenant_id,
          {
            courseBatchUid: e.data.course,
            column: { name: e.data.column, pointsPossible: e.data.points_possible ?? null },
            user: { batchUid: e.data.user },
            score: e.data.score,
            grade: e.data.grade ?? null,
            gradedAt: toTime(e.occurred_at) ?? now,
            asOf: toTime(e.occurred_at),
            late: e.data.late,
            missing: e.data.missing,
            excused: e.data.excused,
            source: 'webhook',
            idempotencyKey: `${row.sender}:${row.event_id}`,
            changeUser: `webhook ${senderId}`,
          },
          now,
        );
      } else throw new PermanentFailure(`unknown sender ${String(row.sender)}`);
      await finish(
        trx,
        row.id,
        result.status === 'ignored' ? 'ignored' : 'processed',
        result.status === 'ignored' ? result.reason : result.status,
        now,
      );
      log.info({ event: row.event_id, sender: row.sender, result }, 'webhook event processed');
    });
  },
};

async function dataSyncNoticeEvent(
  deps: AppDeps,
  row: { id: number; tenant_id: number },
  connectionId: number,
  notice: z.infer<typeof dataSyncNotice>,
): Promise<void> {
  const conn = await deps.exchange.connectionById(deps.db, connectionId);
  const exchangeId = notice.data?.exchange_id;
  if (!conn || !exchangeId) {
    await finish(
      deps.db,
      row.id,
      'ignored',
      conn ? 'the notice names no exchange' : 'no such connection',
      isoNow(deps.clock),
    );
    return;
  }
  // The notice only says where to look: the exchange itself is read from Data Sync.
  const remote = await deps.exchange.client(conn).getExchange(exchangeId);
  await inTransaction(deps.db, async (trx) => {
    const now = isoNow(deps.clock);
    if (!remote)
      return finish(trx, row.id, 'ignored', `Data Sync does not know exchange ${exchangeId}`, now);
    if (remote.state !== 'created')
      return finish(trx, row.id, 'ignored', `exchange ${exchangeId} is ${remote.state}`, now);
    const id = await registerExchange(trx, conn, remote, 'notice', now);
    return finish(
      trx,
      row.id,
      'processed',
      id === null ? 'exchange already known' : `exchange ${id} queued`,
      now,
    );
  });
}
