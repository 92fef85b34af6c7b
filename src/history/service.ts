import type { Knex } from 'knex';
import type { Db } from '../db/knex.js';
import { NotFoundError } from '../http/errors.js';
import type { CanvasPage } from '../http/pagination.js';
import { dayBounds } from './days.js';
import {
  GRADED_ON_SUBMISSION,
  historyVersion,
  submissionVersion,
  type DayJson,
  type GraderJson,
  type HistoryVersionJson,
  type SubmissionHistoryJson,
  type SubmissionVersionJson,
  type VersionRow,
} from './presenters.js';

export interface HistoryCourse {
  id: number;
  tenantId: number;
  timeZone: string;
}

/**
 * Course references resolved recently. A course never changes id, tenant or
 * batch_uid; its tenant's time zone can, so entries live ten seconds and a
 * time zone change in this process forgets them at once.
 */
const courseCache = new Map<string, { course: HistoryCourse; until: number }>();
const COURSE_TTL_MS = 10_000;

export function forgetTenantCourses(tenantId: number): void {
  for (const [key, entry] of courseCache)
    if (entry.course.tenantId === tenantId) courseCache.delete(key);
}

/** `:course_id` is the integer id or `sis_course_id:<batch_uid>`; another tenant's course does not exist. */
export async function resolveCourse(
  db: Db,
  tenantId: number,
  ref: { id: number } | { sisId: string },
): Promise<HistoryCourse> {
  const key = 'id' in ref ? `${tenantId}|id|${ref.id}` : `${tenantId}|sis|${ref.sisId}`;
  const cached = courseCache.get(key);
  if (cached && cached.until > Date.now()) return cached.course;
  const course = await lookupCourse(db, tenantId, ref);
  if (courseCache.size >= 10_000) courseCache.clear();
  courseCache.set(key, { course, until: Date.now() + COURSE_TTL_MS });
  return course;
}

async function lookupCourse(
  db: Db,
  tenantId: number,
  ref: { id: number } | { sisId: string },
): Promise<HistoryCourse> {
  const query = db('courses')
    .join('tenants', 'tenants.id', 'courses.tenant_id')
    .where('courses.tenant_id', tenantId)
    .first('courses.id', 'courses.tenant_id', 'tenants.time_zone');
  if ('id' in ref) query.where('courses.id', ref.id);
  else query.where('courses.batch_uid', ref.sisId);
  const row = await query;
  if (!row) throw new NotFoundError();
  return { id: row.id, tenantId: row.tenant_id, timeZone: row.time_zone };
}

export async function resolveUser(
  db: Db,
  tenantId: number,
  ref: { id: number } | { sisId: string },
): Promise<number> {
  const query = db('users').where('tenant_id', tenantId).first('id');
  if ('id' in ref) query.where('id', ref.id);
  else query.where('batch_uid', ref.sisId);
  const row = await query;
  if (!row) throw new NotFoundError();
  return row.id;
}

async function assertColumn(db: Db, course: HistoryCourse, columnId: number): Promise<void> {
  const row = await db('grade_columns').where({ id: columnId, course_id: course.id }).first('id');
  if (!row) throw new NotFoundError();
}

/** Rows grouped by a key, groups in order of first appearance and rows in their order. */
function groupBy<T, K>(rows: T[], keyOf: (row: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const row of rows) {
    const key = keyOf(row);
    const group = groups.get(key);
    if (group) group.push(row);
    else groups.set(key, [row]);
  }
  return groups;
}

export interface Paged<T> {
  total: number;
  items: T[];
}

/** Groups summary rows (day, grader, column) into graders with their assignment ids. */
function graders(
  rows: Array<{ grader_id: number; grader_name: string | null; column_id: number }>,
): GraderJson[] {
  const byGrader = new Map<number, GraderJson>();
  for (const r of rows) {
    let grader = byGrader.get(r.grader_id);
    if (!grader) {
      grader = {
        id: r.grader_id,
        name: r.grader_id === 0 ? GRADED_ON_SUBMISSION : (r.grader_name ?? `User ${r.grader_id}`),
        assignments: [],
      };
      byGrader.set(r.grader_id, grader);
    }
    if (!grader.assignments.includes(r.column_id)) grader.assignments.push(r.column_id);
  }
  return [...byGrader.values()];
}

