/** Data Sync Grades Exchange API shapes (../shared/specs/data-sync-grades-exchange-api.txt). */

export const QUERY_TYPES = ['assignment_scores', 'summary'] as const;
export const SCOPES = ['course', 'section'] as const;
export const SCOPE_BYS = ['id', 'all'] as const;
export const SUMMARY_TYPES = ['midterm', 'final'] as const;
export const SCORE_TYPES = ['raw', 'percentage'] as const;
export const ERROR_CODES = [
  'query_type_not_supported',
  'query_conditions_not_supported',
  'producer_error',
  'producer_failure',
] as const;
export type ExchangeErrorCode = (typeof ERROR_CODES)[number];

/** Ids of a Data Sync object: its own id, and its ids in the source and app systems. */
export interface Sys {
  id?: string;
  source_id?: Record<string, string>;
  app_id?: Record<string, string>;
  created_at?: string;
  updated_at?: string;
}

export interface Named {
  name?: string;
  $sys?: Sys;
}

export interface ExchangeCondition {
  scope?: string;
  scope_by?: string;
  scope_id?: Named;
  graded_after?: string | null;
  assignment_ids?: string[] | null;
  summary_type?: string | null;
  score_type?: string | null;
}

export interface ExchangeQuery {
  type?: string;
  conditions?: ExchangeCondition[];
}

export interface Exchange {
  id: string;
  query: ExchangeQuery;
  metadata?: Record<string, unknown> | null;
  state: string;
  max_data_content_length: number;
  error_count?: number;
  course_app_id?: string | null;
  batch_exchange_id?: string | null;
  created_at?: string;
  updated_at?: string;
}

export interface ExchangeError {
  id: string;
  created_at?: string;
  updated_at?: string;
  code: string;
  message?: string;
  details?: string;
}

export interface Consumer {
  id: string;
  connector_type: string;
  supported_exchange_query_type: string;
  summary_score_type: string;
}

export interface Schedule {
  id?: string;
  type?: string;
  last_executed_at?: string | null;
  enabled?: boolean;
  hour?: number;
  days?: string;
  metadata?: Record<string, unknown>;
}

export interface ScoreOut {
  $person: Named;
  $grader?: Named;
  score: number | null;
  grade: string | null;
  late: boolean;
  missing: boolean;
  excused: boolean;
  submitted_at?: string | null;
}

export interface AssignmentOut {
  $sys: Sys;
  $section: Named;
  name: string;
  points_possible: number;
  due_at?: string | null;
  scores: ScoreOut[];
}

export interface SummaryOut {
  $section: Named;
  $person: Named;
  $grader?: Named;
  summary_type: 'final';
  score_type: 'raw' | 'percentage';
  score: number | null;
  grade: string | null;
  last_activity: string | null;
}

export interface Page {
  page?: number;
  pageSize?: number;
}
