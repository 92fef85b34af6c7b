import type { Knex } from 'knex';
import { dbClient, type Db } from '../db/knex.js';
import { BadRequestError } from '../http/errors.js';
import {
  MATCH_FIELDS,
  MODEL_FIELDS,
  TEXT_FIELDS,
  type Criteria,
  type QueryFilter,
} from './schemas.js';

/** Enrollment roles that make a person one of a class's instructors. */
export const INSTRUCTOR_ROLES = ['Instructor', 'TeachingAssistant'];
/** Enrollment role of the learners a gradebook counts. */
export const LEARNER_ROLE = 'Learner';

/** Columns of the base query (gradebooks joined to their class and organization). */
export const BASE_COLUMNS = [
  'gb.id as gb_id',
  'gb.course_id',
  'gb.uuid as gradebook_id',
  'c.uuid as class_id',
  'gb.achievement_id',
  'gb.achievement_title',
  'gb.framework_id',
  'gb.period_id',
  'gb.is_locked',
  'gb.title as gradebook_title',
  'gb.type as gradebook_type',
  'gb.last_change_type',
  'gb.last_change_user',
  'gb.last_change_time',
  'gb.reference',
  'gb.created_at as gradebook_created',
  'c.title as class_title',
  'c.starts_at as class_starts_at',
  'c.ends_at as class_ends_at',
];

/** SQL of each property that can be filtered by text or sorted on. */
const COLUMN_OF: Record<string, string> = {
  achievementId: 'gb.achievement_id',
  achievementTitle: 'gb.achievement_title',
  eventId: 'c.uuid',
  classId: 'c.uuid',
  frameworkId: 'gb.framework_id',
  gradebookId: 'gb.uuid',
  organizationId: 'gb.tenant_id',
  periodId: 'gb.period_id',
  isLocked: 'gb.is_locked',
  gradebookTitle: 'gb.title',
  gradebookType: 'gb.type',
  lastChangeType: 'gb.last_change_type',
  lastChangeUser: 'gb.last_change_user',
  reference: 'gb.reference',
  gradebookCreated: 'gb.created_at',
  lastChangeTime: 'gb.last_change_time',
  classScheduledStartDate: 'c.starts_at',
  classScheduledEndDate: 'c.ends_at',
  classStarted: 'c.starts_at',
  classEnded: 'c.ends_at',
  classTitle: 'c.title',
};

