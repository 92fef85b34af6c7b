import { inList, insertRows, listParam, readRows } from '../db/bulk.js';
import type { Executor, Trx } from '../db/knex.js';
import { lockCourses } from '../db/locks.js';
import { toIso } from '../db/time.js';
import { BadRequestError, ConflictError, ForbiddenError, NotFoundError } from '../http/errors.js';
import type { GradeFollower } from './followers.js';
import {
  APPROVAL_MODES,
  finalGradeStatus,
  sameValue,
  submissionSummary,
  type ApprovalMode,
  type SubmissionSummary,
} from './final-grades.js';
import { parseJson, toJson } from '../db/json.js';

/**
 * The final-grade workflow: course staff submit a snapshot of the course's
 * final grades, an approver (not the submitter) approves or rejects it with
 * a comment, and an approval locks the snapshot as what the SIS receives
 * while the tenant requires approval. Every step is an event.
 */

/** Who takes a step, as every surface resolves them. */
export interface Actor {
  /** users.id of the person (an API client's grader identity for a client); null for the command line without --user. */
  userId: number | null;
  name: string;
  /** Whether they may approve: a named approver, an LTI administrator, or a client with the approval scope. */
  canApprove: boolean;
}

export async function setApprovalMode(
  trx: Trx,
  tenantId: number,
  mode: ApprovalMode,
  now: string,
): Promise<void> {
  if (!APPROVAL_MODES.includes(mode))
    throw new BadRequestError(`approval mode must be ${APPROVAL_MODES.join(' or ')}`);
  const n = await trx('tenants')
    .where({ id: tenantId })
    .update({ approval_mode: mode, updated_at: now });
  if (n === 0) throw new NotFoundError(`tenant ${tenantId} does not exist`);
}

/** Names a person an approver of the tenant (source `cli`), or records an LTI administrator's launch (`lti`). */
export async function addApprover(
  trx: Trx,
  tenantId: number,
  userId: number,
  source: 'cli' | 'lti',
  now: string,
): Promise<boolean> {
  const existing = await trx('approvers')
    .where({ tenant_id: tenantId, user_id: userId })
    .first('id');
  if (existing) return false;
  await trx('approvers').insert({ tenant_id: tenantId, user_id: userId, source, created_at: now });
  return true;
}

/** Removes an approver; `source` limits it (a launch without the role removes only what a launch added). */
export async function removeApprover(
  trx: Trx,
  tenantId: number,
  userId: number,
  source?: 'cli' | 'lti',
): Promise<boolean> {
  const q = trx('approvers').where({ tenant_id: tenantId, user_id: userId });
  if (source) q.where({ source });
  return (await q.delete()) > 0;
}

export async function isApprover(db: Executor, tenantId: number, userId: number): Promise<boolean> {
  return !!(await db('approvers').where({ tenant_id: tenantId, user_id: userId }).first('id'));
}

export async function listApprovers(db: Executor, tenantId: number) {
  return db('approvers as a')
    .join('users as u', 'u.id', 'a.user_id')
    .where({ 'a.tenant_id': tenantId })
    .orderBy('a.id')
    .select(
      'u.id as userId',
      'u.batch_uid as batchUid',
      'u.name',
      'a.source',
      'a.created_at as since',
    );
}

async function recordEvent(
  trx: Trx,
  e: {
    tenantId: number;
    courseId: number;
    submissionId: number | null;
    kind: 'submitted' | 'approved' | 'rejected' | 'replaced' | 'changed_since_approval';
    learnerId?: number | null;
    actor: { userId: number | null; name: string };
    comment?: string | null;
    details?: unknown;
    now: string;
  },
): Promise<void> {
  await trx('final_grade_events').insert({
    tenant_id: e.tenantId,
    course_id: e.courseId,
    submission_id: e.submissionId,
    kind: e.kind,
    learner_id: e.learnerId ?? null,
    actor_id: e.actor.userId,
    actor_name: e.actor.name,
    comment: e.comment ?? null,
    details: e.details === undefined ? null : toJson(e.details),
    at: e.now,
  });
}

async function submissionRow(trx: Trx, tenantId: number, id: number) {
  const row = await trx('final_grade_submissions').where({ id, tenant_id: tenantId }).first('*');
  if (!row) throw new NotFoundError(`There is no submission ${id}.`);
  return row;
}

