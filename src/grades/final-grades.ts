import type { Executor } from '../db/knex.js';
import { toBool, toIso } from '../db/time.js';
import type { Calculation } from './calculation.js';
import { parseJson } from '../db/json.js';
import { symbolFor, type GradeSymbol } from './symbols.js';

/**
 * The final grades of a course as they stand, computed from the store: the
 * final column, each learner's final grade, the approved and submitted
 * values, what was last sent to the SIS, and what a send would carry now.
 * Every surface (course page, REST API, command line, Data Sync) reads this.
 */

export const APPROVAL_MODES = ['off', 'required'] as const;
export type ApprovalMode = (typeof APPROVAL_MODES)[number];

export type LearnerState =
  'draft' | 'submitted' | 'approved' | 'changed_since_approval' | 'rejected' | 'sent';

export type FlagCode =
  | 'no_final_column'
  | 'no_final_grade'
  | 'not_on_scale'
  | 'missing_grade'
  | 'excused'
  | 'changed_since_approval'
  | 'send_failed';

/** Flags that keep a learner's final grade out of a submission and a send. */
export const BLOCKING_FLAGS: readonly FlagCode[] = ['no_final_grade', 'not_on_scale'];

export interface Flag {
  code: FlagCode;
  /** Plain words for people. */
  message: string;
}

export interface FinalValue {
  score: number | null;
  grade: string | null;
  pointsPossible: number | null;
  /** The grade version the value is (its id names the value across surfaces). */
  versionId: number | null;
  gradedAt: string | null;
}

export interface LearnerFinalGrade {
  userId: number;
  /** The person's SIS id (Journey userId), or `lti:<sub>` for people known only from the LMS. */
  personId: string;
  name: string;
  current: FinalValue | null;
  approved: FinalValue | null;
  submitted: FinalValue | null;
  lastSent: (FinalValue & { at: string }) | null;
  state: LearnerState;
  flags: Flag[];
  blocked: boolean;
  /** What a send now carries for this learner (null: nothing). */
  outgoing: FinalValue | null;
}

export interface SubmissionSummary {
  id: number;
  state: 'submitted' | 'approved' | 'rejected' | 'replaced';
  columnId: number;
  submittedBy: { userId: number | null; name: string };
  submittedAt: string;
  comment: string | null;
  decidedBy: { userId: number | null; name: string } | null;
  decidedAt: string | null;
  decisionComment: string | null;
  learners: number;
}

export interface FinalGradeStatus {
  course: { id: number; tenantId: number; batchUid: string | null; title: string };
  approvalMode: ApprovalMode;
  finalColumn: {
    id: number;
    name: string;
    points: number;
    scale: string[] | null;
    calculated: boolean;
  } | null;
  /** Course-wide problems (no final column). */
  flags: Flag[];
  learners: LearnerFinalGrade[];
  /** The submission waiting for a decision, if any. */
  pending: SubmissionSummary | null;
  /** The latest approved submission: its values are what the SIS receives when approval is required. */
  approved: SubmissionSummary | null;
  /** The latest decision when it was a rejection newer than any approval (its comment is for the teacher). */
  rejected: SubmissionSummary | null;
  /** What a send would carry right now. */
  send: { finalGrades: number; changedSinceLastSend: number; blocked: number };
}

/** Whether two final values are the same grade (score to 1e-9, and letter). */
export const sameValue = (
  a: Pick<FinalValue, 'score' | 'grade'> | null | undefined,
  b: Pick<FinalValue, 'score' | 'grade'> | null | undefined,
) =>
  !!a &&
  !!b &&
  a.grade === b.grade &&
  (a.score === null ? b.score === null : b.score !== null && Math.abs(a.score - b.score) < 1e-9);

/** The final column of a course: its external grade column, else the column marked final. */
export async function finalColumnOf(db: Executor, courseId: number) {
  const columns = await db('grade_columns as c')
    .leftJoin('grade_schemas as s', 's.id', 'c.grade_schema_id')
    .where({ 'c.course_id': courseId })
    .whereNull('c.deleted_at')
    .where((q) => q.where('c.is_external', true).orWhere('c.is_final', true))
    .orderBy('c.id')
    .select('c.id', 'c.name', 'c.points', 'c.is_external', 'c.calculation', 's.symbols');
  const column = columns.find((c) => toBool(c.is_external)) ?? columns[0];
  if (!column) return null;
  return {
    id: column.id as number,
    name: column.name as string,
    points: Number(column.points),
    symbols: parseJson<GradeSymbol[]>(column.symbols),
    calculation: parseJson<Calculation>(column.calculation),
  };
}

