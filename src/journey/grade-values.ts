import { randomUUID } from 'node:crypto';
import {
  ensureEnrollments,
  ensureUsersByBatchUid,
  findCoursesByBatchUid,
  type CourseRef,
} from '../courses/service.js';
import { readRows } from '../db/bulk.js';
import { dbClient, type Trx } from '../db/knex.js';
import { toIso } from '../db/time.js';
import { lockCourses } from '../db/locks.js';
import { TOTAL, WEIGHTED } from '../grades/calculation.js';
import {
  addColumnRows,
  CourseColumns,
  liveColumnsJsonSql,
  loadLiveCourseColumns,
  type ColumnInfo,
  type ColumnRow,
} from '../grades/course-columns.js';
import {
  GradeBatch,
  SUBMISSION_READ,
  type GradebookChange,
  type SubmissionRow,
} from '../grades/grade-batch.js';
import { interpretValue } from '../grades/grading.js';
import { effectivePoints, recalculate } from '../grades/recalculate.js';
import type { JourneyActor } from './actor.js';
import { writableColumn } from './column-targets.js';
import { fail, ok, prepare } from './item-results.js';
import { gradeValueItem, type GradeValueItem, type ItemResult } from './schemas.js';

interface ResolvedValue {
  index: number;
  item: GradeValueItem;
  course: CourseRef;
  column: ColumnInfo;
  points: number;
  score: number | null;
  grade: string;
}

/**
 * Writes grade values. The whole batch is resolved with a handful of queries
 * (courses, columns, users, enrollments, current grades), every grade that
 * differs from the current one becomes a version, calculated columns that
 * read a changed column are recomputed, and everything is written in bulk.
 */
export async function writeGradeValues(
  trx: Trx,
  actor: JourneyActor,
  items: unknown[],
  now: string,
): Promise<ItemResult[]> {
  const { results, valid } = prepare(gradeValueItem, items, (i) => ({
    courseId: i.courseId,
    name: i.name,
  }));
  if (valid.length === 0) return results;
  const courses = await findCoursesByBatchUid(
    trx,
    actor.tenantId,
    valid.map((v) => v.value.courseId),
  );
  await lockCourses(
    trx,
    [...courses.values()].map((c) => c.id),
  );
  const courseIds = [...courses.values()].map((c) => c.id);
  // PostgreSQL: the columns, and the learners, enrollments and current grades
  // the batch names, in one statement after the lock (see readAfterLock).
  const known =
    dbClient(trx) === 'postgres'
      ? await readAfterLock(
          trx,
          actor.tenantId,
          courseIds,
          valid.map((v) => v.value),
        )
      : null;
  const columnsByCourse =
    known?.columns ?? (await loadLiveCourseColumns(trx, actor.tenantId, courseIds));

  const resolved: ResolvedValue[] = [];
  for (const { index, value: item } of valid) {
    const course = courses.get(item.courseId);
    if (!course) {
      fail(results, index, `course "${item.courseId}" does not exist`);
      continue;
    }
    const columns = columnsByCourse.get(course.id)!;
    const column = writableColumn(results, index, item, course, columns);
    if (!column) continue;
    if (column.itemType === WEIGHTED || column.itemType === TOTAL) {
      fail(
        results,
        index,
        `grade column "${item.name}" is a ${column.itemType}; its values are calculated`,
      );
      continue;
    }
    const points = effectivePoints(column, columns);
    const value = interpretValue(column, points, item.value);
    if (!value.ok) {
      fail(results, index, value.error);
      continue;
    }
    resolved.push({ index, item, course, column, points, score: value.score, grade: value.grade });
  }
  if (resolved.length === 0) return results;

  const batchUids = resolved.map((r) => r.item.userId);
  const users = known ? new Map(known.users) : new Map<string, number>();
  const unknownUsers = batchUids.filter((uid) => !users.has(uid));
  if (unknownUsers.length > 0 || !known) {
    for (const [uid, id] of await ensureUsersByBatchUid(trx, actor.tenantId, unknownUsers, now))
      users.set(uid, id);
  }
  const enrollments = resolved.map((r) => ({
    courseId: r.course.id,
    userId: users.get(r.item.userId)!,
  }));
  const unenrolled = known
    ? enrollments.filter((e) => !known.enrollments.has(`${e.courseId}:${e.userId}`))
    : enrollments;
  if (unenrolled.length > 0)
    await ensureEnrollments(trx, actor.tenantId, unenrolled, 'Learner', 'journey', now);
  const batch = new GradeBatch(trx, actor.tenantId, now);
  const pairs = resolved.map((r) => ({ columnId: r.column.id, userId: users.get(r.item.userId)! }));
  if (known) batch.prime(pairs, known.submissions);
  else await batch.load(pairs);
  const keyPrefix = `jv:${randomUUID()}`;
  const change: GradebookChange = { type: 'GradeChanged', user: actor.name };
  const changed = new Map<number, { columns: Set<number>; users: Set<number> }>();
  for (const r of resolved) {
    const userId = users.get(r.item.userId)!;
    const recorded = batch.record(
      {
        courseId: r.course.id,
        columnId: r.column.id,
        userId,
        score: r.score,
        grade: r.grade,
        pointsPossible: r.points,
        gradedAt: now,
        graderId: actor.graderUserId,
        source: 'journey',
        apiClientId: actor.apiClientId,
        idempotencyKey: `${keyPrefix}:${r.index}`,
      },
      change,
    );
    if (recorded) {
      let entry = changed.get(r.course.id);
      if (!entry) changed.set(r.course.id, (entry = { columns: new Set(), users: new Set() }));
      entry.columns.add(r.column.id);
      entry.users.add(userId);
    }
    ok(results, r.index, recorded ? 'Grade value successfully added' : 'Grade value unchanged');
  }
  for (const [courseId, entry] of changed) {
    await recalculate(batch, columnsByCourse.get(courseId)!, entry.columns, entry.users, {
      gradedAt: now,
      keyPrefix: `${keyPrefix}:calc`,
      change: { type: 'GradeCalculated', user: actor.name },
    });
  }
  await batch.flush();
  return results;
}

