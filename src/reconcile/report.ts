import type { Executor } from '../db/knex.js';
import { toBool, toIso } from '../db/time.js';
import { buildPayload } from '../exchange/payload.js';
import { QueryProblem } from '../exchange/scope.js';
import {
  approvalModeOf,
  approvedFinalGrades,
  finalColumnOf,
  ltiSubs,
  personId,
} from '../grades/final-grades.js';

/**
 * Every grade accounted for: for each learner and column that leaves
 * gradebridge (a column linked to an LMS line item, a column or final grade
 * sent to the SIS), what the LMS holds (as last read), what gradebridge holds
 * (current, and approved where approval is required), what the SIS last
 * accepted, and one state.
 */
export const STATES = [
  'in_sync',
  'lms_differs',
  'sis_differs',
  'waiting',
  'failed',
  'unknown',
] as const;
export type ReconcileState = (typeof STATES)[number];
type SideState = ReconcileState | null;

/** When both sides have something to say, the one that needs a person most names the item. */
const PRECEDENCE: ReconcileState[] = [
  'failed',
  'lms_differs',
  'sis_differs',
  'unknown',
  'waiting',
  'in_sync',
];

export interface Value {
  score: number | null;
  grade: string | null;
}

export interface ReconcileItem {
  courseId: number;
  course: string | null;
  columnId: number;
  column: string;
  userId: number;
  person: string;
  name: string;
  gradebridge: (Value & { versionId: number | null }) | null;
  /** The approved value, when approval is required and this is the final column. */
  approved: Value | null;
  lms: {
    value: number | null;
    readAt: string | null;
    sent: number | null;
    sentAt: string | null;
    sendStatus: string | null;
    sendError: string | null;
    state: SideState;
  } | null;
  sis: {
    accepted: (Value & { at: string | null }) | null;
    lastStatus: string | null;
    lastError: string | null;
    lastSentAt: string | null;
    state: SideState;
    /** Whether the next exchange that asks for this grade carries it (what would go out now). */
    wouldSend: boolean;
  } | null;
  state: ReconcileState;
}

export interface ReconcileReport {
  tenantId: number;
  generatedAt: string;
  counts: Record<ReconcileState, number>;
  items: ReconcileItem[];
}

const close = (a: number | null | undefined, b: number | null | undefined) =>
  a === null || a === undefined
    ? b === null || b === undefined
    : b !== null && b !== undefined && Math.abs(a - b) < 1e-6;

function emptyCounts(): Record<ReconcileState, number> {
  return Object.fromEntries(STATES.map((s) => [s, 0])) as Record<ReconcileState, number>;
}

/** The report for one course, or every course of the tenant. */
export async function reconcileReport(
  db: Executor,
  tenantId: number,
  options: { courseId?: number; now: string; unknownAfterMinutes: number },
): Promise<ReconcileReport> {
  const courses = await db('courses')
    .where({ tenant_id: tenantId })
    .modify((q) => {
      if (options.courseId !== undefined) q.where({ id: options.courseId });
    })
    .orderBy('id')
    .select('id', 'batch_uid');
  const connection = await db('datasync_connections')
    .where({ tenant_id: tenantId })
    .orderBy('id')
    .first('id');
  const connected = !!connection;
  const approval = (await approvalModeOf(db, tenantId)) === 'required';
  const unknownBefore = new Date(
    Date.parse(options.now) - options.unknownAfterMinutes * 60_000,
  ).toISOString();
  const items: ReconcileItem[] = [];
  for (const course of courses)
    items.push(
      ...(await courseItems(db, tenantId, course, {
        connected,
        connectionId: connection?.id ?? null,
        approval,
        unknownBefore,
      })),
    );
  const counts = emptyCounts();
  for (const item of items) counts[item.state]++;
  return { tenantId, generatedAt: options.now, counts, items };
}

/**
 * What the next exchange that asks for this course would carry, by
 * `column:user`: the exchange's own payload, planned and not sent (only what
 * differs from what was last sent on the connection; approved values only
 * where approval is required), in the score types the course was sent in.
 */
