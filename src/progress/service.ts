import type { Db, Executor } from '../db/knex.js';
import { toBool, toIso } from '../db/time.js';
import { chunk } from '../grades/grade-batch.js';
import { parseJson, toJson } from '../db/json.js';
import { percentOf, type GradeSymbol } from '../grades/symbols.js';
import { streamRows } from '../db/stream.js';
import {
  applySort,
  BASE_COLUMNS,
  INSTRUCTOR_ROLES,
  LEARNER_ROLE,
  matchingGradebooks,
  paging,
  parseSort,
  pick,
  projection,
  sortNeedsCourse,
  type Scope,
  type Shape,
} from './query.js';
import type { Criteria, GradebookMatch, GradebookModel } from './schemas.js';

export interface BaseRow {
  gb_id: number;
  course_id: number;
  gradebook_id: string;
  class_id: string;
  achievement_id: string | null;
  achievement_title: string | null;
  framework_id: string | null;
  period_id: string | null;
  is_locked: unknown;
  gradebook_title: string | null;
  gradebook_type: string | null;
  last_change_type: string | null;
  last_change_user: string | null;
  last_change_time: string;
  reference: string | null;
  gradebook_created: string;
  class_title: string | null;
  class_starts_at: string | null;
  class_ends_at: string | null;
}

/** Instructor names per course, "A, B" in name order. */
async function instructors(db: Db, courseIds: number[]): Promise<Map<number, string>> {
  const names = new Map<number, string[]>();
  for (const part of chunk(courseIds, 500)) {
    const rows = await db('enrollments as e')
      .join('users as u', 'u.id', 'e.user_id')
      .whereIn('e.course_id', part)
      .whereIn('e.role', INSTRUCTOR_ROLES)
      .orderBy(['e.course_id', 'u.name', 'u.id'])
      .select('e.course_id', 'u.name', 'u.batch_uid');
    for (const r of rows) {
      const list = names.get(r.course_id) ?? [];
      list.push(r.name ?? r.batch_uid ?? 'Unnamed');
      names.set(r.course_id, list);
    }
  }
  return new Map([...names].map(([id, list]) => [id, list.join(', ')]));
}

function model(
  row: BaseRow,
  instructorNames: string | undefined,
  organizationId: string,
): GradebookModel {
  return {
    achievementId: row.achievement_id,
    eventId: row.class_id,
    frameworkId: row.framework_id,
    gradebookId: row.gradebook_id,
    organizationId,
    periodId: row.period_id,
    isLocked: toBool(row.is_locked),
    gradebookTitle: row.gradebook_title,
    gradebookType: row.gradebook_type,
    lastChangeType: row.last_change_type,
    lastChangeUser: row.last_change_user,
    reference: row.reference,
    gradebookCreated: toIso(row.gradebook_created)!,
    lastChangeTime: toIso(row.last_change_time)!,
    achievementTitle: row.achievement_title,
    classInstructors: instructorNames ?? null,
    classScheduledStartDate: toIso(row.class_starts_at),
    classScheduledEndDate: toIso(row.class_ends_at),
    classTitle: row.class_title,
  };
}

async function models(db: Db, scope: Scope, rows: BaseRow[]): Promise<GradebookModel[]> {
  const names = await instructors(
    db,
    rows.map((r) => r.course_id),
  );
  return rows.map((r) => model(r, names.get(r.course_id), scope.organizationId));
}

export async function getGradebook(
  db: Db,
  scope: Scope,
  gradebookId: string,
): Promise<GradebookModel | null> {
  const row = (await matchingGradebooks(db, scope, { identifier: gradebookId }, true)
    .select(BASE_COLUMNS)
    .first()) as BaseRow | undefined;
  return row ? (await models(db, scope, [row]))[0]! : null;
}

export async function gradebookExists(db: Db, scope: Scope, gradebookId: string): Promise<boolean> {
  const row = await db('gradebooks')
    .where({ tenant_id: scope.tenantId, uuid: gradebookId.toLowerCase() })
    .first('id');
  return row !== undefined;
}

/**
 * A page of matches in two steps: the ids, filtered, sorted and cut from the
 * narrowest query that can (the class is joined only when needed), then the
 * page's rows with their class.
 */
async function page(db: Db, scope: Scope, criteria: Criteria, shape: Shape): Promise<BaseRow[]> {
  const terms = parseSort(criteria.filter?.sort, shape);
  const { pageSize, offset } = paging(criteria.filter);
  const ids = matchingGradebooks(db, scope, criteria, sortNeedsCourse(terms))
    .select('gb.id')
    .limit(pageSize)
    .offset(offset);
  applySort(ids, terms);
  const order = ((await ids) as Array<{ id: number }>).map((r) => r.id);
  if (order.length === 0) return [];
  const rows = (await db('gradebooks as gb')
    .join('courses as c', 'c.id', 'gb.course_id')
    .whereIn('gb.id', order)
    .select(BASE_COLUMNS)) as BaseRow[];
  const byId = new Map(rows.map((r) => [r.gb_id, r]));
  return order.map((id) => byId.get(id)!);
}

export async function collectGradebooks(
  db: Db,
  scope: Scope,
  criteria: Criteria,
): Promise<Array<Partial<GradebookModel>>> {
  const fields = projection(criteria.filter, 'model');
  return (await models(db, scope, await page(db, scope, criteria, 'model'))).map((m) =>
    pick(m, fields),
  );
}

