import type {
  ConditionScope,
  ExchangeErrorCode,
  ExchangeState,
  QueryType,
  ScopeBy,
  ScoreType,
  SummaryType,
  SyncStatus,
} from './vocabulary.js';

// --- options and configuration ---

export interface RateLimitOptions {
  /** Requests accepted in any sliding 1000 ms window; null turns the limit off. */
  requestsPerSecond: number | null;
  /** Send Retry-After (whole seconds) with throttled answers. Default true. */
  retryAfter?: boolean;
  /** 429 "Too Many Requests" (default) or 403 "Rate Limit Exceeded". */
  status?: 429 | 403;
}

/** Where exchange-created notices go, and the secret that signs them. */
export interface NoticeTarget {
  url: string;
  secret: string;
}

export interface DataSyncEmulatorOptions {
  /** 0 = a random free port (default). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Lifetime of access tokens (default 3600; fractions allowed, for tests). */
  tokenTtlSeconds?: number;
  /** The largest page and the default page_size (default 100). */
  maxPageSize?: number;
  /** Default: no limit. */
  rateLimit?: RateLimitOptions;
  /** Default: no notices. */
  notice?: NoticeTarget | null;
  /** A schedule may be run again this long after its last run (default 5); sooner is a 429. */
  scheduleRunCooldownSeconds?: number;
}

export interface EmulatorEndpoints {
  /** POST here for tokens (client credentials). */
  token: string;
  /** The base of the Grades Exchange API (`/v2/grades`). */
  api: string;
}

export interface ClientInput {
  clientId: string;
  clientSecret: string;
  /** Scopes what the client sees to the exchanges of this course app. */
  courseAppId?: string;
}

export interface ClientRecord {
  clientId: string;
  clientSecret: string;
  courseAppId: string | null;
}

// --- wire shapes (as in the spec) ---

/** `$sys`: an entity's identity in Data Sync. `source_id` and `app_id` map an app to its id. */
export interface SysRef {
  id?: string | null;
  source_id?: Record<string, string> | null;
  app_id?: Record<string, string> | null;
  created_at?: string | null;
  updated_at?: string | null;
  [key: string]: unknown;
}

/** A reference to an entity (course, section, person, ...): its name and `$sys`. */
export interface EntityRef {
  name?: string | null;
  $sys: SysRef;
  [key: string]: unknown;
}

export interface QueryCondition {
  scope: ConditionScope;
  scope_by: ScopeBy;
  scope_id?: EntityRef | null;
  graded_after?: string | null;
  assignment_ids?: string[] | null;
  summary_type?: SummaryType | null;
  [key: string]: unknown;
}

export interface ExchangeQuery {
  type: QueryType;
  conditions: QueryCondition[];
  [key: string]: unknown;
}

/** An exchange as the API answers it. */
export interface ExchangeJson {
  id: string;
  query: ExchangeQuery;
  metadata: Record<string, unknown> | null;
  state: ExchangeState;
  max_data_content_length: number;
  error_count: number;
  course_app_id: string | null;
  batch_exchange_id: string | null;
  created_at: string;
  updated_at: string;
}

export interface ScoreData {
  error_code?: string | null;
  sync_status?: string | null;
  $person: EntityRef;
  $grader?: EntityRef | null;
  score?: number | null;
  grade?: string | null;
  late?: boolean | null;
  missing?: boolean | null;
  excused?: boolean | null;
  submitted_at?: string | null;
  preview_url?: string | null;
  $ext?: Record<string, unknown> | null;
  [key: string]: unknown;
}

export interface AssignmentData {
  error_code?: string | null;
  sync_status?: string | null;
  $sys: SysRef;
  $section?: EntityRef | null;
  $category?: EntityRef | null;
  $term?: EntityRef | null;
  name?: string | null;
  description?: string | null;
  points_possible?: number | null;
  due_at?: string | null;
  available_at?: string | null;
  $ext?: Record<string, unknown> | null;
  scores?: ScoreData[] | null;
  [key: string]: unknown;
}

