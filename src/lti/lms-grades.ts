import type { Executor } from '../db/knex.js';
import { MAX_STORED_TEXT, storableText } from '../db/text.js';

/**
 * What gradebridge knows of each grade in an LMS line item: what it last sent
 * there (and whether the LMS took it) and what the LMS was last seen to hold
 * (from a pull, or read back after a send). The reconciliation report
 * compares these with gradebridge's own grades.
 */
export interface LmsGradeKey {
  tenantId: number;
  courseId: number;
  columnId: number;
  userId: number;
  lineItem: string;
}

const keyRow = (k: LmsGradeKey) => ({
  tenant_id: k.tenantId,
  course_id: k.courseId,
  column_id: k.columnId,
  user_id: k.userId,
  line_item: k.lineItem,
});

async function upsert(db: Executor, k: LmsGradeKey, values: Record<string, unknown>) {
  await db('lms_grades')
    .insert({ ...keyRow(k), ...values })
    .onConflict(['column_id', 'user_id', 'line_item'])
    .merge(values);
}

/** Records a send of a score to the LMS: `sent` (2xx), `refused` (4xx) or `failed`. */
export async function recordLmsSend(
  db: Executor,
  k: LmsGradeKey,
  send: {
    score: number | null;
    status: 'sent' | 'refused' | 'failed';
    error?: string | null;
    now: string;
  },
): Promise<void> {
  await upsert(db, k, {
    sent_score: send.score,
    sent_at: send.now,
    send_status: send.status,
    send_error: send.error ? storableText(send.error, MAX_STORED_TEXT) : null,
    updated_at: send.now,
  });
}

/** Records what the LMS holds for a grade (null: no score), in the column's points. */
export async function recordLmsReading(
  db: Executor,
  k: LmsGradeKey,
  score: number | null,
  now: string,
): Promise<void> {
  await upsert(db, k, {
    lms_score: score,
    lms_has_score: score !== null,
    lms_read_at: now,
    updated_at: now,
  });
}

/** A result's score in the column's points (AGS results are out of resultMaximum). */
export function scoreInPoints(
  resultScore: number | null,
  resultMaximum: number | null,
  points: number,
): number | null {
  if (resultScore === null) return null;
  return resultMaximum && resultMaximum > 0 && resultMaximum !== points
    ? Number(((resultScore * points) / resultMaximum).toFixed(6))
    : resultScore;
}