async function dryRun(
  db: Executor,
  connectionId: number,
  courseId: number,
  summaries: boolean,
): Promise<Set<string>> {
  const types = new Set<'raw' | 'percentage'>();
  for (const key of (await db('exchange_items')
    .where({ connection_id: connectionId, course_id: courseId, kind: 'summary' })
    .distinct('item_key')
    .pluck('item_key')) as string[])
    types.add(key.endsWith(':percentage') ? 'percentage' : 'raw');
  if (types.size === 0) types.add('raw');
  const parts = (withSummaries: boolean) =>
    [...types].map((scoreType) => ({
      courseId,
      dataSyncId: null,
      assignments: true,
      summaries: withSummaries,
      scoreType,
      gradedAfter: null,
      assignmentIds: null,
    }));
  let payload;
  try {
    payload = await buildPayload(db, connectionId, parts(summaries));
  } catch (err) {
    // The exchange would refuse the summaries (no final column it can send): the scores still go.
    if (!(err instanceof QueryProblem)) throw err;
    payload = await buildPayload(db, connectionId, parts(false));
  }
  const out = new Set<string>();
  for (const a of payload.assignments)
    for (const s of a.scores) out.add(`${s.item.columnId}:${s.item.userId}`);
  for (const s of payload.summaries) out.add(`${s.item.columnId}:${s.item.userId}`);
  return out;
}