/**
 * PostgreSQL: everything the batch needs once its courses are locked, in one
 * statement (one snapshot, taken after the lock): the courses' live columns,
 * the tenant's users the items name, their enrollments in those courses,
 * and their current grades in the columns the items name. Users and
 * enrollments that are missing are created afterwards as on SQLite.
 */
async function readAfterLock(
  trx: Trx,
  tenantId: number,
  courseIds: number[],
  items: GradeValueItem[],
): Promise<{
  columns: Map<number, CourseColumns>;
  users: Map<string, number>;
  enrollments: Set<string>;
  submissions: SubmissionRow[];
}> {
  const batchUids = [...new Set(items.map((i) => i.userId))];
  const names = [...new Set(items.map((i) => i.name))];
  const [row] = await readRows<{
    columns: ColumnRow[];
    users: Array<{ id: number; batch_uid: string }>;
    enrollments: Array<{ course_id: number; user_id: number }>;
    submissions: SubmissionRow[];
  }>(
    trx,
    `with u as (select id, batch_uid from users where tenant_id = ? and batch_uid = any(?::text[]))
     select ${liveColumnsJsonSql} as columns,
       (select coalesce(json_agg(u), '[]') from u) as users,
       (select coalesce(json_agg(e), '[]') from (
          select e.course_id, e.user_id from enrollments e join u on u.id = e.user_id
           where e.course_id = any(?::int[])) e) as enrollments,
       (select coalesce(json_agg(s), '[]') from (
          select ${SUBMISSION_READ.split(', ')
            .map((c) => `s.${c}`)
            .join(', ')}
            from submissions s
            join u on u.id = s.user_id
            join grade_columns gc on gc.id = s.column_id
           where s.tenant_id = ? and gc.tenant_id = ? and gc.course_id = any(?::int[])
             and gc.name = any(?::text[]) and gc.deleted_at is null) s) as submissions`,
    [tenantId, batchUids, tenantId, courseIds, courseIds, tenantId, tenantId, courseIds, names],
  );
  const columns = new Map<number, CourseColumns>();
  for (const id of courseIds) columns.set(id, new CourseColumns(id));
  addColumnRows(columns, row!.columns);
  return {
    columns,
    users: new Map(row!.users.map((u) => [u.batch_uid, u.id])),
    enrollments: new Set(row!.enrollments.map((e) => `${e.course_id}:${e.user_id}`)),
    // json_agg writes times as PostgreSQL prints them; the model keeps ISO UTC.
    submissions: row!.submissions.map((s) => ({
      ...s,
      graded_at: toIso(s.graded_at),
      changed_at: toIso(s.changed_at),
    })),
  };
}
