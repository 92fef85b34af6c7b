import type { Executor } from '../db/knex.js';
import { isWellFormed, textProblem } from '../db/text.js';
import type { ExchangeClient } from './client.js';
import {
  QUERY_TYPES,
  SCOPE_BYS,
  SCOPES,
  SCORE_TYPES,
  type ExchangeCondition,
  type ExchangeErrorCode,
  type ExchangeQuery,
} from './types.js';

/** A query gradebridge cannot answer: the error to post, with the exchange error code for it. */
export class QueryProblem extends Error {
  constructor(
    readonly code: ExchangeErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** What one condition asks of one course. */
export interface CoursePart {
  courseId: number;
  /** Data Sync's id of the course or section, echoed in `$section.$sys.id`. */
  dataSyncId: string | null;
  assignments: boolean;
  summaries: boolean;
  scoreType: 'raw' | 'percentage';
  gradedAfter: string | null;
  /** Column ids the condition names (null: all). */
  assignmentIds: number[] | null;
}

/** An id that may be in gradebridge's database: none holds a NUL byte or a lone surrogate (PostgreSQL refuses the first in a query). */
const storable = (v: unknown): v is string =>
  typeof v === 'string' && v !== '' && textProblem(v) === null;

const values = (m: Record<string, string> | undefined): string[] =>
  Object.values(m ?? {}).filter(storable);

/**
 * Reads an exchange's query into what to send for which course, or throws a
 * QueryProblem naming the exchange error code to post.
 *
 * A condition's scope is matched to a course of the connection's tenant:
 * 1. any `scope_id.$sys.source_id` value equal to a course's SIS id (its
 *    Journey courseId, `batch_uid`);
 * 2. else any `scope_id.$sys.app_id` value equal to the context id of an LMS
 *    course launched in gradebridge;
 * 3. else, for a section, the SIS id Data Sync resolves `scope_id.$sys.id` to
 *    (GET /sections/{id}/resolve), as a course's SIS id.
 * `scope_by: all` means every course of the tenant. A section is a course
 * here: gradebridge keeps one gradebook per course.
 */
export async function readQuery(
  db: Executor,
  tenantId: number,
  client: ExchangeClient,
  query: ExchangeQuery,
): Promise<CoursePart[]> {
  const type = query.type;
  if (!type || !(QUERY_TYPES as readonly string[]).includes(type)) {
    throw new QueryProblem(
      'query_type_not_supported',
      `query type "${String(type)}" is not supported; gradebridge answers ${QUERY_TYPES.join(' and ')}`,
    );
  }
  const conditions = Array.isArray(query.conditions) ? query.conditions : [];
  if (conditions.length === 0)
    throw new QueryProblem('query_conditions_not_supported', 'the query has no conditions');
  const parts: CoursePart[] = [];
  for (const [i, c] of conditions.entries()) {
    parts.push(...(await readCondition(db, tenantId, client, type, c, i)));
  }
  return parts;
}

async function readCondition(
  db: Executor,
  tenantId: number,
  client: ExchangeClient,
  type: string,
  c: ExchangeCondition,
  index: number,
): Promise<CoursePart[]> {
  const where = `condition ${index + 1}`;
  const scope = c.scope ?? 'course';
  const scopeBy = c.scope_by ?? 'id';
  if (!(SCOPES as readonly string[]).includes(scope))
    throw new QueryProblem(
      'query_conditions_not_supported',
      `${where}: scope "${scope}" is not supported`,
    );
  if (!(SCOPE_BYS as readonly string[]).includes(scopeBy))
    throw new QueryProblem(
      'query_conditions_not_supported',
      `${where}: scope_by "${scopeBy}" is not supported`,
    );
  const summaryType = c.summary_type ?? null;
  if (summaryType !== null && summaryType !== 'final') {
    throw new QueryProblem(
      'query_conditions_not_supported',
      `${where}: summary_type "${summaryType}" is not supported; gradebridge keeps final grades only`,
    );
  }
  const scoreType = c.score_type ?? 'raw';
  if (!(SCORE_TYPES as readonly string[]).includes(scoreType))
    throw new QueryProblem(
      'query_conditions_not_supported',
      `${where}: score_type "${scoreType}" is not supported`,
    );
  let gradedAfter: string | null = null;
  if (c.graded_after) {
    const t = Date.parse(c.graded_after);
    if (Number.isNaN(t))
      throw new QueryProblem(
        'query_conditions_not_supported',
        `${where}: graded_after "${c.graded_after}" is not a date-time`,
      );
    gradedAfter = new Date(t).toISOString();
  }
  let assignmentIds: number[] | null = null;
  if (Array.isArray(c.assignment_ids) && c.assignment_ids.length > 0) {
    assignmentIds = c.assignment_ids.map((id) => Number(id));
    if (assignmentIds.some((id) => !Number.isInteger(id) || id <= 0))
      throw new QueryProblem(
        'query_conditions_not_supported',
        `${where}: assignment_ids must be gradebridge assignment ids (integers)`,
      );
  }
  const base = {
    assignments: type === 'assignment_scores',
    summaries: type === 'summary' || summaryType === 'final',
    scoreType: scoreType as 'raw' | 'percentage',
    gradedAfter,
    assignmentIds,
  };
  if (scopeBy === 'all') {
    const rows = await db('courses').where({ tenant_id: tenantId }).orderBy('id').select('id');
    return rows.map((r) => ({ courseId: r.id as number, dataSyncId: null, ...base }));
  }
  const sys = c.scope_id?.$sys ?? {};
  const courseId = await findCourse(db, tenantId, client, scope, sys);
  if (courseId === null) {
    const named = c.scope_id?.name ? ` "${c.scope_id.name}"` : '';
    throw new QueryProblem(
      'producer_error',
      `${where}: no course in gradebridge matches the ${scope}${named} (source_id ${JSON.stringify(sys.source_id ?? {})}, app_id ${JSON.stringify(sys.app_id ?? {})}${sys.id ? `, id ${sys.id}` : ''})`,
    );
  }
  return [{ courseId, dataSyncId: sys.id ?? null, ...base }];
}

async function findCourse(
  db: Executor,
  tenantId: number,
  client: ExchangeClient,
  scope: string,
  sys: NonNullable<NonNullable<ExchangeCondition['scope_id']>['$sys']>,
): Promise<number | null> {
  const sourceIds = values(sys.source_id);
  if (sourceIds.length) {
    const row = await db('courses')
      .where({ tenant_id: tenantId })
      .whereIn('batch_uid', sourceIds)
      .orderBy('id')
      .first('id');
    if (row) return row.id as number;
  }
  const appIds = values(sys.app_id);
  if (appIds.length) {
    const row = await db('lti_contexts')
      .where({ tenant_id: tenantId })
      .whereIn('context_id', appIds)
      .orderBy('id')
      .first('course_id');
    if (row) return row.course_id as number;
  }
  // Data Sync's own id goes into a URL, which cannot carry a lone surrogate.
  if (scope === 'section' && sys.id && isWellFormed(sys.id)) {
    const resolved = await client.resolveSection(sys.id);
    if (storable(resolved)) {
      const row = await db('courses')
        .where({ tenant_id: tenantId, batch_uid: resolved })
        .first('id');
      if (row) return row.id as number;
    }
  }
  return null;
}
