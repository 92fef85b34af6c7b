import { randomUUID } from 'node:crypto';
import {
  ensureEnrollments,
  ensureUsersByBatchUid,
  findCoursesByBatchUid,
  type CourseRef,
} from '../courses/service.js';
import type { Trx } from '../db/knex.js';
import { lockCourses } from '../db/locks.js';
import { TOTAL, WEIGHTED } from '../grades/calculation.js';
import { loadCourseColumns, type ColumnInfo } from '../grades/course-columns.js';
import { GradeBatch, type GradebookChange } from '../grades/grade-batch.js';
import { interpretValue } from '../grades/grading.js';
import { effectivePoints, recalculate } from '../grades/recalculate.js';
import type { JourneyActor } from './actor.js';
import { writableColumn } from './column-targets.js';
import { fail, ok, prepare } from './item-results.js';
import { gradeValueItem, type GradeValueItem, type ItemResult } from './schemas.js';

interface ResolvedValue {
  index: number;
  item: GradeValueItem;
  course: CourseRef;
  column: ColumnInfo;
  points: number;
  score: number | null;
  grade: string;
}

/**
 * Writes grade values. The whole batch is resolved with a handful of queries
 * (courses, columns, users, enrollments, current grades), every grade that
 * differs from the current one becomes a version, calculated columns that
 * read a changed column are recomputed, and everything is written in bulk.
 */
export async function writeGradeValues(
  trx: Trx,
  actor: JourneyActor,
  items: unknown[],
  now: string,
): Promise<ItemResult[]> {
  const { results, valid } = prepare(gradeValueItem, items, (i) => ({
    courseId: i.courseId,
    name: i.name,
  }));
  if (valid.length === 0) return results;
  const courses = await findCoursesByBatchUid(
    trx,
    actor.tenantId,
    valid.map((v) => v.value.courseId),
  );
  await lockCourses(
    trx,
    [...courses.values()].map((c) => c.id),
  );
  const columnsByCourse = await loadCourseColumns(
    trx,
    actor.tenantId,
    [...courses.values()].map((c) => c.id),
  );

  const resolved: ResolvedValue[] = [];
  for (const { index, value: item } of valid) {
    const course = courses.get(item.courseId);
    if (!course) {
      fail(results, index, `course "${item.courseId}" does not exist`);
      continue;
    }
    const columns = columnsByCourse.get(course.id)!;
    const column = writableColumn(results, index, item, course, columns);
    if (!column) continue;
    if (column.itemType === WEIGHTED || column.itemType === TOTAL) {
      fail(
        results,
        index,
        `grade column "${item.name}" is a ${column.itemType}; its values are calculated`,
      );
      continue;
    }
    const points = effectivePoints(column, columns);
    const value = interpretValue(column, points, item.value);
    if (!value.ok) {
      fail(results, index, value.error);
      continue;
    }
    resolved.push({ index, item, course, column, points, score: value.score, grade: value.grade });
  }
  if (resolved.length === 0) return results;

  const users = await ensureUsersByBatchUid(
    trx,
    actor.tenantId,
    resolved.map((r) => r.item.userId),
    now,
  );
  await ensureEnrollments(
    trx,
    actor.tenantId,
    resolved.map((r) => ({ courseId: r.course.id, userId: users.get(r.item.userId)! })),
    'Learner',
    'journey',
    now,
  );
  const batch = new GradeBatch(trx, actor.tenantId, now);
  await batch.load(
    resolved.map((r) => ({ columnId: r.column.id, userId: users.get(r.item.userId)! })),
  );
  const keyPrefix = `jv:${randomUUID()}`;
  const change: GradebookChange = { type: 'GradeChanged', user: actor.name };
  const changed = new Map<number, { columns: Set<number>; users: Set<number> }>();
  for (const r of resolved) {
    const userId = users.get(r.item.userId)!;
    const recorded = batch.record(
      {
        courseId: r.course.id,
        columnId: r.column.id,
        userId,
        score: r.score,
        grade: r.grade,
        pointsPossible: r.points,
        gradedAt: now,
        graderId: actor.graderUserId,
        source: 'journey',
        apiClientId: actor.apiClientId,
        idempotencyKey: `${keyPrefix}:${r.index}`,
      },
      change,
    );
    if (recorded) {
      let entry = changed.get(r.course.id);
      if (!entry) changed.set(r.course.id, (entry = { columns: new Set(), users: new Set() }));
      entry.columns.add(r.column.id);
      entry.users.add(userId);
    }
    ok(results, r.index, recorded ? 'Grade value successfully added' : 'Grade value unchanged');
  }
  for (const [courseId, entry] of changed) {
    await recalculate(batch, columnsByCourse.get(courseId)!, entry.columns, entry.users, {
      gradedAt: now,
      keyPrefix: `${keyPrefix}:calc`,
      change: { type: 'GradeCalculated', user: actor.name },
    });
  }
  await batch.flush();
  return results;
}