/** A submission row as the surfaces show it. */
export function submissionSummary(
  row: Record<string, unknown>,
  learners: number,
): SubmissionSummary {
  return {
    id: row.id as number,
    state: row.state as SubmissionSummary['state'],
    columnId: row.column_id as number,
    submittedBy: {
      userId: (row.submitted_by as number | null) ?? null,
      name: row.submitted_by_name as string,
    },
    submittedAt: toIso(row.submitted_at as string)!,
    comment: (row.comment as string | null) ?? null,
    decidedBy: row.decided_by_name
      ? { userId: (row.decided_by as number | null) ?? null, name: row.decided_by_name as string }
      : null,
    decidedAt: toIso(row.decided_at as string | null),
    decisionComment: (row.decision_comment as string | null) ?? null,
    learners,
  };
}

/** The latest submissions of a course that matter: pending, approved, and a rejection after them. */
async function latestSubmissions(db: Executor, courseId: number) {
  const rows = await db('final_grade_submissions')
    .where({ course_id: courseId })
    .whereIn('state', ['submitted', 'approved', 'rejected'])
    .orderBy('id', 'desc')
    .limit(50)
    .select('*');
  const pending = rows.find((r) => r.state === 'submitted') ?? null;
  const approved = rows.find((r) => r.state === 'approved') ?? null;
  const decided = rows
    .filter((r) => r.state !== 'submitted')
    .sort((a, b) => String(b.decided_at).localeCompare(String(a.decided_at)) || b.id - a.id)[0];
  const rejected =
    decided?.state === 'rejected' && (!pending || pending.id < decided.id) ? decided : null;
  return { pending, approved, rejected };
}

async function snapshotOf(db: Executor, submissionId: number | undefined) {
  const values = new Map<number, FinalValue>();
  if (submissionId === undefined) return values;
  for (const r of await db('final_grade_snapshots')
    .where({ submission_id: submissionId })
    .select('user_id', 'score', 'grade', 'points_possible', 'version_id', 'graded_at')) {
    values.set(r.user_id, {
      score: r.score === null ? null : Number(r.score),
      grade: r.grade,
      pointsPossible: r.points_possible === null ? null : Number(r.points_possible),
      versionId: r.version_id === null ? null : Number(r.version_id),
      gradedAt: toIso(r.graded_at),
    });
  }
  return values;
}

/** The approved values of a course's latest approved submission, by learner: what the SIS receives when approval is required. */
export async function approvedFinalGrades(
  db: Executor,
  courseId: number,
): Promise<{ columnId: number; values: Map<number, FinalValue> } | null> {
  const row = await db('final_grade_submissions')
    .where({ course_id: courseId, state: 'approved' })
    .orderBy('id', 'desc')
    .first('id', 'column_id');
  if (!row) return null;
  return { columnId: row.column_id, values: await snapshotOf(db, row.id) };
}

/** The leaf columns a calculated column counts, following calculated inputs. */
function countedColumns(
  rootId: number,
  calculations: Map<number, Calculation | null>,
  seen = new Set<number>(),
): number[] {
  const calculation = calculations.get(rootId);
  if (!calculation) return [rootId];
  const out: number[] = [];
  for (const input of calculation.inputs) {
    if (seen.has(input.columnId)) continue;
    seen.add(input.columnId);
    out.push(...countedColumns(input.columnId, calculations, seen));
  }
  return out;
}

/** The platform user ids (sub) of people known only from an LMS. */
export async function ltiSubs(
  db: Executor,
  tenantId: number,
  userIds: number[],
): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  if (userIds.length === 0) return out;
  for (const r of await db('external_ids')
    .where({ tenant_id: tenantId, kind: 'user' })
    .whereIn('local_id', userIds)
    .orderBy('id')
    .select('local_id', 'external_id'))
    if (!out.has(r.local_id)) out.set(r.local_id, r.external_id);
  return out;
}

/** How the command line and the API name a person: their SIS id (Journey userId), else `lti:<sub>`. */
export function personId(
  user: { id: number; batch_uid: string | null },
  subs: Map<number, string>,
): string {
  if (user.batch_uid) return user.batch_uid;
  const sub = subs.get(user.id);
  return sub ? `lti:${sub}` : `#${user.id}`;
}

/** The tenant's person a `personId` names, or null. */
export async function findPerson(
  db: Executor,
  tenantId: number,
  id: string,
): Promise<{ id: number; name: string } | null> {
  const byBatch = await db('users')
    .where({ tenant_id: tenantId, batch_uid: id, kind: 'person' })
    .first('id', 'name', 'batch_uid');
  if (byBatch) return { id: byBatch.id, name: byBatch.name ?? byBatch.batch_uid };
  if (!id.startsWith('lti:')) return null;
  const mapped = await db('external_ids as x')
    .join('users as u', 'u.id', 'x.local_id')
    .where({ 'x.tenant_id': tenantId, 'x.kind': 'user', 'x.external_id': id.slice(4) })
    .first('u.id', 'u.name');
  return mapped ? { id: mapped.id, name: mapped.name ?? id } : null;
}

