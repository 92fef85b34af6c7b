import type { Trx } from '../db/knex.js';
import { toBool } from '../db/time.js';

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

/**
 * Makes a column the final grade of a course that has none (the course page's
 * choice): an ordinary column becomes the course's external grade column, as
 * Journey's externalGradeColumnAPI sets it; a weighted or total column is
 * marked final. Returns the column's name and how it was made final, or an
 * error message in plain words.
 */
export async function chooseFinalColumn(
  trx: Trx,
  input: { tenantId: number; courseId: number; columnId: number; changedBy: string; now: string },
): Promise<{ name: string; as: 'external' | 'final' } | string> {
  const course = await trx('courses as c')
    .leftJoin('gradebooks as g', 'g.course_id', 'c.id')
    .where({ 'c.id': input.courseId, 'c.tenant_id': input.tenantId })
    .first('c.id', 'g.is_locked');
  if (!course) return 'This course does not exist.';
  if (toBool(course.is_locked))
    return 'The gradebook of this course is locked; unlock it before choosing its final grade column.';
  const columns = await trx('grade_columns')
    .where({ course_id: input.courseId })
    .whereNull('deleted_at')
    .select('id', 'name', 'calculation', 'is_external', 'is_final');
  const current =
    columns.find((c) => toBool(c.is_external)) ?? columns.find((c) => toBool(c.is_final));
  if (current) return `This course already has a final grade column: ${current.name}.`;
  const column = columns.find((c) => c.id === input.columnId);
  if (!column) return 'That column is not in this course.';
  const as = column.calculation ? 'final' : 'external';
  await trx('grade_columns')
    .where({ id: column.id })
    .update(
      as === 'final'
        ? { is_final: true, updated_at: input.now }
        : { is_external: true, updated_at: input.now },
    );
  await trx('gradebooks')
    .where({ course_id: input.courseId })
    .update({
      last_change_type: as === 'external' ? 'ExternalColumnSet' : 'ColumnChanged',
      last_change_user: input.changedBy,
      last_change_time: input.now,
      updated_at: input.now,
    });
  return { name: column.name as string, as };
}
