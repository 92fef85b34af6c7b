import { chooseFinalColumn } from '../courses/final-column.js';
import { isoNow, toIso } from '../db/time.js';
import { inTransaction } from '../db/transaction.js';
import type { AppDeps } from '../deps.js';
import { decide, teacherFinalGrades } from '../final-grades/actions.js';
import {
  finalGradeEvents,
  isApprover,
  pendingSubmissions,
  type Actor,
  type FinalGradeEvent,
} from '../grades/final-grade-workflow.js';
import {
  finalColumnOf,
  finalGradeStatus,
  sameValue,
  type FinalGradeStatus,
  type FinalValue,
  type LearnerFinalGrade,
} from '../grades/final-grades.js';
import { ConflictError, NotFoundError } from '../http/errors.js';
import { reconcileReport, type ReconcileItem } from '../reconcile/report.js';
import type { LtiSession } from './session.js';

/**
 * What the LTI pages show and do of the final-grade workflow: the course
 * page's state of the course's final grades, the review before a teacher
 * submits or sends them, the approver's list of waiting submissions, and the
 * events of one learner's final grade. Reads go through the grade model's
 * status and events; steps through the actions every surface shares.
 */

/** A verified LTI session as the pages use it. */
export type PageSession = LtiSession & { visibleUserIds: number[] };

/** How events are listed on the course page: the latest first, this many. */
const COURSE_EVENTS = 50;

async function actorOf(deps: AppDeps, s: PageSession): Promise<Actor> {
  const user = await deps.db('users').where({ id: s.userId }).first('name', 'email', 'batch_uid');
  return {
    userId: s.userId,
    name: user?.name ?? user?.email ?? user?.batch_uid ?? `User ${s.userId}`,
    canApprove: await isApprover(deps.db, s.tenantId, s.userId),
  };
}

/** What the teacher's confirm button would do now, learner by learner. */
export interface Review {
  status: FinalGradeStatus;
  /** Learners whose final grade the submission (approval required) or the send (approval off) carries. */
  carried: Array<{ learner: LearnerFinalGrade; value: FinalValue }>;
  /** How many of those differ from what was last sent to the SIS. */
  changedSinceLastSend: number;
  /** Learners held back, with why (their flags). */
  held: LearnerFinalGrade[];
  /** Learners whose final grade changed after it was approved. */
  changedSinceApproval: LearnerFinalGrade[];
  /** Whether the tenant has a Data Sync connection (a send needs one). */
  connected: boolean;
  /** The tenant's time zone, for the times the pages show. */
  timeZone: string;
  /**
   * The reconciliation of the final column, learner by learner (the review's
   * dry run): what the SIS accepted, the state, and whether a send now carries it.
   */
  compared?: Map<number, ReconcileItem>;
}

export function reviewOf(status: FinalGradeStatus, connected: boolean, timeZone = 'UTC'): Review {
  const required = status.approvalMode === 'required';
  const carried = status.learners.flatMap((learner) => {
    const value = required ? (learner.blocked ? null : learner.current) : learner.outgoing;
    return value ? [{ learner, value }] : [];
  });
  return {
    status,
    carried,
    changedSinceLastSend: required
      ? carried.filter(
          ({ learner, value }) =>
            !sameValue(learner.lastSent, value) ||
            learner.flags.some((f) => f.code === 'send_failed'),
        ).length
      : status.send.changedSinceLastSend,
    held: status.finalColumn ? status.learners.filter((l) => l.blocked) : [],
    changedSinceApproval: status.learners.filter((l) =>
      l.flags.some((f) => f.code === 'changed_since_approval'),
    ),
    connected,
    timeZone,
  };
}

/** The tenant's time zone (UTC when unset). */
export async function tenantTimeZone(deps: AppDeps, tenantId: number): Promise<string> {
  const row = await deps.db('tenants').where({ id: tenantId }).first('time_zone');
  return (row?.time_zone as string | undefined) || 'UTC';
}