export async function approvalModeOf(db: Executor, tenantId: number): Promise<ApprovalMode> {
  const row = await db('tenants').where({ id: tenantId }).first('approval_mode');
  return (row?.approval_mode as ApprovalMode | undefined) ?? 'off';
}

/** The final grade status of one course (the course must be the tenant's). */
export async function finalGradeStatus(
  db: Executor,
  tenantId: number,
  courseId: number,
): Promise<FinalGradeStatus | null> {
  const course = await db('courses')
    .where({ id: courseId, tenant_id: tenantId })
    .first('id', 'tenant_id', 'batch_uid', 'title');
  if (!course) return null;
  const approvalMode = await approvalModeOf(db, tenantId);
  const column = await finalColumnOf(db, courseId);
  const { pending, approved, rejected } = await latestSubmissions(db, courseId);
  const submittedValues = await snapshotOf(db, pending?.id);
  const approvedValues = await snapshotOf(db, approved?.id);
  const learners = await db('enrollments as e')
    .join('users as u', 'u.id', 'e.user_id')
    .where({ 'e.course_id': courseId, 'e.role': 'Learner' })
    .orderBy([{ column: 'u.name' }, { column: 'u.id' }])
    .select('u.id', 'u.name', 'u.batch_uid');
  const subs = await ltiSubs(
    db,
    tenantId,
    learners.filter((l) => !l.batch_uid).map((l) => l.id as number),
  );

  const flags: Flag[] = [];
  const current = new Map<number, FinalValue & { excused: boolean }>();
  const missing = new Map<number, string[]>();
  const excusedInputs = new Set<number>();
  const lastSent = new Map<number, FinalValue & { at: string; status: string }>();
  if (!column) {
    flags.push({
      code: 'no_final_column',
      message:
        'This course has no final grade column yet: choose the column that holds the final grade.',
    });
  } else {
    const subs = await db('submissions as s')
      .where({ 's.course_id': courseId, 's.column_id': column.id })
      .select('s.id', 's.user_id', 's.score', 's.grade', 's.excused', 's.graded_at');
    const versions = new Map<number, number>();
    if (subs.length > 0) {
      for (const r of await db('grade_versions')
        .where({ course_id: courseId, column_id: column.id })
        .groupBy('submission_id')
        .select('submission_id', db.raw('max(id) as version_id')))
        versions.set(r.submission_id, Number(r.version_id));
    }
    for (const s of subs) {
      if (s.score === null && s.grade === null && !toBool(s.excused)) continue;
      current.set(s.user_id, {
        score: s.score === null ? null : Number(s.score),
        grade: s.grade,
        pointsPossible: column.points,
        versionId: versions.get(s.id) ?? null,
        gradedAt: toIso(s.graded_at),
        excused: toBool(s.excused),
      });
    }
    if (column.calculation) {
      const calcRows = await db('grade_columns')
        .where({ course_id: courseId })
        .whereNull('deleted_at')
        .select('id', 'name', 'calculation');
      const calculations = new Map<number, Calculation | null>(
        calcRows.map((r) => [r.id, parseJson<Calculation>(r.calculation)]),
      );
      const names = new Map<number, string>(calcRows.map((r) => [r.id, r.name]));
      const counted = countedColumns(column.id, calculations).filter((id) => names.has(id));
      const graded = new Map<number, Set<number>>();
      if (counted.length > 0) {
        for (const r of await db('submissions')
          .where({ course_id: courseId })
          .whereIn('column_id', counted)
          .select('column_id', 'user_id', 'score', 'grade', 'excused')) {
          if (toBool(r.excused)) excusedInputs.add(r.user_id);
          if (r.score === null && r.grade === null && !toBool(r.excused)) continue;
          let set = graded.get(r.user_id);
          if (!set) graded.set(r.user_id, (set = new Set()));
          set.add(r.column_id);
        }
      }
      for (const learner of learners) {
        const have = graded.get(learner.id);
        const absent = counted.filter((id) => !have?.has(id)).map((id) => names.get(id)!);
        if (absent.length > 0) missing.set(learner.id, absent);
      }
    }
    for (const r of await db('exchange_sends')
      .where({ column_id: column.id, kind: 'summary' })
      .whereIn('status', ['sent', 'failed'])
      .orderBy('id')
      .select('user_id', 'score', 'grade', 'version_id', 'status', 'updated_at')) {
      lastSent.set(r.user_id, {
        score: r.score === null ? null : Number(r.score),
        grade: r.grade,
        pointsPossible: column.points,
        versionId: r.version_id === null ? null : Number(r.version_id),
        gradedAt: null,
        at: toIso(r.updated_at)!,
        status: r.status,
      });
    }
  }

  const sentNow = new Set<number>();
  const out: LearnerFinalGrade[] = learners.map((learner) => {
    const now = current.get(learner.id) ?? null;
    const learnerFlags: Flag[] = [];
    if (column) {
      if (!now || (now.score === null && now.grade === null))
        learnerFlags.push({ code: 'no_final_grade', message: 'has no final grade yet' });
      else if (
        column.symbols &&
        now.score !== null &&
        symbolFor(column.symbols, now.score, column.points) === null
      )
        learnerFlags.push({
          code: 'not_on_scale',
          message: `the final grade ${now.grade ?? now.score} is not on the column's grade scale`,
        });
      const absent = missing.get(learner.id);
      if (absent)
        learnerFlags.push({
          code: 'missing_grade',
          message: `no grade yet in ${absent.join(', ')}`,
        });
      if (now?.excused || excusedInputs.has(learner.id))
        learnerFlags.push({ code: 'excused', message: 'a counted grade is excused' });
    }
    const approvedValue = approvedValues.get(learner.id) ?? null;
    const submittedValue = submittedValues.get(learner.id) ?? null;
    const sent = lastSent.get(learner.id) ?? null;
    const changed = approvedValue !== null && !sameValue(approvedValue, now);
    if (changed)
      learnerFlags.push({
        code: 'changed_since_approval',
        message: `changed since it was approved (approved ${approvedValue.grade ?? approvedValue.score}, now ${now?.grade ?? now?.score ?? 'none'})`,
      });
    if (sent?.status === 'failed')
      learnerFlags.push({ code: 'send_failed', message: 'the last send to the SIS failed' });
    const blocked = learnerFlags.some((f) => BLOCKING_FLAGS.includes(f.code));
    const currentValue: FinalValue | null = now
      ? {
          score: now.score,
          grade: now.grade,
          pointsPossible: now.pointsPossible,
          versionId: now.versionId,
          gradedAt: now.gradedAt,
        }
      : null;
    const outgoing =
      approvalMode === 'required' ? approvedValue : blocked || !column ? null : currentValue;
    const wasSent =
      sent?.status === 'sent' &&
      outgoing !== null &&
      (sent.versionId !== null && outgoing.versionId !== null
        ? sent.versionId === outgoing.versionId
        : sameValue(sent, outgoing));
    if (wasSent) sentNow.add(learner.id);
    let state: LearnerState = 'draft';
    if (submittedValue) state = 'submitted';
    else if (changed) state = 'changed_since_approval';
    else if (rejected && rejected.id > (approved?.id ?? 0)) state = 'rejected';
    else if (approvedValue) state = wasSent ? 'sent' : 'approved';
    else if (approvalMode === 'off' && wasSent) state = 'sent';
    return {
      userId: learner.id,
      personId: personId(learner, subs),
      name: learner.name ?? learner.batch_uid ?? `User ${learner.id}`,
      current: currentValue,
      approved: approvedValue,
      submitted: submittedValue,
      lastSent: sent
        ? {
            score: sent.score,
            grade: sent.grade,
            pointsPossible: sent.pointsPossible,
            versionId: sent.versionId,
            gradedAt: null,
            at: sent.at,
          }
        : null,
      state,
      flags: learnerFlags,
      blocked,
      outgoing,
    };
  });

  const count = async (id: number | undefined) =>
    id === undefined
      ? 0
      : Number(
          (await db('final_grade_snapshots').where({ submission_id: id }).count({ n: '*' }).first())
            ?.n ?? 0,
        );
  const carried = out.filter((l) => l.outgoing !== null);
  return {
    course: {
      id: course.id,
      tenantId: course.tenant_id,
      batchUid: course.batch_uid,
      title: course.title,
    },
    approvalMode,
    finalColumn: column
      ? {
          id: column.id,
          name: column.name,
          points: column.points,
          scale: column.symbols?.map((s) => s.symbol) ?? null,
          calculated: column.calculation !== null,
        }
      : null,
    flags,
    learners: out,
    pending: pending ? submissionSummary(pending, await count(pending.id)) : null,
    approved: approved ? submissionSummary(approved, await count(approved.id)) : null,
    rejected: rejected ? submissionSummary(rejected, await count(rejected.id)) : null,
    send: {
      finalGrades: carried.length,
      changedSinceLastSend: carried.filter((l) => !sentNow.has(l.userId)).length,
      blocked: out.filter((l) => l.blocked).length,
    },
  };
}