function summary(db: Db, courseId: number): Knex.QueryBuilder {
  return db('grade_history_days as d')
    .leftJoin('users as g', 'g.id', 'd.grader_id')
    .where('d.course_id', courseId)
    .select('d.day', 'd.grader_id', 'g.name as grader_name', 'd.column_id')
    .orderBy([
      { column: 'd.day', order: 'desc' },
      { column: 'd.grader_id', order: 'asc' },
      { column: 'd.column_id', order: 'asc' },
    ]);
}

/** Days with graded work, newest first, each with its graders and their assignments. */
export async function listDays(
  db: Db,
  course: HistoryCourse,
  page: CanvasPage,
): Promise<Paged<DayJson>> {
  // One query: the page of distinct days (with their total) joined to their summary rows.
  const pageOfDays = db
    .select('day', db.raw('count(*) over () as total'))
    .from(db('grade_history_days').where('course_id', course.id).distinct('day').as('x'))
    .orderBy('day', 'desc')
    .limit(page.perPage)
    .offset(page.offset);
  const rows = (await summary(db, course.id)
    .with('p', pageOfDays)
    .whereIn('d.day', db('p').select('day'))
    .select(db('p').max('total').as('total'))) as Array<{
    day: string;
    grader_id: number;
    grader_name: string | null;
    column_id: number;
    total: number;
  }>;
  if (rows.length === 0) {
    const [{ n }] = await db('grade_history_days')
      .where('course_id', course.id)
      .countDistinct({ n: 'day' });
    return { total: Number(n), items: [] };
  }
  // Rows come newest day first, so the map keeps the days in order.
  const byDay = groupBy(rows, (r) => r.day);
  const items = [...byDay].map(([date, dayRows]) => ({ date, graders: graders(dayRows) }));
  return { total: Number(rows[0]!.total), items };
}

/** The graders who worked on one day, with the assignments they worked on. */
export async function dayGraders(
  db: Db,
  course: HistoryCourse,
  day: string,
  page: CanvasPage,
): Promise<Paged<GraderJson>> {
  const all = graders(await summary(db, course.id).where('d.day', day));
  return { total: all.length, items: all.slice(page.offset, page.offset + page.perPage) };
}

/** The columns of a version row that the presenters read. */
function versionRows(db: Db): Knex.QueryBuilder {
  return db('grade_versions as v')
    .join('submissions as s', 's.id', 'v.submission_id')
    .join('grade_columns as c', 'c.id', 'v.column_id')
    .join('users as u', 'u.id', 'v.user_id')
    .leftJoin('users as g', 'g.id', 'v.grader_id')
    .leftJoin('users as cg', 'cg.id', 's.grader_id')
    .select(
      'v.id as version_id',
      'v.submission_id',
      'v.user_id',
      'v.column_id',
      'v.score',
      'v.grade',
      'v.graded_at',
      'v.grader_id',
      'v.workflow_state',
      'v.excused',
      'v.late',
      'v.missing',
      'c.name as assignment_name',
      'u.name as user_name',
      'u.batch_uid as user_batch_uid',
      'g.name as grader_name',
      's.grade as current_grade',
      's.graded_at as current_graded_at',
      's.grader_id as current_grader_id',
      'cg.name as current_grader_name',
    );
}

/**
 * The submissions drill-down, as Canvas answers it: the assignment's
 * submissions that grader graded that day, each with every version of its
 * history (any day, any grader), newest first.
 *
 * Canvas selects a submission by its current grade: given that day by that
 * grader. Days here keep every version on its own day, so a submission is
 * also selected when that grader graded it that day in a version since
 * superseded; every grader and assignment a day lists then leads to its
 * submissions. Submissions come newest current grade first.
 *
 * A version is shown when its score is set and differs from the version
 * immediately before it (shown or not): scores 7, none, 7 show both 7s.
 * previous_* describe the version immediately before; new_* the version;
 * current_* the submission now.
 */