export interface SummaryData {
  error_code?: string | null;
  sync_status?: string | null;
  $section?: EntityRef | null;
  $person: EntityRef;
  $grader?: EntityRef | null;
  summary_type?: SummaryType | null;
  score_type?: ScoreType | null;
  score?: number | null;
  grade?: string | null;
  last_activity?: string | null;
  comments?: string[] | null;
  $ext?: Record<string, unknown> | null;
  [key: string]: unknown;
}

/** The body of `POST /exchanges/{id}/data`. */
export interface ExchangeData {
  assignments?: AssignmentData[] | null;
  summaries?: SummaryData[] | null;
  final?: boolean | null;
  [key: string]: unknown;
}

/** An exchange error as the API answers it. */
export interface ExchangeError {
  id: string;
  created_at: string;
  updated_at: string;
  code: ExchangeErrorCode;
  message: string;
  details: string | null;
}

/** `GET /consumer`: the entity designated as the Grades Application's consumer. */
export interface ConsumerDetails {
  id: string;
  connector_type: string;
  supported_exchange_query_type: QueryType;
  summary_score_type: SummaryType;
}

/** A score or summary as the details artifact lists it. */
export type WithSyncStatus<T> = Omit<T, 'sync_status' | 'error_code'> & {
  sync_status: SyncStatus;
  error_code: string | null;
};

/** The content of the details artifact (`details.json.gz`). */
export interface DetailsArtifact {
  exchange_id: string;
  generated_at: string;
  assignments: Array<
    WithSyncStatus<Omit<AssignmentData, 'scores'>> & { scores: WithSyncStatus<ScoreData>[] }
  >;
  summaries: WithSyncStatus<SummaryData>[];
}

/** One line of the consumer logs artifact: one thing "sent to the SIS". */
export interface ConsumerLogEntry {
  timestamp: string;
  level: 'info' | 'error';
  consumer_id: string | null;
  action: 'upsert_assignment' | 'upsert_score' | 'upsert_summary';
  assignment: { id: string | null; source_id: string | null; name: string | null } | null;
  person: { id: string | null; source_id: string | null; name: string | null } | null;
  score: number | null;
  grade: string | null;
  result: SyncStatus;
  error_code: string | null;
  message: string;
}

// --- the emulator's records ---

export interface ExchangeInput {
  query: ExchangeQuery;
  metadata?: Record<string, unknown> | null;
  /** Default 65536. */
  maxDataContentLength?: number;
  courseAppId?: string | null;
  batchExchangeId?: string | null;
}

/** One accepted `POST /data`. */
export interface ChunkRecord {
  /** 0, 1, 2... in arrival order. */
  index: number;
  /** The request body's length in bytes. */
  bytes: number;
  body: ExchangeData;
  final: boolean;
  receivedAt: string;
  /** The index of an earlier chunk with a byte-identical body. */
  duplicateOf?: number;
}

/** A data post the emulator refused (400) after reading its body. */
export interface RejectedPost {
  receivedAt: string;
  bytes: number;
  status: number;
  message: string;
  /** The index of an accepted chunk with a byte-identical body. */
  duplicateOf?: number;
}

export type ExchangeSource = 'api' | 'emulator' | 'schedule';

export interface ExchangeRecord {
  id: string;
  query: ExchangeQuery;
  metadata: Record<string, unknown> | null;
  state: ExchangeState;
  maxDataContentLength: number;
  errorCount: number;
  courseAppId: string | null;
  batchExchangeId: string | null;
  createdAt: string;
  updatedAt: string;
  /** Who created it: a client through the API, the emulator's API or control API, or a schedule run. */
  source: ExchangeSource;
  scheduleId: string | null;
  chunks: ChunkRecord[];
  rejected: RejectedPost[];
  errors: ExchangeError[];
  /** What the artifact endpoints serve, decompressed; null when not available. */
  artifacts: { details: DetailsArtifact | null; consumerLogs: ConsumerLogEntry[] | null };
}

export interface ReceivedAssignment {
  assignmentSysId: string | null;
  assignmentSourceId: string | null;
  name: string | null;
  chunk: number;
}