async function summaryOf(trx: Trx, row: Record<string, unknown>): Promise<SubmissionSummary> {
  const n = await trx('final_grade_snapshots')
    .where({ submission_id: row.id as number })
    .count({ n: '*' })
    .first();
  return submissionSummary(row, Number(n?.n ?? 0));
}

/**
 * Submits a course's final grades for approval: a snapshot of every learner's
 * final grade that is not blocked. A submission still waiting is replaced.
 */
export async function submitFinalGrades(
  trx: Trx,
  input: { tenantId: number; courseId: number; actor: Actor; comment?: string | null; now: string },
): Promise<SubmissionSummary> {
  await lockCourses(trx, [input.courseId]);
  const status = await finalGradeStatus(trx, input.tenantId, input.courseId);
  if (!status) throw new NotFoundError('There is no such course.');
  if (!status.finalColumn)
    throw new ConflictError(
      'This course has no final grade column yet: choose the column that holds the final grade first.',
    );
  const values = status.learners.filter((l) => !l.blocked && l.current !== null);
  if (values.length === 0)
    throw new ConflictError('No learner has a final grade that can be submitted yet.');
  if (status.pending) {
    await trx('final_grade_submissions')
      .where({ id: status.pending.id })
      .update({ state: 'replaced' });
    await recordEvent(trx, {
      tenantId: input.tenantId,
      courseId: input.courseId,
      submissionId: status.pending.id,
      kind: 'replaced',
      actor: input.actor,
      comment: 'replaced by a newer submission',
      now: input.now,
    });
  }
  const [row] = await trx('final_grade_submissions')
    .insert({
      tenant_id: input.tenantId,
      course_id: input.courseId,
      column_id: status.finalColumn.id,
      state: 'submitted',
      submitted_by: input.actor.userId,
      submitted_by_name: input.actor.name,
      comment: input.comment || null,
      submitted_at: input.now,
    })
    .returning('*');
  await insertRows(
    trx,
    'final_grade_snapshots',
    values.map((l) => ({
      submission_id: row.id,
      user_id: l.userId,
      score: l.current!.score,
      grade: l.current!.grade,
      points_possible: l.current!.pointsPossible,
      version_id: l.current!.versionId,
      graded_at: l.current!.gradedAt,
    })),
  );
  await recordEvent(trx, {
    tenantId: input.tenantId,
    courseId: input.courseId,
    submissionId: row.id,
    kind: 'submitted',
    actor: input.actor,
    comment: input.comment || null,
    details: {
      column: status.finalColumn.name,
      learners: values.map((l) => ({
        person: l.personId,
        score: l.current!.score,
        grade: l.current!.grade,
      })),
      held: status.learners
        .filter((l) => l.blocked)
        .map((l) => ({ person: l.personId, why: l.flags.map((f) => f.code) })),
    },
    now: input.now,
  });
  return summaryOf(trx, row);
}

/** Approves or rejects a waiting submission; approving locks its snapshot as what the SIS receives. */
export async function decideSubmission(
  trx: Trx,
  input: {
    tenantId: number;
    submissionId: number;
    decision: 'approve' | 'reject';
    actor: Actor;
    comment?: string | null;
    now: string;
  },
): Promise<SubmissionSummary> {
  const found = await submissionRow(trx, input.tenantId, input.submissionId);
  await lockCourses(trx, [found.course_id]);
  const row = await submissionRow(trx, input.tenantId, input.submissionId);
  if (!input.actor.canApprove)
    throw new ForbiddenError('Only an approver can approve or reject final grades.');
  if (row.state !== 'submitted')
    throw new ConflictError(`Submission ${row.id} is ${row.state}, not waiting for a decision.`);
  if (input.actor.userId !== null && input.actor.userId === row.submitted_by)
    throw new ForbiddenError(
      'Nobody approves or rejects their own submission: another approver must decide.',
    );
  const comment = input.comment?.trim() || null;
  if (input.decision === 'reject' && !comment)
    throw new BadRequestError('A rejection needs a comment that tells the teacher what to change.');
  const state = input.decision === 'approve' ? 'approved' : 'rejected';
  await trx('final_grade_submissions').where({ id: row.id }).update({
    state,
    decided_by: input.actor.userId,
    decided_by_name: input.actor.name,
    decision_comment: comment,
    decided_at: input.now,
  });
  await recordEvent(trx, {
    tenantId: input.tenantId,
    courseId: row.course_id,
    submissionId: row.id,
    kind: state,
    actor: input.actor,
    comment,
    now: input.now,
  });
  return summaryOf(trx, await submissionRow(trx, input.tenantId, row.id));
}

