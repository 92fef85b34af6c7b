import type { Trx } from '../db/knex.js';
import { GradeBatch } from '../grades/grade-batch.js';
import type { JourneyActor } from './actor.js';
import { resolveColumnRefs, writableColumn } from './column-targets.js';
import { ok } from './item-results.js';
import type { ItemResult } from './schemas.js';

/** externalGradeColumnAPI: makes a column the course's one external (final) grade column. */
export async function setExternalGradeColumns(
  trx: Trx,
  actor: JourneyActor,
  items: unknown[],
  now: string,
): Promise<ItemResult[]> {
  const { results, targets } = await resolveColumnRefs(trx, actor, items);
  const batch = new GradeBatch(trx, actor.tenantId, now);
  for (const { index, item, course, columns } of targets) {
    const column = writableColumn(results, index, item, course, columns);
    if (!column) continue;
    await trx('grade_columns')
      .where({ course_id: course.id, is_external: true })
      .update({ is_external: false, updated_at: now });
    await trx('grade_columns')
      .where({ id: column.id })
      .update({ is_external: true, updated_at: now });
    for (const c of columns.byId.values()) c.isExternal = c.id === column.id;
    batch.touch(course.id, { type: 'ExternalColumnSet', user: actor.name });
    ok(results, index, 'External grade column successfully updated');
  }
  await batch.flush();
  return results;
}