export interface ReceivedScore {
  assignmentSysId: string | null;
  assignmentSourceId: string | null;
  personSysId: string | null;
  personSourceId: string | null;
  score: number | null;
  grade: string | null;
  chunk: number;
}

export interface ReceivedSummary {
  personSysId: string | null;
  personSourceId: string | null;
  sectionSysId: string | null;
  sectionSourceId: string | null;
  summaryType: SummaryType | null;
  scoreType: ScoreType | null;
  score: number | null;
  grade: string | null;
  chunk: number;
}

/**
 * Everything the accepted chunks of an exchange carried, flattened in arrival
 * order (duplicates included, each item naming its chunk). A `...SourceId` is
 * the first value of the entity's `$sys.source_id` map.
 */
export interface ReceivedGrades {
  assignments: ReceivedAssignment[];
  scores: ReceivedScore[];
  summaries: ReceivedSummary[];
}

export interface DataSyncStats {
  /** Requests that reached the API surface (token endpoint and /v2/grades), throttled ones included. */
  requests: number;
  byPath: Record<string, number>;
  throttled: number;
  /** The most arrivals in any sliding 1000 ms window, throttled and token calls included. */
  maxPerSecond: number;
  duplicateChunks: number;
  /** Date.now() of the first throttled request. */
  firstThrottledAt: number | null;
  /** Date.now() of every arrival. */
  timeline: number[];
  /** Requests answered by an injected fault. */
  faulted: number;
}

export type FaultKind = 'status' | 'timeout' | 'drop';

export interface FaultSpec {
  /** Both optional; `path` is a regular expression source tested against the request path. */
  match?: { method?: string; path?: string };
  /**
   * - `status`: answer `status` with a JSON error body;
   * - `timeout`: never answer (the socket stays open until the client gives up or close());
   * - `drop`: destroy the socket without answering.
   */
  kind: FaultKind;
  /** For `status` (default 500). */
  status?: number;
  /** How many matching requests it hits (default 1). */
  count?: number;
  /**
   * `before` (default): instead of doing the work. `after`: do the work (for
   * `POST .../data`, store the chunk), then answer with the fault instead of the result.
   */
  when?: 'before' | 'after';
}

export interface ExchangeCreatedNotice {
  id: string;
  type: 'grades.exchange.created';
  created_at: string;
  data: { exchange_id: string; course_app_id: string | null };
}

export interface NoticeDelivery {
  event: ExchangeCreatedNotice;
  url: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  /** The HTTP status of the last attempt, null when it got no answer. */
  responseStatus: number | null;
  /** Why the last attempt failed. */
  error: string | null;
}

export interface ScheduleExchangeTemplate {
  query: ExchangeQuery;
  courseAppId?: string | null;
  maxDataContentLength?: number;
  metadata?: Record<string, unknown> | null;
}

export interface ScheduleInput {
  /** Default 'unspecified'. */
  type?: string;
  /** Default true. */
  enabled?: boolean;
  /** Hour of the day, 0-23 (default 1). */
  hour?: number;
  /** Default 'daily'. */
  days?: string;
  /** The exchanges each run creates. */
  exchanges?: ScheduleExchangeTemplate[];
}

export interface ScheduleRun {
  at: string;
  exchangeIds: string[];
}

export interface ScheduleRecord {
  id: string;
  type: string;
  enabled: boolean;
  hour: number;
  days: string;
  createdAt: string;
  updatedAt: string;
  lastExecutedAt: string | null;
  exchanges: ScheduleExchangeTemplate[];
  runs: ScheduleRun[];
}

/** A schedule as the API answers it. */
export interface ScheduleJson {
  id: string;
  type: string;
  last_executed_at: string | null;
  enabled: boolean;
  hour: number;
  days: string;
  metadata: { created: string; updated: string; scheduled: string | null };
}

export interface BatchRecord {
  id: string;
  createdAt: string;
  errors: Array<{ code: string; receivedAt: string }>;
  data: Array<{ courseIds: string[]; receivedAt: string }>;
}
