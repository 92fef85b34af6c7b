import { randomUUID } from 'node:crypto';
import type { Trx } from '../db/knex.js';
import { linkExternalId } from './mappings.js';

/**
 * The people a platform tells about, in launches and in Names and Roles
 * pulls: users linked to the platform's user id (sub), and their enrollments.
 */

/**
 * Links a platform user id (sub) that is not linked yet: to the tenant's user
 * with the person's LIS sourcedid, else to a new user. `created` says which.
 */
export async function linkPlatformUser(
  trx: Trx,
  tenantId: number,
  issuer: string,
  sub: string,
  person: { sourcedId?: string | null; name?: string | null; email?: string | null },
  now: string,
): Promise<{ userId: number; created: boolean }> {
  const bySourcedId = person.sourcedId
    ? await trx('users').where({ tenant_id: tenantId, batch_uid: person.sourcedId }).first('id')
    : undefined;
  let userId = bySourcedId?.id as number | undefined;
  const created = userId === undefined;
  if (userId === undefined) {
    const [row] = await trx('users')
      .insert({
        tenant_id: tenantId,
        uuid: randomUUID(),
        batch_uid: person.sourcedId ?? null,
        name: person.name ?? null,
        email: person.email ?? null,
        kind: 'person',
        created_at: now,
        updated_at: now,
      })
      .returning('id');
    userId = row.id as number;
  }
  await linkExternalId(trx, tenantId, 'user', issuer, sub, userId, now);
  return { userId, created };
}

/** Enrolls the user in the course with this role, or sets the role of the enrollment they have. */
export async function setEnrollment(
  trx: Trx,
  tenantId: number,
  courseId: number,
  userId: number,
  role: string,
  now: string,
): Promise<void> {
  const existing = await trx('enrollments')
    .where({ course_id: courseId, user_id: userId })
    .first('id', 'role');
  if (!existing) {
    await trx('enrollments').insert({
      tenant_id: tenantId,
      course_id: courseId,
      user_id: userId,
      role,
      source: 'lti',
      created_at: now,
      updated_at: now,
    });
  } else if (existing.role !== role) {
    await trx('enrollments').where({ id: existing.id }).update({ role, updated_at: now });
  }
}
