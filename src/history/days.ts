import type { GradeFollower } from '../grades/followers.js';
import { DateTime } from 'luxon';
import { insertRows, readRows, writeRows } from '../db/bulk.js';
import type { Trx } from '../db/knex.js';

/**
 * The day summary behind /gradebook_history/days: versions counted per
 * course, local day, grader and column. Written in the same transaction as
 * the versions it counts.
 */
export interface VersionForDay {
  courseId: number;
  columnId: number;
  graderId: number | null;
  gradedAt: string;
}

const dayCache = new Map<string, string>();

/** The calendar day of an instant in a time zone (YYYY-MM-DD). */
export function localDay(iso: string, zone: string): string {
  const key = `${zone}|${iso}`;
  let day = dayCache.get(key);
  if (day === undefined) {
    day = DateTime.fromISO(iso, { zone: 'utc' }).setZone(zone).toISODate()!;
    if (dayCache.size > 10000) dayCache.clear();
    dayCache.set(key, day);
  }
  return day;
}

/** The first and last instants the store's times can hold (years 1 to 9999, UTC). */
const FIRST_INSTANT = '0001-01-01T00:00:00.000Z';
const LAST_INSTANT = '9999-12-31T23:59:59.999Z';

/**
 * The instants a local day starts and ends (end exclusive), as ISO UTC
 * strings, kept within years 1 to 9999 UTC (the first and last local days
 * of the calendar may reach past them).
 */
export function dayBounds(day: string, zone: string): { start: string; end: string } | null {
  const start = DateTime.fromISO(day, { zone });
  if (!start.isValid) return null;
  const within = (instant: DateTime) =>
    instant < DateTime.fromISO(FIRST_INSTANT)
      ? FIRST_INSTANT
      : instant > DateTime.fromISO(LAST_INSTANT)
        ? LAST_INSTANT
        : instant.toUTC().toISO()!;
  return { start: within(start), end: within(start.plus({ days: 1 })) };
}

export async function tenantZone(trx: Trx, tenantId: number): Promise<string> {
  const [row] = await readRows<{ time_zone: string }>(
    trx,
    'select time_zone from tenants where id = ?',
    [tenantId],
  );
  return row?.time_zone ?? 'UTC';
}

export async function countVersionDays(
  trx: Trx,
  tenantId: number,
  versions: readonly VersionForDay[],
): Promise<void> {
  if (versions.length === 0) return;
  const zone = await tenantZone(trx, tenantId);
  const counts = new Map<
    string,
    { courseId: number; day: string; graderId: number; columnId: number; n: number }
  >();
  const perCourse = new Map<number, number>();
  for (const v of versions) {
    perCourse.set(v.courseId, (perCourse.get(v.courseId) ?? 0) + 1);
    const day = localDay(v.gradedAt, zone);
    const graderId = v.graderId ?? 0;
    const key = `${v.courseId}|${day}|${graderId}|${v.columnId}`;
    const entry = counts.get(key);
    if (entry) entry.n++;
    else counts.set(key, { courseId: v.courseId, day, graderId, columnId: v.columnId, n: 1 });
  }
  for (const c of counts.values()) {
    await writeRows(
      trx,
      `insert into grade_history_days (tenant_id, course_id, day, grader_id, column_id, versions) values (?, ?, ?, ?, ?, ?)
       on conflict (course_id, day, grader_id, column_id) do update set versions = grade_history_days.versions + excluded.versions`,
      [tenantId, c.courseId, c.day, c.graderId, c.columnId, c.n],
    );
  }
  for (const [courseId, n] of perCourse) {
    await writeRows(
      trx,
      `insert into grade_history_totals (course_id, tenant_id, versions) values (?, ?, ?)
       on conflict (course_id) do update set versions = grade_history_totals.versions + excluded.versions`,
      [courseId, tenantId, n],
    );
  }
}

/** Recounts a tenant's days (and course totals) from its versions, e.g. after a time zone change. */
export async function rebuildVersionDays(trx: Trx, tenantId: number): Promise<void> {
  const zone = await tenantZone(trx, tenantId);
  await trx('grade_history_days').where({ tenant_id: tenantId }).delete();
  await trx('grade_history_totals').where({ tenant_id: tenantId }).delete();
  const counts = new Map<string, number>();
  const totals = new Map<number, number>();
  let after = 0;
  for (;;) {
    const rows = await trx('grade_versions')
      .select('id', 'course_id', 'column_id', 'grader_id', 'graded_at')
      .where('tenant_id', tenantId)
      .where('id', '>', after)
      .orderBy('id')
      .limit(20000);
    if (rows.length === 0) break;
    for (const r of rows) {
      const key = `${r.course_id}|${localDay(r.graded_at, zone)}|${r.grader_id ?? 0}|${r.column_id}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      totals.set(r.course_id, (totals.get(r.course_id) ?? 0) + 1);
    }
    after = rows[rows.length - 1].id;
  }
  await insertRows(
    trx,
    'grade_history_days',
    [...counts].map(([key, versions]) => {
      const [course, day, grader, column] = key.split('|');
      return {
        tenant_id: tenantId,
        course_id: Number(course),
        day,
        grader_id: Number(grader),
        column_id: Number(column),
        versions,
      };
    }),
  );
  await insertRows(
    trx,
    'grade_history_totals',
    [...totals].map(([courseId, versions]) => ({
      course_id: courseId,
      tenant_id: tenantId,
      versions,
    })),
  );
}

/** Follows grade changes: counts each new version on its day, grader and column. */
export const historyDaysFollower: GradeFollower = {
  name: 'history day summary',
  follow: (trx, batch) => countVersionDays(trx, batch.tenantId, batch.changes),
};