export async function daySubmissions(
  db: Db,
  course: HistoryCourse,
  day: string,
  graderId: number,
  assignmentId: number,
  page: CanvasPage,
): Promise<Paged<SubmissionHistoryJson>> {
  await assertColumn(db, course, assignmentId);
  const bounds = dayBounds(day, course.timeZone)!;
  const gradedThatDay = db('grade_versions')
    .where('course_id', course.id)
    .where('column_id', assignmentId)
    .where('graded_at', '>=', bounds.start)
    .where('graded_at', '<', bounds.end)
    .select('submission_id');
  if (graderId === 0) gradedThatDay.whereNull('grader_id');
  else gradedThatDay.where('grader_id', graderId);
  const selected = () =>
    db('submissions').where('course_id', course.id).whereIn('id', gradedThatDay.clone());
  const [{ n }] = await selected().count({ n: '*' });
  const submissions = (
    (await selected()
      .select('id')
      .orderBy([
        { column: 'graded_at', order: 'desc' },
        { column: 'id', order: 'desc' },
      ])
      .limit(page.perPage)
      .offset(page.offset)) as Array<{ id: number }>
  ).map((r) => r.id);
  if (submissions.length === 0) return { total: Number(n), items: [] };
  // In the order the grades were given: a late event (recorded after a newer
  // grade, see GradeBatch.recordAsOf) takes its place by its own time.
  const rows = (await versionRows(db)
    .whereIn('v.submission_id', submissions)
    .orderBy([
      { column: 'v.graded_at', order: 'asc' },
      { column: 'v.id', order: 'asc' },
    ])) as VersionRow[];
  const bySubmission = groupBy(rows, (r) => r.submission_id);
  const items = submissions.map((submissionId) => ({
    submission_id: submissionId,
    versions: shownVersions(bySubmission.get(submissionId) ?? []),
  }));
  return { total: Number(n), items };
}

/**
 * A submission's versions (oldest first in, newest first out) that Canvas
 * shows: a set score that differs from the version immediately before it.
 */
function shownVersions(history: VersionRow[]): HistoryVersionJson[] {
  const shown: HistoryVersionJson[] = [];
  let previous: VersionRow | null = null;
  for (const row of history) {
    if (row.score !== null && (previous === null || !sameScore(previous.score, row.score)))
      shown.push(historyVersion(row, previous));
    previous = row;
  }
  return shown.reverse();
}

function sameScore(a: number | null, b: number | null): boolean {
  if (a === null || b === null) return a === b;
  return Math.abs(Number(a) - Number(b)) < 1e-9;
}

export interface FeedFilter {
  assignmentId?: number | undefined;
  userId?: number | undefined;
  ascending: boolean;
}

/** Every version of the course, newest first (or oldest first), optionally for one assignment or user. */
export async function feed(
  db: Db,
  course: HistoryCourse,
  filter: FeedFilter,
  page: CanvasPage,
): Promise<Paged<SubmissionVersionJson>> {
  if (filter.assignmentId !== undefined) await assertColumn(db, course, filter.assignmentId);
  const versions = () => {
    const q = db('grade_versions').where('course_id', course.id);
    if (filter.assignmentId !== undefined) q.where('column_id', filter.assignmentId);
    if (filter.userId !== undefined) q.where('user_id', filter.userId);
    return q;
  };
  const order = filter.ascending ? 'asc' : 'desc';
  const filtered = filter.assignmentId !== undefined || filter.userId !== undefined;
  // The total rides along as a scalar subquery (the course's running count
  // when unfiltered); the page's ids come from the index alone and only those
  // rows are joined: one round trip. An empty page asks for the total alone.
  const total = () =>
    filtered
      ? versions().count({ total: '*' })
      : db('grade_history_totals').where('course_id', course.id).select({ total: 'versions' });
  const ids = versions().select('id').orderBy('id', order).limit(page.perPage).offset(page.offset);
  const rows = (await versionRows(db)
    .select(total().as('total'))
    .whereIn('v.id', ids)
    .orderBy('v.id', order)) as Array<VersionRow & { total: number | null }>;
  const n =
    rows.length > 0
      ? rows[0]!.total
      : ((await total()) as Array<{ total: number | string }>)[0]?.total;
  return { total: Number(n ?? 0), items: rows.map(submissionVersion) };
}
