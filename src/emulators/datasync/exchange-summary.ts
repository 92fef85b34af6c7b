import type { EmulatorCore } from './core.js';
import { receivedGrades } from './received-grades.js';
import type { ExchangeRecord, QueryCondition } from './types.js';
import type { ExchangeState } from './vocabulary.js';

/** An exchange in a line: what the control API's state and the home page show. */
export interface ExchangeSummary {
  id: string;
  state: ExchangeState;
  /** The query type (any string, for an exchange created with strict: false). */
  type: string;
  /** The name of the first condition's scope_id (the course or section asked for). */
  scope: string | null;
  courseAppId: string | null;
  source: ExchangeRecord['source'];
  maxDataContentLength: number;
  chunks: number;
  duplicateChunks: number;
  rejectedPosts: number;
  bytes: number;
  assignments: number;
  scores: number;
  summaries: number;
  errors: string[];
  createdAt: string;
  updatedAt: string;
}

function summarize(record: ExchangeRecord): ExchangeSummary {
  const received = receivedGrades(record.chunks);
  // Defensive: a query created with strict: false may have any shape.
  const conditions: unknown = record.query.conditions;
  const first = Array.isArray(conditions)
    ? (conditions[0] as QueryCondition | undefined)
    : undefined;
  const scope = typeof first?.scope_id === 'object' ? first.scope_id : null;
  return {
    id: record.id,
    state: record.state,
    type: String(record.query.type),
    scope: (scope?.name ?? scope?.$sys?.id ?? null) || null,
    courseAppId: record.courseAppId,
    source: record.source,
    maxDataContentLength: record.maxDataContentLength,
    chunks: record.chunks.length,
    duplicateChunks: record.chunks.filter((c) => c.duplicateOf !== undefined).length,
    rejectedPosts: record.rejected.length,
    bytes: record.chunks.reduce((sum, c) => sum + c.bytes, 0),
    assignments: received.assignments.length,
    scores: received.scores.length,
    summaries: received.summaries.length,
    errors: record.errors.map((e) => e.code),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

export function summarizeAll(core: EmulatorCore): ExchangeSummary[] {
  return core.exchanges.all().map((e) => summarize(e.record));
}
