import {
  createCourse,
  ensureEnrollments,
  ensureUsersByBatchUid,
  findCoursesByBatchUid,
} from '../courses/service.js';
import type { Trx } from '../db/knex.js';
import { lockTenant } from '../db/locks.js';
import { GradeBatch } from '../grades/grade-batch.js';
import { toJson } from '../db/json.js';
import { parseOptionalData } from '../grades/optional-data.js';
import type { JourneyActor } from './actor.js';
import { lockedMessage } from './column-targets.js';
import { fail, ok, prepare } from './item-results.js';
import { userMetadataItem, type ItemResult, type UserMetadataItem } from './schemas.js';

/**
 * userMetadataAPI: upserts enrollment optional data, creating the course, user
 * and enrollment when missing.
 */
export async function upsertUserMetadata(
  trx: Trx,
  actor: JourneyActor,
  items: unknown[],
  now: string,
): Promise<ItemResult[]> {
  const { results, valid } = prepare(userMetadataItem, items, (i) => ({
    courseId: i.courseId,
    name: i.userId,
  }));
  const good: Array<{
    index: number;
    item: UserMetadataItem;
    data: Record<string, string> | null;
  }> = [];
  for (const { index, value } of valid) {
    const data = parseOptionalData(value.optionalData);
    if (!data.ok) fail(results, index, data.error);
    else good.push({ index, item: value, data: data.value });
  }
  if (good.length === 0) return results;
  await lockTenant(trx, actor.tenantId);
  const courses = await findCoursesByBatchUid(
    trx,
    actor.tenantId,
    good.map((g) => g.item.courseId),
  );
  const writable: typeof good = [];
  for (const g of good) {
    const course = courses.get(g.item.courseId);
    if (course?.isLocked) fail(results, g.index, lockedMessage(g.item.courseId));
    else writable.push(g);
  }
  for (const g of writable) {
    if (!courses.has(g.item.courseId)) {
      courses.set(
        g.item.courseId,
        await createCourse(
          trx,
          actor.tenantId,
          { batchUid: g.item.courseId, title: g.item.courseId, source: 'journey' },
          now,
        ),
      );
    }
  }
  const users = await ensureUsersByBatchUid(
    trx,
    actor.tenantId,
    writable.map((g) => g.item.userId),
    now,
  );
  const pairs = writable.map((g) => ({
    courseId: courses.get(g.item.courseId)!.id,
    userId: users.get(g.item.userId)!,
  }));
  const created = await ensureEnrollments(trx, actor.tenantId, pairs, 'Learner', 'journey', now);
  const reported = new Set<string>();
  const batch = new GradeBatch(trx, actor.tenantId, now);
  for (const [i, g] of writable.entries()) {
    const pair = pairs[i]!;
    const key = `${pair.courseId}:${pair.userId}`;
    if (g.item.optionalData !== undefined && g.item.optionalData !== null) {
      await trx('enrollments')
        .where({ course_id: pair.courseId, user_id: pair.userId })
        .update({ optional_data: toJson(g.data), updated_at: now });
    }
    const isNew = created.has(key) && !reported.has(key);
    reported.add(key);
    batch.touch(pair.courseId, { type: 'EnrollmentChanged', user: actor.name });
    ok(
      results,
      g.index,
      isNew ? 'User metadata successfully created' : 'User metadata successfully updated',
    );
  }
  await batch.flush();
  return results;
}
