import { z } from 'zod';
import type { ExchangeData, ExchangeQuery } from './types.js';
import {
  CONDITION_SCOPES,
  QUERY_TYPES,
  SCOPE_BY,
  SCORE_TYPES,
  SUMMARY_TYPES,
} from './vocabulary.js';

/*
 * The request bodies of the spec, checked loosely but truly: extra properties
 * pass, optional ones may be null, but what is there must have its type.
 */

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;

const string = z.string({ error: 'must be a string' });
const optionalString = string.nullish();
const optionalNumber = z.number({ error: 'must be a number or null' }).nullish();
const optionalBoolean = z.boolean({ error: 'must be a boolean or null' }).nullish();
const dateTime = string.refine(
  (s) => ISO_DATE_TIME.test(s) && !Number.isNaN(Date.parse(s)),
  'must be an ISO 8601 date-time',
);
const stringMap = z.record(z.string(), string, { error: 'must be an object of strings' });
const objectMap = z.record(z.string(), z.unknown(), { error: 'must be an object' });
const oneOf = <T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `must be one of ${values.join(', ')}` });

/** `$sys`: the entity's identity in Data Sync. */
const sysRef = z.looseObject(
  {
    id: optionalString,
    source_id: stringMap.nullish(),
    app_id: stringMap.nullish(),
    created_at: dateTime.nullish(),
    updated_at: dateTime.nullish(),
  },
  { error: 'must be an object' },
);

/** `{name, $sys}`: a reference to a course, section, person... */
const entityRef = z.looseObject(
  { name: optionalString, $sys: sysRef },
  { error: 'must be an object' },
);

const syncFields = { error_code: optionalString, sync_status: optionalString };

const condition = z
  .looseObject(
    {
      scope: oneOf(CONDITION_SCOPES),
      scope_by: oneOf(SCOPE_BY),
      scope_id: entityRef.nullish(),
      graded_after: dateTime.nullish(),
      assignment_ids: z.array(string, { error: 'must be an array of strings' }).nullish(),
      summary_type: oneOf(SUMMARY_TYPES).nullish(),
    },
    { error: 'must be an object' },
  )
  .refine((c) => c.scope_by !== 'id' || c.scope_id != null, {
    message: 'is required when scope_by is id',
    path: ['scope_id'],
  });

/** An exchange's query: what grades the consumer asks for. */
const querySchema = z.looseObject(
  {
    type: oneOf(QUERY_TYPES),
    conditions: z.array(condition, { error: 'must be an array' }).default([]),
  },
  { error: 'must be an object' },
);

const score = z.looseObject(
  {
    ...syncFields,
    $person: entityRef,
    $grader: entityRef.nullish(),
    score: optionalNumber,
    grade: optionalString,
    late: optionalBoolean,
    missing: optionalBoolean,
    excused: optionalBoolean,
    submitted_at: dateTime.nullish(),
    preview_url: optionalString,
    $ext: objectMap.nullish(),
  },
  { error: 'must be an object' },
);

const assignment = z.looseObject(
  {
    ...syncFields,
    $sys: sysRef,
    $section: entityRef.nullish(),
    $category: entityRef.nullish(),
    $term: entityRef.nullish(),
    name: optionalString,
    description: optionalString,
    points_possible: optionalNumber,
    due_at: dateTime.nullish(),
    available_at: dateTime.nullish(),
    $ext: objectMap.nullish(),
    scores: z.array(score, { error: 'must be an array' }).nullish(),
  },
  { error: 'must be an object' },
);

const summary = z.looseObject(
  {
    ...syncFields,
    $section: entityRef.nullish(),
    $person: entityRef,
    $grader: entityRef.nullish(),
    summary_type: oneOf(SUMMARY_TYPES).nullish(),
    score_type: oneOf(SCORE_TYPES).nullish(),
    score: optionalNumber,
    grade: optionalString,
    last_activity: dateTime.nullish(),
    comments: z.array(string, { error: 'must be an array of strings' }).nullish(),
    $ext: objectMap.nullish(),
  },
  { error: 'must be an object' },
);

/** The body of `POST /exchanges/{id}/data`. */
const exchangeDataSchema = z.looseObject(
  {
    assignments: z.array(assignment, { error: 'must be an array' }).nullish(),
    summaries: z.array(summary, { error: 'must be an array' }).nullish(),
    final: optionalBoolean,
  },
  { error: 'must be an object' },
);

/** `a.b[0].c` from an issue path. */
function pathText(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`))
    .join('');
}

/** The parsed value, or an Error naming the first problems (at most 5) under `what`. */
function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues
    .slice(0, 5)
    .map((i) => `${[what, pathText(i.path)].filter(Boolean).join('.') || 'body'} ${i.message}`);
  throw new SchemaError(problems.join('; '));
}

export class SchemaError extends Error {
  override name = 'SchemaError';
}

/** Checks an exchange query; throws a SchemaError naming what is wrong. */
export function parseQuery(value: unknown): ExchangeQuery {
  if (value === undefined || value === null) throw new SchemaError('query is required');
  return parse(querySchema, value, 'query') as ExchangeQuery;
}

/** Checks the body of a data post; throws a SchemaError naming what is wrong. */
export function parseExchangeData(value: unknown): ExchangeData {
  return parse(exchangeDataSchema, value, '') as ExchangeData;
}
