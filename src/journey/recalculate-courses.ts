import { randomUUID } from 'node:crypto';
import type { Trx } from '../db/knex.js';
import type { CourseColumns } from '../grades/course-columns.js';
import { GradeBatch, type GradebookChange } from '../grades/grade-batch.js';
import { courseUserIds, effectivePoints, recalculate } from '../grades/recalculate.js';
import type { JourneyActor } from './actor.js';

/** Recomputes calculated columns downstream of changed columns, for every user of each course. */
export async function recalculateCourses(
  trx: Trx,
  actor: JourneyActor,
  columnsByCourse: Map<number, CourseColumns>,
  changed: Map<number, Set<number>>,
  now: string,
  change: GradebookChange,
): Promise<void> {
  if (changed.size === 0) return;
  const batch = new GradeBatch(trx, actor.tenantId, now);
  const keyPrefix = `calc:${randomUUID()}`;
  for (const [courseId, columnIds] of changed) {
    batch.touch(courseId, change);
    const columns = columnsByCourse.get(courseId)!;
    const computed = await recalculate(
      batch,
      columns,
      columnIds,
      await courseUserIds(trx, courseId),
      {
        gradedAt: now,
        keyPrefix,
        change: { type: 'GradeCalculated', user: actor.name },
      },
    );
    await syncTotalPoints(trx, columns, computed, now);
  }
  await batch.flush();
}

/** Keeps a total column's stored points equal to the sum of its live inputs'. */
async function syncTotalPoints(
  trx: Trx,
  columns: CourseColumns,
  ids: number[],
  now: string,
): Promise<void> {
  for (const id of ids) {
    const column = columns.live(id);
    if (column?.calculation?.type !== 'total') continue;
    const points = effectivePoints(column, columns);
    if (points !== column.points) {
      column.points = points;
      await trx('grade_columns').where({ id }).update({ points, updated_at: now });
    }
  }
}
