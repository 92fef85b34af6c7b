import type { Trx } from '../db/knex.js';
import type { AppDeps } from '../deps.js';
import { requestFinalGrades } from '../exchange/jobs.js';
import { decideSubmission, submitFinalGrades, type Actor } from '../grades/final-grade-workflow.js';
import { approvalModeOf, type ApprovalMode } from '../grades/final-grades.js';
import type { SubmissionSummary } from '../grades/final-grades.js';
import { ConflictError } from '../http/errors.js';

/**
 * The workflow's steps as every surface takes them (REST API, command line,
 * course and approver pages): the grade model's step, then what follows it
 * outside gradebridge. An approval, where the tenant requires one, asks
 * Data Sync for an exchange of final grades so the approved values go out.
 */

export interface StepResult {
  submission: SubmissionSummary;
  /** Whether a send of the approved final grades to the SIS was queued. */
  sendQueued: boolean;
}

export async function submit(
  deps: AppDeps,
  trx: Trx,
  input: { tenantId: number; courseId: number; actor: Actor; comment?: string | null; now: string },
): Promise<StepResult> {
  return { submission: await submitFinalGrades(trx, input), sendQueued: false };
}

export async function decide(
  deps: AppDeps,
  trx: Trx,
  input: {
    tenantId: number;
    submissionId: number;
    decision: 'approve' | 'reject';
    actor: Actor;
    comment?: string | null;
    now: string;
  },
): Promise<StepResult> {
  const submission = await decideSubmission(trx, input);
  let sendQueued = false;
  if (
    submission.state === 'approved' &&
    (await approvalModeOf(trx, input.tenantId)) === 'required'
  ) {
    const conn = await deps.exchange.connection(trx, input.tenantId);
    const course = await trx('final_grade_submissions')
      .where({ id: submission.id })
      .first('course_id');
    if (conn)
      sendQueued =
        (await requestFinalGrades(trx, conn, course.course_id, input.actor.userId, input.now)) !==
        null;
  }
  return { submission, sendQueued };
}

/**
 * The teacher's button: with approval off, a send of the course's final
 * grades (only those: the label says "Send final grades"); with approval
 * required, a submission for approval.
 */
export async function teacherFinalGrades(
  deps: AppDeps,
  trx: Trx,
  input: { tenantId: number; courseId: number; actor: Actor; comment?: string | null; now: string },
): Promise<{ mode: ApprovalMode; submission?: SubmissionSummary; sendQueued: boolean }> {
  const mode = await approvalModeOf(trx, input.tenantId);
  if (mode === 'required') {
    const { submission } = await submit(deps, trx, input);
    return { mode, submission, sendQueued: false };
  }
  const conn = await deps.exchange.connection(trx, input.tenantId);
  if (!conn) throw new ConflictError('This school has no Data Sync connection.');
  const queued = await requestFinalGrades(trx, conn, input.courseId, input.actor.userId, input.now);
  return { mode, sendQueued: queued !== null };
}
