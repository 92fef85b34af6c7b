import type { Executor } from '../db/knex.js';
import { computeTotal, computeWeighted, dependentsInOrder } from './calculation.js';
import type { ColumnInfo, CourseColumns } from './course-columns.js';
import type { GradeBatch, GradebookChange } from './grade-batch.js';
import { gradeText } from './grading.js';

/** Points possible of a column: a total column's are the sum of its live inputs'. */
export function effectivePoints(
  column: ColumnInfo,
  columns: CourseColumns,
  seen = new Set<number>(),
): number {
  if (column.calculation?.type !== 'total' || seen.has(column.id)) return column.points;
  seen.add(column.id);
  let sum = 0;
  for (const input of column.calculation.inputs) {
    const c = columns.live(input.columnId);
    if (c) sum += effectivePoints(c, columns, seen);
  }
  return sum;
}

export interface RecalcOptions {
  gradedAt: string;
  /** Prefix of the versions' idempotency keys; unique per triggering change. */
  keyPrefix: string;
  change: GradebookChange;
}

/**
 * Recomputes every calculated column that depends on `changed`, for the given
 * users, in dependency order. Each grade that moves becomes a version from the
 * 'calculation' source with no grader. Returns the ids of the columns computed.
 */
export async function recalculate(
  batch: GradeBatch,
  columns: CourseColumns,
  changed: Iterable<number>,
  userIds: Iterable<number>,
  options: RecalcOptions,
): Promise<number[]> {
  const order = dependentsInOrder(changed, columns.calculations());
  const users = [...new Set(userIds)];
  if (order.length === 0 || users.length === 0) return order;
  const needed = new Set<number>(order);
  for (const id of order) {
    for (const input of columns.byId.get(id)?.calculation?.inputs ?? []) needed.add(input.columnId);
  }
  await batch.load(
    [...needed].flatMap((columnId) => users.map((userId) => ({ columnId, userId }))),
  );
  for (const id of order) {
    const column = columns.live(id);
    if (!column?.calculation) continue;
    const points = effectivePoints(column, columns);
    // Points possible of each live input: the same for every user.
    const inputPoints = new Map<number, number>();
    for (const { columnId } of column.calculation.inputs) {
      const input = columns.live(columnId);
      if (input) inputPoints.set(columnId, effectivePoints(input, columns));
    }
    for (const userId of users) {
      const inputGrade = (inputId: number) => {
        const inputPointsPossible = inputPoints.get(inputId);
        if (inputPointsPossible === undefined) return undefined;
        const g = batch.get(inputId, userId);
        return g ? { score: g.score, points: inputPointsPossible } : undefined;
      };
      const score =
        column.calculation.type === 'weighted'
          ? computeWeighted(
              column.calculation.inputs.map((i) => ({
                weight: i.weight,
                grade: inputGrade(i.columnId),
              })),
              points,
            )
          : computeTotal(column.calculation.inputs.map((i) => inputGrade(i.columnId)));
      batch.record(
        {
          courseId: column.courseId,
          columnId: column.id,
          userId,
          score,
          grade: score === null ? null : gradeText(column, score, points),
          pointsPossible: points,
          gradedAt: options.gradedAt,
          graderId: null,
          source: 'calculation',
          idempotencyKey: `${options.keyPrefix}:${column.id}:${userId}`,
          workflowState: score === null ? 'unsubmitted' : 'graded',
        },
        options.change,
      );
    }
  }
  return order;
}

/** Everyone who has a grade or an enrollment in the course. */
export async function courseUserIds(db: Executor, courseId: number): Promise<number[]> {
  const rows = await db
    .select('user_id')
    .from('submissions')
    .where('course_id', courseId)
    .union((q) => q.select('user_id').from('enrollments').where('course_id', courseId));
  return rows.map((r: { user_id: number }) => r.user_id);
}
