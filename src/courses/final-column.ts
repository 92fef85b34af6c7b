import type { Trx } from '../db/knex.js';

/**
 * Marks (or unmarks) a course's weighted or total column as its final grade:
 * the column Data Sync's final summaries are read from when the course has no
 * external grade column. At most one column of a course is final. Returns an
 * error message when the course or column is not there or cannot be final.
 */
export async function setFinalColumn(
  trx: Trx,
  tenantId: number,
  courseBatchUid: string,
  columnName: string,
  final: boolean,
  now: string,
): Promise<true | string> {
  const course = await trx('courses')
    .where({ tenant_id: tenantId, batch_uid: courseBatchUid })
    .first('id');
  if (!course) return `tenant ${tenantId} has no course "${courseBatchUid}"`;
  const column = await trx('grade_columns')
    .where({ course_id: course.id, name: columnName })
    .whereNull('deleted_at')
    .first('id', 'calculation');
  if (!column) return `course "${courseBatchUid}" has no column "${columnName}"`;
  if (final && !column.calculation)
    return `"${columnName}" is not a weighted or total column; an ordinary column is final when it is the external grade column`;
  if (final) {
    await trx('grade_columns')
      .where({ course_id: course.id, is_final: true })
      .update({ is_final: false, updated_at: now });
  }
  await trx('grade_columns').where({ id: column.id }).update({ is_final: final, updated_at: now });
  return true;
}