export interface CourseFinalGrades {
  review: Review;
  events: FinalGradeEvent[];
  /** The course's columns, to choose the final one from when it has none. */
  columns: Array<{ id: number; name: string; points: number; calculated: boolean }>;
  learnerNames: Map<number, string>;
}

async function statusOf(deps: AppDeps, s: PageSession): Promise<FinalGradeStatus> {
  const status = await finalGradeStatus(deps.db, s.tenantId, s.courseId);
  if (!status) throw new NotFoundError('This course is no longer known; launch again.');
  return status;
}

/** The course page's final grades (staff): the state, what a send or submission carries, and the events. */
export async function courseFinalGrades(
  deps: AppDeps,
  s: PageSession,
  /** What the caller already read of the tenant: its time zone, whether Data Sync is connected. */
  tenant: { timeZone: string; connected: boolean },
): Promise<CourseFinalGrades> {
  const status = await statusOf(deps, s);
  const connected = tenant.connected;
  const columns = status.finalColumn
    ? []
    : (
        await deps
          .db('grade_columns')
          .where({ course_id: s.courseId })
          .whereNull('deleted_at')
          .orderBy(['sequence_num', 'id'])
          .select('id', 'name', 'points', 'calculation')
      ).map((c) => ({
        id: c.id as number,
        name: c.name as string,
        points: Number(c.points),
        calculated: !!c.calculation,
      }));
  return {
    review: reviewOf(status, connected, tenant.timeZone),
    events: await finalGradeEvents(deps.db, s.tenantId, s.courseId, { limit: COURSE_EVENTS }),
    columns,
    learnerNames: new Map(status.learners.map((l) => [l.userId, l.name])),
  };
}

/** The review a teacher confirms (staff). */
export async function finalGradeReview(deps: AppDeps, s: PageSession): Promise<Review> {
  const status = await statusOf(deps, s);
  const review = reviewOf(
    status,
    !!(await deps.exchange.connection(deps.db, s.tenantId)),
    await tenantTimeZone(deps, s.tenantId),
  );
  if (!status.finalColumn) return review;
  // The same report reconciliation keeps, read only: nothing is recorded by looking.
  const report = await reconcileReport(deps.db, s.tenantId, {
    courseId: s.courseId,
    now: isoNow(deps.clock),
    unknownAfterMinutes: deps.config.RECONCILE_UNKNOWN_AFTER_MINUTES,
  });
  const finalId = status.finalColumn.id;
  review.compared = new Map(
    report.items.filter((i) => i.columnId === finalId && i.sis).map((i) => [i.userId, i]),
  );
  return review;
}

/** How many submissions wait for this person's decision, or null when they are no approver. */
export async function approverWaiting(deps: AppDeps, s: PageSession): Promise<number | null> {
  if (!(await isApprover(deps.db, s.tenantId, s.userId))) return null;
  const row = await deps
    .db('final_grade_submissions')
    .where({ tenant_id: s.tenantId, state: 'submitted' })
    .count({ n: '*' })
    .first();
  return Number(row?.n ?? 0);
}

export async function canApprove(deps: AppDeps, s: PageSession): Promise<boolean> {
  return isApprover(deps.db, s.tenantId, s.userId);
}

export interface WaitingSubmission {
  id: number;
  courseTitle: string;
  courseBatchUid: string | null;
  columnName: string;
  submittedBy: string;
  submittedAt: string;
  comment: string | null;
  /** The approver looking is the one who submitted it. */
  own: boolean;
  learners: Array<{
    userId: number;
    personId: string;
    name: string;
    submitted: FinalValue;
    /** The learner's final grade now, when it differs from the submitted one. */
    changedTo: FinalValue | null | 'none';
    notes: string[];
    flags: string[];
  }>;
  /** Learners of the course not in the submission, with why. */
  held: Array<{ name: string; personId: string; reasons: string[]; flags: string[] }>;
}

