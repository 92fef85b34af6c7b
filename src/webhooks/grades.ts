import type { Trx } from '../db/knex.js';
import { lockCourses } from '../db/locks.js';
import { toBool } from '../db/time.js';
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
  /**
   * When the sender made the change (the event's own time). A grade changed
   * after it is not replaced: the event is kept as a late version. Without
   * it, events take effect in the order they arrive.
   */
  asOf?: string | null;
  late?: boolean;
  missing?: boolean;
  excused?: boolean;
  workflowState?: string;
  source: GradeSource;
  idempotencyKey: string;
  changeUser: string;
}

export type ApplyResult =
  | {
      /** recorded: the current grade; late: a version only (a newer grade stands); unchanged: nothing. */
      status: 'recorded' | 'late' | 'unchanged';
      courseId: number;
      columnId: number;
      userId: number;
    }
  | { status: 'ignored'; reason: string };

const ignored = (reason: string): ApplyResult => ({ status: 'ignored', reason });

/**
 * Records one incoming grade as a version (when it differs from the current
 * one), recomputing the calculated columns that read it, in the caller's
 * transaction. A grade as of a time older than the current grade's change is
 * a late version: in the history, but the current grade (and so the columns
 * calculated from it) stays. What cannot be resolved (an unknown course or person, a
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
  if (g.course) {
    const link = {
      tenant_id: tenantId,
      kind: 'course',
      system: g.course.system,
      external_id: g.course.id,
    };
    if (courseId === null) {
      const row = await trx('external_ids')
        .join('gradebooks', 'gradebooks.course_id', 'external_ids.local_id')
        .where(Object.fromEntries(Object.entries(link).map(([k, v]) => [`external_ids.${k}`, v])))
        .first('external_ids.local_id', 'gradebooks.is_locked');
      if (row) {
        courseId = row.local_id as number;
        locked = toBool(row.is_locked);
      }
    } else {
      // The sender's id for the course, remembered: Canvas's Caliper events name the course by it alone.
      await trx('external_ids')
        .insert({ ...link, local_id: courseId, created_at: now })
        .onConflict(['tenant_id', 'kind', 'system', 'external_id'])
        .merge(['local_id']);
    }
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
  const write = {
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
  };
  const outcome = g.asOf
    ? batch.recordAsOf(write, g.asOf, change)
    : batch.record(write, change)
      ? 'current'
      : 'unchanged';
  if (outcome === 'current') {
    await recalculate(batch, columns, [column.id], [userId], {
      gradedAt: g.gradedAt,
      keyPrefix: `${g.idempotencyKey}:calc`,
      change: { type: 'GradeCalculated', user: g.changeUser },
    });
  }
  await batch.flush();
  return {
    status: outcome === 'current' ? 'recorded' : outcome,
    courseId,
    columnId: column.id,
    userId,
  };
}
