import { findCoursesByBatchUid, type CourseRef } from '../courses/service.js';
import type { Trx } from '../db/knex.js';
import { lockTenant } from '../db/locks.js';
import {
  loadCourseColumns,
  type CourseColumns,
  type ColumnInfo,
} from '../grades/course-columns.js';
import type { JourneyActor } from './actor.js';
import { fail, prepare } from './item-results.js';
import { columnRef, type ColumnRef, type ItemResult } from './schemas.js';

/** What an item that would change a locked gradebook answers. */
export const lockedMessage = (courseId: string) =>
  `the gradebook of course "${courseId}" is locked; unlock it before changing it`;

/**
 * The live column an item names, in a course whose gradebook may change;
 * otherwise the item fails (no such column, or the gradebook is locked).
 */
export function writableColumn(
  results: ItemResult[],
  index: number,
  item: { courseId: string; name: string },
  course: CourseRef,
  columns: CourseColumns,
): ColumnInfo | undefined {
  const column = columns.byName.get(item.name);
  if (!column) {
    fail(results, index, `grade column "${item.name}" does not exist in course "${item.courseId}"`);
    return undefined;
  }
  if (course.isLocked) {
    fail(results, index, lockedMessage(item.courseId));
    return undefined;
  }
  return column;
}

/** A column reference whose course exists, with that course's columns. */
export interface ColumnTarget {
  index: number;
  item: ColumnRef;
  course: CourseRef;
  columns: CourseColumns;
}

/** Validates column references and finds their courses; unknown courses fail the item. */
export async function resolveColumnRefs(
  trx: Trx,
  actor: JourneyActor,
  items: unknown[],
): Promise<{
  results: ItemResult[];
  targets: ColumnTarget[];
  columnsByCourse: Map<number, CourseColumns>;
}> {
  const { results, valid } = prepare(columnRef, items, (i) => ({
    courseId: i.courseId,
    name: i.name,
  }));
  await lockTenant(trx, actor.tenantId);
  const courses = await findCoursesByBatchUid(
    trx,
    actor.tenantId,
    valid.map((v) => v.value.courseId),
  );
  const columnsByCourse = await loadCourseColumns(
    trx,
    actor.tenantId,
    [...courses.values()].map((c) => c.id),
  );
  const targets: ColumnTarget[] = [];
  for (const { index, value: item } of valid) {
    const course = courses.get(item.courseId);
    if (!course) fail(results, index, `course "${item.courseId}" does not exist`);
    else targets.push({ index, item, course, columns: columnsByCourse.get(course.id)! });
  }
  return { results, targets, columnsByCourse };
}