/** The tenant's submissions waiting for a decision, each with its review (for an approver). */
export async function waitingSubmissions(
  deps: AppDeps,
  s: PageSession,
): Promise<WaitingSubmission[]> {
  const out: WaitingSubmission[] = [];
  for (const p of await pendingSubmissions(deps.db, s.tenantId)) {
    const row = await deps
      .db('final_grade_submissions as f')
      .join('grade_columns as c', 'c.id', 'f.column_id')
      .where({ 'f.id': p.id })
      .first('f.submitted_by', 'c.name as column_name');
    const status = await finalGradeStatus(deps.db, s.tenantId, p.courseId);
    const byUser = new Map((status?.learners ?? []).map((l) => [l.userId, l]));
    const snapshot = await deps
      .db('final_grade_snapshots as sn')
      .join('users as u', 'u.id', 'sn.user_id')
      .where({ 'sn.submission_id': p.id })
      .orderBy([{ column: 'u.name' }, { column: 'u.id' }])
      .select(
        'sn.user_id',
        'sn.score',
        'sn.grade',
        'sn.points_possible',
        'sn.version_id',
        'sn.graded_at',
        'u.name',
        'u.batch_uid',
      );
    const inSnapshot = new Set(snapshot.map((r) => r.user_id as number));
    out.push({
      id: p.id,
      courseTitle: p.courseTitle,
      courseBatchUid: p.courseBatchUid,
      columnName: row?.column_name ?? 'Final grade',
      submittedBy: p.submittedBy,
      submittedAt: toIso(p.submittedAt)!,
      comment: p.comment,
      own: row?.submitted_by === s.userId,
      learners: snapshot.map((r) => {
        const now = byUser.get(r.user_id);
        const submitted: FinalValue = {
          score: r.score === null ? null : Number(r.score),
          grade: r.grade,
          pointsPossible: r.points_possible === null ? null : Number(r.points_possible),
          versionId: r.version_id === null ? null : Number(r.version_id),
          gradedAt: toIso(r.graded_at),
        };
        const flags = (now?.flags ?? []).filter((f) => f.code !== 'changed_since_approval');
        return {
          userId: r.user_id,
          personId: now?.personId ?? r.batch_uid ?? `#${r.user_id}`,
          name: now?.name ?? r.name ?? r.batch_uid ?? `User ${r.user_id}`,
          submitted,
          changedTo: !now?.current
            ? now
              ? 'none'
              : null
            : sameValue(now.current, submitted)
              ? null
              : now.current,
          notes: flags.map((f) => f.message),
          flags: flags.map((f) => f.code),
        };
      }),
      held: (status?.learners ?? [])
        .filter((l) => !inSnapshot.has(l.userId))
        .map((l) => ({
          name: l.name,
          personId: l.personId,
          reasons: l.flags.length
            ? l.flags.map((f) => f.message)
            : ['was not in the course or had no final grade when it was submitted'],
          flags: l.flags.map((f) => f.code),
        })),
    });
  }
  return out;
}

/** What a staff step did, in a sentence, and the job it queued (a send), if any. */
export interface StepDone {
  message: string;
  jobId: number | null;
}

/** The id of the job waiting under a queue key (a send already queued answers with it). */
export async function queuedJobId(deps: AppDeps, queueKey: string): Promise<number | null> {
  const row = await deps.db('jobs').where({ queue_key: queueKey }).first('id');
  return row ? Number(row.id) : null;
}

