import type { Trx } from '../db/knex.js';
import type { JourneyActor } from './actor.js';
import { resolveColumnRefs, writableColumn } from './column-targets.js';
import { ok } from './item-results.js';
import { recalculateCourses } from './recalculate-courses.js';
import type { ItemResult } from './schemas.js';

/** gradeColumnDeleteAPI: deletes (hides) columns; their history stays. */
export async function deleteGradeColumns(
  trx: Trx,
  actor: JourneyActor,
  items: unknown[],
  now: string,
): Promise<ItemResult[]> {
  const { results, targets, columnsByCourse } = await resolveColumnRefs(trx, actor, items);
  const changed = new Map<number, Set<number>>();
  for (const { index, item, course, columns } of targets) {
    const column = writableColumn(results, index, item, course, columns);
    if (!column) continue;
    await trx('grade_columns')
      .where({ id: column.id })
      .update({ deleted_at: now, is_external: false, updated_at: now });
    columns.remove(column);
    column.isExternal = false;
    const set = changed.get(course.id) ?? new Set<number>();
    set.add(column.id);
    changed.set(course.id, set);
    ok(results, index, 'Grade column successfully deleted');
  }
  await recalculateCourses(trx, actor, columnsByCourse, changed, now, {
    type: 'ColumnDeleted',
    user: actor.name,
  });
  return results;
}
