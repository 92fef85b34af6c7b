import type { Trx } from '../db/knex.js';
import { lockCourses } from '../db/locks.js';
import { loadCourseColumns } from '../grades/course-columns.js';
import { GradeBatch } from '../grades/grade-batch.js';
import { gradeText } from '../grades/grading.js';
import { recalculate } from '../grades/recalculate.js';
import { toJson } from '../db/json.js';
import { ConflictError, NotFoundError } from '../http/errors.js';
import { enqueueScoreSends } from '../grades/lms-score-sends.js';

/**
 * Repairs a person (or an explicit command) asks for, one grade at a time,
 * each recorded with who asked: send gradebridge's grade to the LMS again
 * (as a score), send it to the SIS again (in the next exchange), or take the
 * LMS's value as a new version. Nothing is resent otherwise.
 */
export const REPAIR_ACTIONS = ['resend_lms', 'resend_sis', 'accept_lms'] as const;
export type RepairAction = (typeof REPAIR_ACTIONS)[number];

export interface RepairInput {
  tenantId: number;
  courseId: number;
  columnId: number;
  userId: number;
  action: RepairAction;
  actor: { userId: number | null; name: string };
  now: string;
}

export async function repair(trx: Trx, input: RepairInput): Promise<{ done: string }> {
  await lockCourses(trx, [input.courseId]);
  const column = await trx('grade_columns')
    .where({ id: input.columnId, course_id: input.courseId, tenant_id: input.tenantId })
    .whereNull('deleted_at')
    .first('id', 'name');
  if (!column) throw new NotFoundError('There is no such column in this course.');
  let done: string;
  let details: Record<string, unknown> = {};
  if (input.action === 'resend_lms') {
    const linked = await trx('external_ids')
      .where({ tenant_id: input.tenantId, kind: 'lineitem', local_id: input.columnId })
      .first('id');
    if (!linked) throw new ConflictError(`"${column.name}" is not linked to an LMS line item.`);
    const queued = await enqueueScoreSends(
      trx,
      input.tenantId,
      [{ columnId: input.columnId, userId: input.userId }],
      input.now,
    );
    done =
      queued > 0
        ? 'the grade is being sent to the LMS again'
        : 'a send to the LMS was already waiting';
  } else if (input.action === 'resend_sis') {
    // Forget that it was sent: the next exchange that asks for it carries it again.
    const n = await trx('exchange_items')
      .where({ tenant_id: input.tenantId, column_id: input.columnId, user_id: input.userId })
      .whereIn('kind', ['score', 'summary'])
      .update({ sent_hash: null, status: 'pending', updated_at: input.now });
    done =
      n > 0
        ? 'the grade goes to the SIS again with the next exchange'
        : 'the grade was never sent; it goes with the next exchange';
    details = { items: n };
  } else {
    const lms = await trx('lms_grades')
      .where({ column_id: input.columnId, user_id: input.userId })
      .whereNotNull('lms_read_at')
      .orderBy('lms_read_at', 'desc')
      .first('lms_score', 'lms_has_score', 'lms_read_at', 'line_item');
    if (!lms) throw new ConflictError('The LMS has not been read for this grade yet: pull first.');
    const score = lms.lms_has_score ? Number(lms.lms_score) : null;
    const columns = (await loadCourseColumns(trx, input.tenantId, [input.courseId])).get(
      input.courseId,
    )!;
    const info = columns.live(input.columnId)!;
    const batch = new GradeBatch(trx, input.tenantId, input.now);
    await batch.load([{ columnId: input.columnId, userId: input.userId }]);
    const change = { type: 'GradeReconciled', user: input.actor.name };
    const recorded = batch.record(
      {
        courseId: input.courseId,
        columnId: input.columnId,
        userId: input.userId,
        score,
        grade: score === null ? null : gradeText(info, score, info.points),
        pointsPossible: info.points,
        gradedAt: input.now,
        graderId: input.actor.userId,
        // The LMS's value: it is not sent back to the LMS.
        source: 'ags',
        idempotencyKey: `reconcile:accept:${input.columnId}:${input.userId}:${input.now}`,
      },
      change,
    );
    if (recorded)
      await recalculate(batch, columns, [input.columnId], [input.userId], {
        gradedAt: input.now,
        keyPrefix: `reconcile:${input.columnId}:${input.userId}:${input.now}`,
        change,
      });
    await batch.flush();
    done = recorded
      ? `took the LMS's value (${score ?? 'none'})`
      : "gradebridge already holds the LMS's value";
    details = { score, readAt: lms.lms_read_at };
  }
  await trx('reconcile_actions').insert({
    tenant_id: input.tenantId,
    course_id: input.courseId,
    column_id: input.columnId,
    user_id: input.userId,
    action: input.action,
    actor_id: input.actor.userId,
    actor_name: input.actor.name,
    details: toJson({ ...details, done }),
    at: input.now,
  });
  return { done };
}