export async function countGradebooks(
  db: Db,
  scope: Scope,
  criteria: Criteria,
): Promise<{ count: number; summary: string | null }> {
  const [{ n }] = await matchingGradebooks(db, scope, criteria).count({ n: '*' });
  const count = Number(n);
  return { count, summary: `${count} gradebook${count === 1 ? '' : 's'}` };
}

/**
 * Whether a learner's final grade passes: it reaches the lowest passing band
 * of the column's schema (the second-lowest lower bound: D=60 in A..F, P=80 in
 * P/F), or 60 % of points possible when the column has no such schema.
 */
export function passMark(symbols: GradeSymbol[] | null): number {
  const bounds = [
    ...new Set((symbols ?? []).map((s) => s.lowerBound).filter((b): b is number => b !== null)),
  ].sort((a, b) => a - b);
  return bounds.length >= 2 ? bounds[1]! : 60;
}

/** Learners enrolled, and learners whose final (external) grade passes, per course. */
async function matchCounts(
  db: Db,
  courseIds: number[],
): Promise<Map<number, { enrolled: number; granted: number }>> {
  const out = new Map<number, { enrolled: number; granted: number }>();
  for (const id of courseIds) out.set(id, { enrolled: 0, granted: 0 });
  if (courseIds.length === 0) return out;
  const enrolled = (await db('enrollments')
    .whereIn('course_id', courseIds)
    .where('role', LEARNER_ROLE)
    .groupBy('course_id')
    .select('course_id')
    .count({ n: '*' })) as Array<{ course_id: number; n: number | string }>;
  for (const r of enrolled) out.get(r.course_id)!.enrolled = Number(r.n);
  const finals = await db('grade_columns as gc')
    .leftJoin('grade_schemas as gs', 'gs.id', 'gc.grade_schema_id')
    .whereIn('gc.course_id', courseIds)
    .where('gc.is_external', true)
    .whereNull('gc.deleted_at')
    .select('gc.id', 'gc.course_id', 'gc.points', 'gs.symbols');
  if (finals.length === 0) return out;
  const columns = new Map<number, { courseId: number; points: number; mark: number }>(
    finals.map((f) => [
      f.id,
      {
        courseId: f.course_id,
        points: f.points,
        mark: passMark(parseJson<GradeSymbol[]>(f.symbols)),
      },
    ]),
  );
  const grades = await db('submissions as s')
    .join('enrollments as e', (j) =>
      j.on('e.course_id', 's.course_id').andOn('e.user_id', 's.user_id'),
    )
    .whereIn('s.column_id', [...columns.keys()])
    .where('e.role', LEARNER_ROLE)
    .whereNotNull('s.score')
    .select('s.column_id', 's.score');
  for (const g of grades) {
    const column = columns.get(g.column_id)!;
    const pct = percentOf(g.score, column.points);
    if (pct !== null && pct >= column.mark) out.get(column.courseId)!.granted++;
  }
  return out;
}

export async function searchGradebooks(
  db: Db,
  scope: Scope,
  criteria: Criteria,
): Promise<Array<Partial<GradebookMatch>>> {
  const fields = projection(criteria.filter, 'match');
  const rows = await page(db, scope, criteria, 'match');
  const counts = await matchCounts(
    db,
    rows.map((r) => r.course_id),
  );
  return rows.map((r) => {
    const c = counts.get(r.course_id)!;
    const match: GradebookMatch = {
      gradebookId: r.gradebook_id,
      gradebookTitle: r.gradebook_title,
      gradebookCreated: toIso(r.gradebook_created)!,
      gradebookEnrollmentCount: c.enrolled,
      classId: r.class_id,
      classTitle: r.class_title,
      classStarted: toIso(r.class_starts_at),
      classEnded: toIso(r.class_ends_at),
      achievementId: r.achievement_id,
      achievementTitle: r.achievement_title,
      achievementCountGranted: c.granted,
      isLocked: toBool(r.is_locked),
    };
    return pick(match, fields);
  });
}

/**
 * Every matching gradebook in sort order, read from a cursor and completed
 * (instructors) 500 at a time: memory stays flat however many there are.
 */
export async function* streamGradebooks(
  db: Db,
  scope: Scope,
  criteria: Criteria,
  fields: string[],
): AsyncGenerator<Partial<GradebookModel>> {
  const q = matchingGradebooks(db, scope, criteria, true).select(BASE_COLUMNS);
  applySort(q, parseSort(criteria.filter?.sort, 'model'));
  let batch: BaseRow[] = [];
  const flush = async () => {
    const out = (await models(db, scope, batch)).map((m) => pick(m, fields));
    batch = [];
    return out;
  };
  for await (const row of streamRows<BaseRow>(db, q)) {
    batch.push(row);
    if (batch.length === 500) yield* await flush();
  }
  if (batch.length > 0) yield* await flush();
}

/** Records who asked, when and why (the request's Origin) for every query operation. */
export async function audit(
  db: Executor,
  entry: {
    tenantId: number;
    apiClientId: number;
    operation: string;
    requestId: string;
    criteria: Criteria;
  },
  now: string,
): Promise<void> {
  const { origin, ...rest } = entry.criteria;
  await db('audit_log').insert({
    tenant_id: entry.tenantId,
    api_client_id: entry.apiClientId,
    surface: 'progress',
    operation: entry.operation,
    request_id: entry.requestId,
    origin: toJson(origin ?? null),
    criteria: toJson(rest),
    created_at: now,
  });
}