function escapeLike(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Case-insensitive "contains" that is the same on both databases. */
function contains(db: Db, q: Knex.QueryBuilder, column: string, text: string, or = false): void {
  const op = dbClient(db) === 'postgres' ? 'ilike' : 'like';
  const method = or ? 'orWhereRaw' : 'whereRaw';
  q[method](`${column} ${op} ? escape '\\'`, [escapeLike(text)]);
}

function instructorExists(
  db: Db,
  q: Knex.QueryBuilder,
  apply: (sub: Knex.QueryBuilder) => void,
  or = false,
) {
  const sub = db('enrollments as e')
    .join('users as iu', 'iu.id', 'e.user_id')
    .whereRaw('e.course_id = gb.course_id')
    .whereIn('e.role', INSTRUCTOR_ROLES)
    .select(db.raw('1'));
  apply(sub);
  if (or) q.orWhereExists(sub);
  else q.whereExists(sub);
}

/** Whose gradebooks: the token's tenant, and its uuid (the Progress organizationId). */
export interface Scope {
  tenantId: number;
  organizationId: string;
}

const COURSE_CRITERIA: Array<keyof Criteria> = [
  'classId',
  'classTitle',
  'classStartedSince',
  'classStartedBefore',
];

/** Whether the criteria read the class (course) row, so the query must join it. */
function criteriaNeedCourse(criteria: Criteria): boolean {
  if (COURSE_CRITERIA.some((k) => criteria[k] !== undefined && criteria[k] !== null)) return true;
  return Object.entries(criteria.texts ?? {}).some(
    ([k, v]) => v && (k === 'classTitle' || k === '*'),
  );
}

/**
 * The scope's gradebooks matching every given criterion. The class (course)
 * is joined only when a criterion, the sort or the caller needs it, so counts
 * and title searches read one table.
 */
export function matchingGradebooks(
  db: Db,
  scope: Scope,
  criteria: Criteria,
  withCourse = false,
): Knex.QueryBuilder {
  const q = db('gradebooks as gb').where('gb.tenant_id', scope.tenantId);
  if (withCourse || criteriaNeedCourse(criteria)) q.join('courses as c', 'c.id', 'gb.course_id');
  if (criteria.organizationId && criteria.organizationId.toLowerCase() !== scope.organizationId)
    q.whereRaw('1 = 0');
  const exact: Array<[keyof Criteria, string]> = [
    ['identifier', 'gb.uuid'],
    ['achievementId', 'gb.achievement_id'],
    ['classId', 'c.uuid'],
    ['frameworkId', 'gb.framework_id'],
    ['periodId', 'gb.period_id'],
  ];
  // Stored uuids are lower case; compare without regard to the caller's case.
  for (const [key, column] of exact) {
    const value = criteria[key];
    if (typeof value === 'string') q.where(column, value.toLowerCase());
  }
  if (typeof criteria.isLocked === 'boolean') q.where('gb.is_locked', criteria.isLocked);
  if (criteria.classInstructorId) {
    const id = criteria.classInstructorId.toLowerCase();
    instructorExists(db, q, (sub) => sub.where('iu.uuid', id));
  }
  const texts: Array<[keyof Criteria, string]> = [
    ['classTitle', 'c.title'],
    ['gradebookTitle', 'gb.title'],
    ['gradebookType', 'gb.type'],
    ['lastChangeType', 'gb.last_change_type'],
    ['lastChangeUser', 'gb.last_change_user'],
    ['reference', 'gb.reference'],
  ];
  for (const [key, column] of texts) {
    const value = criteria[key];
    if (typeof value === 'string' && value !== '') contains(db, q, column, value);
  }
  const ranges: Array<[keyof Criteria, keyof Criteria, string]> = [
    ['classStartedSince', 'classStartedBefore', 'c.starts_at'],
    ['gradebookCreatedSince', 'gradebookCreatedBefore', 'gb.created_at'],
    ['lastChangeSince', 'lastChangeBefore', 'gb.last_change_time'],
  ];
  for (const [since, before, column] of ranges) {
    if (typeof criteria[since] === 'string')
      q.where(column, '>=', new Date(criteria[since]).toISOString());
    if (typeof criteria[before] === 'string')
      q.where(column, '<', new Date(criteria[before]).toISOString());
  }
  for (const [key, value] of Object.entries(criteria.texts ?? {})) {
    if (value === null || value === '') continue;
    if (key === '*') {
      q.where((any) => {
        for (const field of TEXT_FIELDS) {
          if (field === 'classInstructors') {
            instructorExists(db, any, (sub) => contains(db, sub, 'iu.name', value), true);
          } else contains(db, any, COLUMN_OF[field]!, value, true);
        }
      });
    } else if (key === 'classInstructors') {
      instructorExists(db, q, (sub) => contains(db, sub, 'iu.name', value));
    } else if ((TEXT_FIELDS as readonly string[]).includes(key)) {
      contains(db, q, COLUMN_OF[key]!, value);
    } else {
      throw new BadRequestError(
        `texts: "${key}" is not a text property; use one of ${TEXT_FIELDS.join(', ')} or *`,
        {
          code: 'unknown_text_field',
        },
      );
    }
  }
  return q;
}

export interface Paging {
  page: number;
  pageSize: number;
  offset: number;
}

/** Page from 1 and page size 20 by default, clamped to 1..100, as the Progress SDK does. */
export function paging(filter: QueryFilter | undefined): Paging {
  const page = Math.max(1, filter?.page ?? 1);
  const pageSize = Math.min(100, Math.max(1, filter?.pageSize ?? 20));
  return { page, pageSize, offset: (page - 1) * pageSize };
}

export type Shape = 'model' | 'match';

/** Properties a sort may name, per response shape. */
function sortable(shape: Shape): string[] {
  const fields = shape === 'model' ? MODEL_FIELDS : MATCH_FIELDS;
  return fields.filter((f) => f in COLUMN_OF || f === 'gradebookEnrollmentCount');
}

export interface SortTerm {
  field: string;
  direction: 'asc' | 'desc';
}

const COURSE_FIELDS = new Set([
  'eventId',
  'classId',
  'classTitle',
  'classScheduledStartDate',
  'classScheduledEndDate',
  'classStarted',
  'classEnded',
]);

/**
 * `sort` is one or more properties, comma-separated, each optionally followed
 * by asc or desc ("gradebookTitle desc, lastChangeTime"). Names match without
 * regard to case; an unknown one is a 400.
 */
export function parseSort(sort: string | null | undefined, shape: Shape): SortTerm[] {
  const allowed = sortable(shape);
  const parts = (sort ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  return (parts.length > 0 ? parts : ['gradebookTitle asc']).map((term) => {
    const match = /^([A-Za-z]+)(?:\s+(asc|desc))?$/i.exec(term);
    const field = match && allowed.find((f) => f.toLowerCase() === match[1]!.toLowerCase());
    if (!match || !field) {
      throw new BadRequestError(
        `filter.sort: "${term}" is not a sortable property (with an optional asc or desc); sortable: ${allowed.join(', ')}`,
        { code: 'unknown_sort_field' },
      );
    }
    return { field, direction: (match[2] ?? 'asc').toLowerCase() as 'asc' | 'desc' };
  });
}

export function sortNeedsCourse(terms: SortTerm[]): boolean {
  return terms.some((t) => COURSE_FIELDS.has(t.field));
}

/** Orders by the terms, nulls first ascending on both databases; the gradebook id breaks ties so pages never overlap. */
export function applySort(q: Knex.QueryBuilder, terms: SortTerm[]): void {
  for (const { field, direction } of terms) {
    if (field === 'gradebookEnrollmentCount') {
      q.orderByRaw(
        `(select count(*) from enrollments se where se.course_id = gb.course_id and se.role = ?) ${direction}`,
        [LEARNER_ROLE],
      );
    } else {
      const column = COLUMN_OF[field]!;
      q.orderByRaw(
        `${column} is null ${direction === 'asc' ? 'desc' : 'asc'}, ${column} ${direction}`,
      );
    }
  }
  q.orderBy('gb.id', 'asc');
}

/** Parses includes / excludes into the property names a response carries. */
export function projection(filter: QueryFilter | undefined, shape: Shape): string[] {
  const all: string[] = shape === 'model' ? [...MODEL_FIELDS] : [...MATCH_FIELDS];
  const names = (text: string | null | undefined, which: string) =>
    (text ?? '')
      .split(',')
      .map((n) => n.trim())
      .filter(Boolean)
      .map((n) => {
        const found = all.find((f) => f.toLowerCase() === n.toLowerCase());
        if (!found) {
          throw new BadRequestError(
            `filter.${which}: "${n}" is not a property of the result; properties: ${all.join(', ')}`,
            {
              code: 'unknown_property',
            },
          );
        }
        return found;
      });
  const included = names(filter?.includes, 'includes');
  const excluded = new Set(names(filter?.excludes, 'excludes'));
  return (included.length > 0 ? included : all).filter((f) => !excluded.has(f));
}

export function pick<T extends Record<string, unknown>>(value: T, fields: string[]): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const f of fields) out[f] = value[f];
  return out as Partial<T>;
}
