import { randomUUID } from 'node:crypto';
import type { Trx } from '../db/knex.js';
import { toBool } from '../db/time.js';
import { chunk } from '../grades/grade-batch.js';
import { inList, listParam, readRows } from '../db/bulk.js';

export interface CourseRef {
  id: number;
  uuid: string;
  batchUid: string | null;
  title: string;
  isLocked: boolean;
}

const courseColumns = [
  'courses.id',
  'courses.uuid',
  'courses.batch_uid',
  'courses.title',
  'gradebooks.is_locked',
];

function toCourseRef(row: {
  id: number;
  uuid: string;
  batch_uid: string | null;
  title: string;
  is_locked: unknown;
}): CourseRef {
  return {
    id: row.id,
    uuid: row.uuid,
    batchUid: row.batch_uid,
    title: row.title,
    isLocked: toBool(row.is_locked),
  };
}

/** Courses of a tenant by SIS batch_uid. */
export async function findCoursesByBatchUid(
  trx: Trx,
  tenantId: number,
  batchUids: string[],
): Promise<Map<string, CourseRef>> {
  const found = new Map<string, CourseRef>();
  const rows = await readRows<Parameters<typeof toCourseRef>[0]>(
    trx,
    `select ${courseColumns.join(', ')} from courses join gradebooks on gradebooks.course_id = courses.id
      where courses.tenant_id = ? and courses.batch_uid ${inList(trx, 'text')}`,
    [tenantId, listParam(trx, [...new Set(batchUids)])],
  );
  for (const row of rows) found.set(row.batch_uid!, toCourseRef(row));
  return found;
}

export interface NewCourse {
  batchUid: string | null;
  title: string;
  source: string;
  startsAt?: string | null;
  endsAt?: string | null;
}

/** Creates a course with its gradebook. */
export async function createCourse(
  trx: Trx,
  tenantId: number,
  course: NewCourse,
  now: string,
): Promise<CourseRef> {
  const uuid = randomUUID();
  const [row] = await trx('courses')
    .insert({
      tenant_id: tenantId,
      uuid,
      batch_uid: course.batchUid,
      title: course.title,
      starts_at: course.startsAt ?? null,
      ends_at: course.endsAt ?? null,
      source: course.source,
      created_at: now,
      updated_at: now,
    })
    .returning(['id']);
  await trx('gradebooks').insert({
    uuid: randomUUID(),
    tenant_id: tenantId,
    course_id: row.id,
    title: course.title,
    type: 'Course',
    reference: course.batchUid,
    is_locked: false,
    last_change_type: 'GradebookCreated',
    last_change_user: course.source,
    last_change_time: now,
    created_at: now,
    updated_at: now,
  });
  return { id: row.id, uuid, batchUid: course.batchUid, title: course.title, isLocked: false };
}

/** Users of a tenant by batch_uid, creating the missing ones. */
export async function ensureUsersByBatchUid(
  trx: Trx,
  tenantId: number,
  batchUids: string[],
  now: string,
): Promise<Map<string, number>> {
  const unique = [...new Set(batchUids)];
  const found = new Map<string, number>();
  const select = async (uids: string[]) => {
    const rows = await readRows<{ id: number; batch_uid: string }>(
      trx,
      `select id, batch_uid from users where tenant_id = ? and batch_uid ${inList(trx, 'text')}`,
      [tenantId, listParam(trx, uids)],
    );
    for (const row of rows) found.set(row.batch_uid, row.id);
  };
  await select(unique);
  // Sorted, so concurrent batches that share new users insert them in the same
  // order and wait on each other instead of deadlocking.
  const missing = unique.filter((uid) => !found.has(uid)).sort();
  if (missing.length > 0) {
    for (const part of chunk(missing, 200)) {
      await trx('users')
        .insert(
          part.map((uid) => ({
            tenant_id: tenantId,
            uuid: randomUUID(),
            batch_uid: uid,
            name: null,
            kind: 'person',
            created_at: now,
            updated_at: now,
          })),
        )
        .onConflict(['tenant_id', 'batch_uid'])
        .ignore();
    }
    await select(missing);
  }
  return found;
}

/** Makes sure each (course, user) pair is enrolled; returns the pairs that were created. */
export async function ensureEnrollments(
  trx: Trx,
  tenantId: number,
  pairs: Array<{ courseId: number; userId: number }>,
  role: string,
  source: string,
  now: string,
): Promise<Set<string>> {
  const wanted = new Map<string, { courseId: number; userId: number }>();
  for (const p of pairs) wanted.set(`${p.courseId}:${p.userId}`, p);
  const existing = new Set<string>();
  const courseIds = [...new Set(pairs.map((p) => p.courseId))];
  const userIds = [...new Set(pairs.map((p) => p.userId))];
  const rows = await readRows<{ course_id: number; user_id: number }>(
    trx,
    `select course_id, user_id from enrollments where course_id ${inList(trx, 'int')} and user_id ${inList(trx, 'int')}`,
    [listParam(trx, courseIds), listParam(trx, userIds)],
  );
  for (const row of rows) existing.add(`${row.course_id}:${row.user_id}`);
  const missing = [...wanted.entries()].filter(([k]) => !existing.has(k));
  for (const part of chunk(missing, 200)) {
    await trx('enrollments')
      .insert(
        part.map(([, p]) => ({
          tenant_id: tenantId,
          course_id: p.courseId,
          user_id: p.userId,
          role,
          source,
          created_at: now,
          updated_at: now,
        })),
      )
      .onConflict(['course_id', 'user_id'])
      .ignore();
  }
  return new Set(missing.map(([k]) => k));
}

/** Locks or unlocks a course's gradebook; returns false when the course does not exist. */
export async function setCourseLock(
  trx: Trx,
  tenantId: number,
  batchUid: string,
  locked: boolean,
  user: string,
  now: string,
): Promise<boolean> {
  const course = await trx('courses')
    .where({ tenant_id: tenantId, batch_uid: batchUid })
    .first('id');
  if (!course) return false;
  await trx('gradebooks')
    .where({ course_id: course.id })
    .update({
      is_locked: locked,
      last_change_type: locked ? 'GradebookLocked' : 'GradebookUnlocked',
      last_change_user: user,
      last_change_time: now,
      updated_at: now,
    });
  return true;
}