async function courseItems(
  db: Executor,
  tenantId: number,
  course: { id: number; batch_uid: string | null },
  o: {
    connected: boolean;
    connectionId: number | null;
    approval: boolean;
    unknownBefore: string;
  },
): Promise<ReconcileItem[]> {
  const columns = await db('grade_columns')
    .where({ course_id: course.id })
    .whereNull('deleted_at')
    .orderBy('id')
    .select('id', 'name', 'extract', 'is_external', 'is_final');
  if (columns.length === 0) return [];
  const linked = new Set<number>(
    (
      await db('external_ids')
        .where({ tenant_id: tenantId, kind: 'lineitem' })
        .whereIn(
          'local_id',
          columns.map((c) => c.id),
        )
        .pluck('local_id')
    ).map(Number),
  );
  const final = await finalColumnOf(db, course.id);
  // Columns whose grades go to the SIS: extracted assignments, and the final grade.
  const toSis = new Map<number, 'score' | 'summary'>();
  if (o.connected) {
    for (const c of columns)
      if (toBool(c.extract) && !toBool(c.is_external) && !toBool(c.is_final))
        toSis.set(c.id, 'score');
    if (final) toSis.set(final.id, 'summary');
  }
  const relevant = columns.filter((c) => linked.has(c.id) || toSis.has(c.id));
  if (relevant.length === 0) return [];
  const learners = await db('enrollments as e')
    .join('users as u', 'u.id', 'e.user_id')
    .where({ 'e.course_id': course.id, 'e.role': 'Learner' })
    .orderBy('u.id')
    .select('u.id', 'u.name', 'u.batch_uid');
  if (learners.length === 0) return [];
  const subs = await ltiSubs(
    db,
    tenantId,
    learners.filter((l) => !l.batch_uid).map((l) => l.id),
  );
  const key = (columnId: number, userId: number) => `${columnId}:${userId}`;

  const current = new Map<string, Value & { versionId: number | null }>();
  const subRows = await db('submissions')
    .where({ course_id: course.id })
    .select('id', 'column_id', 'user_id', 'score', 'grade', 'excused');
  const versions = new Map<number, number>();
  for (const r of await db('grade_versions')
    .where({ course_id: course.id })
    .groupBy('submission_id')
    .select('submission_id', db.raw('max(id) as version_id')))
    versions.set(r.submission_id, Number(r.version_id));
  for (const s of subRows) {
    if (s.score === null && s.grade === null && !toBool(s.excused)) continue;
    current.set(key(s.column_id, s.user_id), {
      score: s.score === null ? null : Number(s.score),
      grade: s.grade,
      versionId: versions.get(s.id) ?? null,
    });
  }

  const lms = new Map<string, Record<string, unknown>>();
  for (const r of await db('lms_grades')
    .where({ course_id: course.id })
    .orderBy('updated_at')
    .select('*'))
    lms.set(key(r.column_id, r.user_id), r);
  const queued = new Set<string>();
  for (const r of await db('jobs')
    .where({ tenant_id: tenantId, name: 'lti.score' })
    .whereIn('state', ['queued', 'running'])
    .select('queue_key'))
    queued.add(String(r.queue_key));

  // The latest send of each grade to the SIS, and the latest the SIS accepted.
  const lastSend = new Map<string, Record<string, unknown>>();
  const accepted = new Map<string, Record<string, unknown>>();
  if (toSis.size > 0) {
    for (const r of await db('exchange_sends')
      .whereIn('column_id', [...toSis.keys()])
      .orderBy('id')
      .select(
        'column_id',
        'user_id',
        'kind',
        'score',
        'grade',
        'version_id',
        'status',
        'sis_outcome',
        'error_message',
        'created_at',
        'outcome_at',
      )) {
      if (toSis.get(r.column_id) !== r.kind) continue;
      const k = key(r.column_id, r.user_id);
      lastSend.set(k, r);
      if (r.sis_outcome === 'accepted') accepted.set(k, r);
    }
  }
  const approved = o.approval && final ? await approvedFinalGrades(db, course.id) : null;
  const goesOut =
    o.connectionId !== null && toSis.size > 0
      ? await dryRun(db, o.connectionId, course.id, final !== null)
      : null;

  const out: ReconcileItem[] = [];
  for (const c of relevant) {
    for (const learner of learners) {
      const k = key(c.id, learner.id);
      const ours = current.get(k) ?? null;
      const l = lms.get(k);
      const isFinal = final?.id === c.id;
      const approvedValue =
        isFinal && o.approval && approved && approved.columnId === c.id
          ? (approved.values.get(learner.id) ?? null)
          : null;

      let lmsSide: ReconcileItem['lms'] = null;
      if (linked.has(c.id)) {
        const lmsValue = l && toBool(l.lms_has_score) ? Number(l.lms_score) : null;
        const readAt = l ? toIso(l.lms_read_at as string | null) : null;
        let state: SideState;
        if (
          l &&
          (l.send_status === 'refused' || l.send_status === 'failed') &&
          !close(lmsValue, ours?.score)
        )
          state = 'failed';
        else if (queued.has(`lti.score:${c.id}:${learner.id}`)) state = 'waiting';
        else if (!readAt) state = ours ? 'unknown' : 'in_sync';
        else state = close(lmsValue, ours?.score ?? null) ? 'in_sync' : 'lms_differs';
        lmsSide = {
          value: lmsValue,
          readAt,
          sent: l?.sent_score === null || l?.sent_score === undefined ? null : Number(l.sent_score),
          sentAt: l ? toIso(l.sent_at as string | null) : null,
          sendStatus: (l?.send_status as string | null) ?? null,
          sendError: (l?.send_error as string | null) ?? null,
          state,
        };
      }

      let sisSide: ReconcileItem['sis'] = null;
      if (toSis.has(c.id)) {
        // What the SIS should hold: the approved value where approval is required, else ours.
        const should = isFinal && o.approval ? approvedValue : ours;
        const acc = accepted.get(k);
        const last = lastSend.get(k);
        const shouldVersion =
          should === null ? null : 'versionId' in should ? (should.versionId ?? null) : null;
        let state: SideState;
        // The SIS holds the right grade when it accepted this version, or another with the same value.
        const acceptedMatches =
          !!acc &&
          ((shouldVersion !== null &&
            acc.version_id !== null &&
            Number(acc.version_id) === shouldVersion) ||
            (close(acc.score as number | null, should?.score ?? null) &&
              (acc.grade ?? null) === (should?.grade ?? null)));
        if (!should && !acc) state = 'in_sync';
        else if (acceptedMatches) state = 'in_sync';
        else if (last && last.sis_outcome === 'refused') state = 'failed';
        else if (last && last.status === 'pending') state = 'waiting';
        else if (last && last.status === 'sent' && !last.sis_outcome && last !== acc)
          state =
            String(toIso(last.created_at as string)) < o.unknownBefore ? 'unknown' : 'waiting';
        else state = acc ? 'sis_differs' : 'waiting';
        sisSide = {
          accepted: acc
            ? {
                score: acc.score === null ? null : Number(acc.score),
                grade: (acc.grade as string | null) ?? null,
                at: toIso(acc.outcome_at as string | null),
              }
            : null,
          lastStatus: last ? String(last.sis_outcome ?? last.status) : null,
          lastError: (last?.error_message as string | null) ?? null,
          lastSentAt: last ? toIso(last.created_at as string) : null,
          state,
          wouldSend: goesOut?.has(k) ?? false,
        };
      }
      if (!ours && !lmsSide?.value && !sisSide?.accepted && !l) continue;
      const sides = [lmsSide?.state, sisSide?.state].filter((s): s is ReconcileState => !!s);
      const state = PRECEDENCE.find((s) => sides.includes(s)) ?? 'in_sync';
      out.push({
        courseId: course.id,
        course: course.batch_uid,
        columnId: c.id,
        column: c.name,
        userId: learner.id,
        person: personId(learner, subs),
        name: learner.name ?? learner.batch_uid ?? `User ${learner.id}`,
        gradebridge: ours,
        approved: approvedValue ? { score: approvedValue.score, grade: approvedValue.grade } : null,
        lms: lmsSide,
        sis: sisSide,
        state,
      });
    }
  }
  return out;
}
