import { toBool } from '../db/time.js';
import { z } from '../http/validation.js';

/** Canvas's name for grades no person gave (calculated, synced from a platform without a grader). */
export const GRADED_ON_SUBMISSION = 'Graded on submission';

/** Canvas renders times as ISO 8601 UTC to the second. */
export function canvasTime(value: string | null | undefined): string | null {
  if (!value) return null;
  return new Date(value).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export const graderSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  assignments: z.array(z.number().int()),
});
export type GraderJson = z.output<typeof graderSchema>;

export const daySchema = z.object({ date: z.string(), graders: z.array(graderSchema) });
export type DayJson = z.output<typeof daySchema>;

const time = z.string().nullable();

export const submissionVersionSchema = z.object({
  assignment_id: z.number().int(),
  assignment_name: z.string(),
  attempt: z.number().int().nullable(),
  body: z.string().nullable(),
  current_grade: z.string().nullable(),
  current_graded_at: time,
  current_grader: z.string(),
  excused: z.boolean(),
  grade: z.string().nullable(),
  grade_matches_current_submission: z.boolean(),
  graded_at: time,
  grader: z.string(),
  grader_id: z.number().int().nullable(),
  id: z.number().int(),
  late: z.boolean(),
  missing: z.boolean(),
  score: z.number().nullable(),
  submission_type: z.string().nullable(),
  submitted_at: time,
  url: z.string().nullable(),
  user_id: z.number().int(),
  user_name: z.string(),
  workflow_state: z.string(),
});
export type SubmissionVersionJson = z.output<typeof submissionVersionSchema>;

export const historyVersionSchema = submissionVersionSchema.extend({
  new_grade: z.string().nullable(),
  new_graded_at: time,
  new_grader: z.string(),
  new_score: z.number().nullable(),
  previous_grade: z.string().nullable(),
  previous_graded_at: time,
  previous_grader: z.string().nullable(),
});
export type HistoryVersionJson = z.output<typeof historyVersionSchema>;

export const submissionHistorySchema = z.object({
  submission_id: z.number().int(),
  versions: z.array(historyVersionSchema),
});
export type SubmissionHistoryJson = z.output<typeof submissionHistorySchema>;

/** One row of the version query (see versionRows in service.ts). */
export interface VersionRow {
  version_id: number;
  submission_id: number;
  user_id: number;
  column_id: number;
  score: number | null;
  grade: string | null;
  graded_at: string;
  grader_id: number | null;
  workflow_state: string;
  excused: unknown;
  late: unknown;
  missing: unknown;
  assignment_name: string;
  user_name: string | null;
  user_batch_uid: string | null;
  grader_name: string | null;
  current_grade: string | null;
  current_graded_at: string | null;
  current_grader_id: number | null;
  current_grader_name: string | null;
}

const graderName = (id: number | null, name: string | null) =>
  id === null ? GRADED_ON_SUBMISSION : (name ?? `User ${id}`);

export function submissionVersion(row: VersionRow): SubmissionVersionJson {
  return {
    assignment_id: row.column_id,
    assignment_name: row.assignment_name,
    attempt: null,
    body: null,
    current_grade: row.current_grade,
    current_graded_at: canvasTime(row.current_graded_at),
    current_grader: graderName(row.current_grader_id, row.current_grader_name),
    excused: toBool(row.excused),
    grade: row.grade,
    grade_matches_current_submission: true,
    graded_at: canvasTime(row.graded_at),
    grader: graderName(row.grader_id, row.grader_name),
    grader_id: row.grader_id,
    id: row.submission_id,
    late: toBool(row.late),
    missing: toBool(row.missing),
    score: row.score,
    submission_type: null,
    submitted_at: null,
    url: null,
    user_id: row.user_id,
    user_name: row.user_name ?? row.user_batch_uid ?? `User ${row.user_id}`,
    workflow_state: row.workflow_state,
  };
}

/** A version in the day drill-down: new_* repeat it, previous_* describe the version before it. */
export function historyVersion(row: VersionRow, previous: VersionRow | null): HistoryVersionJson {
  const json = submissionVersion(row);
  return {
    ...json,
    new_grade: json.grade,
    new_graded_at: json.graded_at,
    new_grader: json.grader,
    new_score: json.score,
    previous_grade: previous ? previous.grade : null,
    previous_graded_at: previous ? canvasTime(previous.graded_at) : null,
    previous_grader: previous ? graderName(previous.grader_id, previous.grader_name) : null,
  };
}