/** The confirm button of the review: submits for approval, or (approval off) queues a send. */
export async function teacherConfirms(
  deps: AppDeps,
  s: PageSession,
  comment: string | null,
): Promise<StepDone> {
  const actor = { ...(await actorOf(deps, s)), canApprove: false };
  const result = await inTransaction(deps.db, (trx) =>
    teacherFinalGrades(deps, trx, {
      tenantId: s.tenantId,
      courseId: s.courseId,
      actor,
      comment,
      now: isoNow(deps.clock),
    }),
  );
  if (result.mode === 'required')
    return {
      message: `${result.submission!.learners} final grades are submitted for approval.`,
      jobId: null,
    };
  return {
    message: result.sendQueued
      ? 'Final grades are being sent to the SIS.'
      : 'A send of final grades was already queued.',
    jobId: await queuedJobId(deps, `datasync.request:${s.courseId}`),
  };
}

/** An approver's decision on the approvals page. */
export async function approverDecides(
  deps: AppDeps,
  s: PageSession,
  input: { submissionId: number; decision: 'approve' | 'reject'; comment: string | null },
): Promise<StepDone> {
  const actor = await actorOf(deps, s);
  const result = await inTransaction(deps.db, (trx) =>
    decide(deps, trx, {
      tenantId: s.tenantId,
      submissionId: input.submissionId,
      decision: input.decision,
      actor,
      comment: input.comment,
      now: isoNow(deps.clock),
    }),
  );
  const n = result.submission.learners;
  if (result.submission.state === 'rejected')
    return {
      message: `Rejected: the teacher sees your comment and can submit again.`,
      jobId: null,
    };
  if (!result.sendQueued)
    return { message: `Approved: ${n} final grades are what the SIS receives.`, jobId: null };
  const course = await deps
    .db('final_grade_submissions')
    .where({ id: result.submission.id })
    .first('course_id');
  return {
    message: `Approved: ${n} final grades are being sent to the SIS.`,
    jobId: await queuedJobId(deps, `datasync.request:${course.course_id}`),
  };
}

/** This approver's latest decision in the tenant, for the approvals page. */
export async function latestDecision(deps: AppDeps, s: PageSession) {
  const row = await deps
    .db('final_grade_submissions as f')
    .join('courses as c', 'c.id', 'f.course_id')
    .where({ 'f.tenant_id': s.tenantId, 'f.decided_by': s.userId })
    .whereIn('f.state', ['approved', 'rejected'])
    .orderBy('f.decided_at', 'desc')
    .orderBy('f.id', 'desc')
    .first('f.id', 'f.state', 'f.decided_at', 'c.title');
  if (!row) return null;
  const learners = await deps
    .db('final_grade_snapshots')
    .where({ submission_id: row.id })
    .count({ n: '*' })
    .first();
  return {
    decision: row.state as 'approved' | 'rejected',
    courseTitle: row.title as string,
    at: toIso(row.decided_at)!,
    learners: Number(learners?.n ?? 0),
  };
}

/** Makes a column the course's final grade when it has none (staff). Returns a notice. */
export async function chooseColumn(
  deps: AppDeps,
  s: PageSession,
  columnId: number,
): Promise<string> {
  const actor = await actorOf(deps, s);
  const result = await inTransaction(deps.db, (trx) =>
    chooseFinalColumn(trx, {
      tenantId: s.tenantId,
      courseId: s.courseId,
      columnId,
      changedBy: actor.name,
      now: isoNow(deps.clock),
    }),
  );
  if (typeof result === 'string') throw new ConflictError(result);
  const name = result.name.length > 80 ? `${result.name.slice(0, 79)}…` : result.name;
  return result.as === 'external'
    ? `${name} is now the final grade column (the course's external grade column).`
    : `${name} is now the final grade column (a weighted or total column marked final).`;
}

/** The workflow events of a learner's final grade, when the column is the course's final column (staff). */
export async function learnerFinalGradeEvents(
  deps: AppDeps,
  s: PageSession,
  columnId: number,
  learnerId: number,
): Promise<FinalGradeEvent[] | null> {
  if (!s.staff) return null;
  const final = await finalColumnOf(deps.db, s.courseId);
  if (final?.id !== columnId) return null;
  return finalGradeEvents(deps.db, s.tenantId, s.courseId, { learnerId });
}