export interface FinalGradeEvent {
  id: number;
  kind: string;
  submissionId: number | null;
  learnerId: number | null;
  actor: { userId: number | null; name: string };
  comment: string | null;
  details: unknown;
  at: string;
}

/** A course's workflow events, newest first; for one learner, those about them or their submissions. */
export async function finalGradeEvents(
  db: Executor,
  tenantId: number,
  courseId: number,
  options: { learnerId?: number; limit?: number } = {},
): Promise<FinalGradeEvent[]> {
  const q = db('final_grade_events as e')
    .where({ 'e.tenant_id': tenantId, 'e.course_id': courseId })
    .orderBy('e.id', 'desc')
    .limit(options.limit ?? 200)
    .select('e.*');
  if (options.learnerId !== undefined) {
    const learnerId = options.learnerId;
    q.where((w) =>
      w
        .where('e.learner_id', learnerId)
        .orWhere((x) =>
          x
            .whereNull('e.learner_id')
            .whereExists(
              db('final_grade_snapshots as sn')
                .whereRaw('sn.submission_id = e.submission_id')
                .where('sn.user_id', learnerId)
                .select(db.raw('1')),
            ),
        ),
    );
  }
  return (await q).map((r) => ({
    id: r.id,
    kind: r.kind,
    submissionId: r.submission_id,
    learnerId: r.learner_id,
    actor: { userId: r.actor_id, name: r.actor_name },
    comment: r.comment,
    details: parseJson(r.details),
    at: toIso(r.at)!,
  }));
}

/** The tenant's submissions waiting for a decision, oldest first. */
export async function pendingSubmissions(db: Executor, tenantId: number) {
  return db('final_grade_submissions as s')
    .join('courses as c', 'c.id', 's.course_id')
    .where({ 's.tenant_id': tenantId, 's.state': 'submitted' })
    .orderBy('s.id')
    .select(
      's.id',
      's.course_id as courseId',
      'c.batch_uid as courseBatchUid',
      'c.title as courseTitle',
      's.submitted_by_name as submittedBy',
      's.submitted_at as submittedAt',
      's.comment',
    );
}

/**
 * Follows grade changes: a learner's final grade that changes after it was
 * approved is still recorded as a version, and marked here as changed since
 * approval; the approved value stays what the SIS receives until a new
 * submission is approved.
 */
export const approvalFollower: GradeFollower = {
  name: 'final grade approval',
  follow: async (trx, batch) => {
    const columnIds = [...new Set(batch.changes.map((c) => c.columnId))];
    // A prepared statement on SQLite: this runs with every batch of grades.
    const approvedColumns = await readRows<{
      course_id: number;
      column_id: number;
      submission_id: number;
    }>(
      trx,
      `select course_id, column_id, max(id) as submission_id from final_grade_submissions
        where tenant_id = ? and state = 'approved' and column_id ${inList(trx, 'int')}
        group by course_id, column_id`,
      [batch.tenantId, listParam(trx, columnIds)],
    );
    if (approvedColumns.length === 0) return;
    for (const a of approvedColumns) {
      const changes = batch.changes.filter((c) => c.columnId === a.column_id);
      const snapshot = new Map<number, { score: number | null; grade: string | null }>();
      for (const r of await trx('final_grade_snapshots')
        .where({ submission_id: a.submission_id })
        .whereIn('user_id', [...new Set(changes.map((c) => c.userId))])
        .select('user_id', 'score', 'grade'))
        snapshot.set(r.user_id, { score: r.score, grade: r.grade });
      for (const c of changes) {
        const approved = snapshot.get(c.userId);
        if (!approved) continue;
        if (
          sameValue(
            {
              score: approved.score === null ? null : Number(approved.score),
              grade: approved.grade,
            },
            c,
          )
        )
          continue;
        await recordEvent(trx, {
          tenantId: batch.tenantId,
          courseId: a.course_id,
          submissionId: Number(a.submission_id),
          kind: 'changed_since_approval',
          learnerId: c.userId,
          actor: { userId: c.graderId, name: c.source },
          details: {
            approved: approved,
            now: { score: c.score, grade: c.grade },
            source: c.source,
          },
          now: batch.now,
        });
      }
    }
  },
};
