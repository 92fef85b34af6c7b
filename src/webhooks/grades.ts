import type { Trx } from '../db/knex.js';
import { lockCourses } from '../db/locks.js';
import {
  ensureEnrollments,
  ensureUsersByBatchUid,
  findCoursesByBatchUid,
} from '../courses/service.js';
import { loadCourseColumns, type ColumnInfo } from '../grades/course-columns.js';
import { GradeBatch, type GradeSource } from '../grades/grade-batch.js';
import { gradeText } from '../grades/grading.js';
import { effectivePoints, recalculate } from '../grades/recalculate.js';
import { findLocalIds, linkExternalId } from '../lti/mappings.js';

/** A grade an outside system reports, in terms gradebridge can resolve. */
export interface IncomingGrade {
  /** The course's SIS id (batch_uid). */
  courseBatchUid: string | null;
  /** Else the course through the sender's own id for it. */
  course?: { system: string; id: string } | null;
  column: {
    /** The column's name; a missing column is created with it. */
    name?: string | null;
    pointsPossible?: number | null;
    /** The sender's id for the column, remembered once the column is known. */
    external?: { system: string; id: string } | null;
  };
  user: {
    batchUid?: string | null;
    external?: { system: string; id: string } | null;
  };
  score: number | null;
  grade?: string | null;
  gradedAt: string;
  late?: boolean;
  missing?: boolean;
  excused?: boolean;
  workflowState?: string;
  source: GradeSource;
  idempotencyKey: string;
  changeUser: string;
}

export type ApplyResult =
  | { status: 'recorded' | 'unchanged'; courseId: number; columnId: number; userId: number }
  | { status: 'ignored'; reason: string };

const ignored = (reason: string): ApplyResult => ({ status: 'ignored', reason });

/**
 * Records one incoming grade as a version (when it differs from the current
 * one), recomputing the calculated columns that read it, in the caller's
 * transaction. What cannot be resolved (an unknown course or person, a
 * calculated or locked column) is reported as ignored, and nothing is written.
 */
export async function applyIncomingGrade(
  trx: Trx,
  tenantId: number,
  g: IncomingGrade,
  now: string,
): Promise<ApplyResult> {
  let courseId: number | null = null;
  let locked = false;
  if (g.courseBatchUid) {
    const found = (await findCoursesByBatchUid(trx, tenantId, [g.courseBatchUid])).get(
      g.courseBatchUid,
    );
    if (found) {
      courseId = found.id;
      locked = found.isLocked;
    }
  }
  if (courseId === null && g.course) {
    const row = await trx('external_ids')
      .where({
        tenant_id: tenantId,
        kind: 'course',
        system: g.course.system,
        external_id: g.course.id,
      })
      .first('local_id');
    if (row) courseId = row.local_id as number;
  }
  if (courseId === null) return ignored('unknown course');
  if (locked) return ignored('the course gradebook is locked');
  await lockCourses(trx, [courseId]);

  let userId: number | null = null;
  if (g.user.external) {
    userId =
      (await findLocalIds(trx, tenantId, 'user', g.user.external.system, [g.user.external.id])).get(
        g.user.external.id,
      ) ?? null;
  }
  if (userId === null && g.user.batchUid) {
    userId = (await ensureUsersByBatchUid(trx, tenantId, [g.user.batchUid], now)).get(
      g.user.batchUid,
    )!;
    if (g.user.external)
      await linkExternalId(
        trx,
        tenantId,
        'user',
        g.user.external.system,
        g.user.external.id,
        userId,
        now,
      );
  }
  if (userId === null) return ignored('unknown person');

  let columns = (await loadCourseColumns(trx, tenantId, [courseId])).get(courseId)!;
  let column: ColumnInfo | undefined;
  if (g.column.external) {
    const mapped = (
      await findLocalIds(trx, tenantId, 'assignment', g.column.external.system, [
        g.column.external.id,
      ])
    ).get(g.column.external.id);
    if (mapped) column = columns.live(mapped);
  }
  if (!column && g.column.name) column = columns.byName.get(g.column.name);
  if (!column && g.column.name) {
    const [row] = await trx('grade_columns')
      .insert({
        tenant_id: tenantId,
        course_id: courseId,
        name: g.column.name.slice(0, 333),
        item_type: 'ASSIGNMENT',
        points:
          g.column.pointsPossible && g.column.pointsPossible > 0 ? g.column.pointsPossible : 100,
        source: g.source === 'live_event' ? 'webhook' : g.source,
        created_at: now,
        updated_at: now,
      })
      .returning('id');
    columns = (await loadCourseColumns(trx, tenantId, [courseId])).get(courseId)!;
    column = columns.live(row.id as number);
  }
  if (!column) return ignored('unknown column');
  if (g.column.external)
    await linkExternalId(
      trx,
      tenantId,
      'assignment',
      g.column.external.system,
      g.column.external.id,
      column.id,
      now,
    );
  if (column.calculation) return ignored(`column "${column.name}" is calculated`);

  await ensureEnrollments(trx, tenantId, [{ courseId, userId }], 'Learner', 'webhook', now);
  const points = effectivePoints(column, columns);
  const grade =
    g.grade !== undefined && g.grade !== null
      ? g.grade
      : g.score === null
        ? null
        : gradeText(column, g.score, points);
  const batch = new GradeBatch(trx, tenantId, now);
  await batch.load([{ columnId: column.id, userId }]);
  const change = { type: 'GradeChanged', user: g.changeUser };
  const recorded = batch.record(
    {
      courseId,
      columnId: column.id,
      userId,
      score: g.score,
      grade,
      pointsPossible: points,
      gradedAt: g.gradedAt,
      graderId: null,
      source: g.source,
      idempotencyKey: g.idempotencyKey,
      workflowState: g.workflowState,
      late: g.late,
      missing: g.missing,
      excused: g.excused,
    },
    change,
  );
  if (recorded) {
    await recalculate(batch, columns, [column.id], [userId], {
      gradedAt: g.gradedAt,
      keyPrefix: `${g.idempotencyKey}:calc`,
      change: { type: 'GradeCalculated', user: g.changeUser },
    });
  }
  await batch.flush();
  return { status: recorded ? 'recorded' : 'unchanged', courseId, columnId: column.id, userId };
}
