/**
 * The closed vocabularies of the Grades Exchange API. The spec leaves some
 * enums empty; the values come from Instructure's docs and the older Kimono
 * SDK (see NOTES.md), and the exchange states are this emulator's choice.
 */

export const QUERY_TYPES = ['assignment_scores', 'summary'] as const;
export type QueryType = (typeof QUERY_TYPES)[number];

export const CONDITION_SCOPES = ['course', 'section'] as const;
export type ConditionScope = (typeof CONDITION_SCOPES)[number];

export const SCOPE_BY = ['id', 'all'] as const;
export type ScopeBy = (typeof SCOPE_BY)[number];

export const SUMMARY_TYPES = ['midterm', 'final'] as const;
export type SummaryType = (typeof SUMMARY_TYPES)[number];

export const SCORE_TYPES = ['raw', 'percentage'] as const;
export type ScoreType = (typeof SCORE_TYPES)[number];

/**
 * Exchange states (the spec's enum is empty; these are the emulator's):
 * - `created`: waiting for the producer;
 * - `in_progress`: data received, none of it `final`;
 * - `completed`: a data post with `final: true` arrived; artifacts exist;
 * - `failed`: the producer posted an error.
 * `completed` and `failed` are terminal: data or errors posted then are refused (400).
 */
export const EXCHANGE_STATES = ['created', 'in_progress', 'completed', 'failed'] as const;
export type ExchangeState = (typeof EXCHANGE_STATES)[number];

export const TERMINAL_STATES: readonly ExchangeState[] = ['completed', 'failed'];

/** Codes a producer may post as exchange errors, with the message the emulator writes for each. */
export const EXCHANGE_ERROR_MESSAGES = {
  query_type_not_supported: "The producer does not support this exchange's query type.",
  query_conditions_not_supported: "The producer does not support this exchange's query conditions.",
  producer_error: 'The producer reported an error while producing the grades.',
  producer_failure: 'The producer failed and could not complete the exchange.',
} as const;
export type ExchangeErrorCode = keyof typeof EXCHANGE_ERROR_MESSAGES;
export const EXCHANGE_ERROR_CODES = Object.keys(EXCHANGE_ERROR_MESSAGES) as ExchangeErrorCode[];

/** The sync_status an artifact gives each item the SIS received. */
export type SyncStatus = 'synced' | 'failed';

/** The event type of the notice sent when an exchange is created. */
export const EXCHANGE_CREATED_EVENT = 'grades.exchange.created';

/** The header carrying a notice's signature. */
export const SIGNATURE_HEADER = 'X-DataSync-Signature';
