import { randomUUID } from 'node:crypto';
import { createCourse } from '../courses/service.js';
import type { Trx } from '../db/knex.js';
import { lockTenant } from '../db/locks.js';
import { enrollmentRole, isStaff, type VerifiedLaunch } from './launch-check.js';
import { findLocalIds, linkExternalId } from './mappings.js';

export interface RecordedLaunch {
  tenantId: number;
  courseId: number;
  userId: number;
  ltiContextId: number;
  staff: boolean;
}

/** The LMS context's key: its context id, or the resource link's when the launch has no context. */
function contextKey(v: VerifiedLaunch): string {
  const c = v.claims;
  if (c.context) return c.context.id;
  if (c.resourceLink) return `resource-link:${c.resourceLink.id}`;
  return `user:${c.sub}`;
}

/**
 * Upserts what a launch tells about the tenant: the course (found by the LMS
 * context, else by the LIS course sourcedid among courses the SIS created
 * through Journey, else created), the person (by the platform's user id,
 * else by the LIS person sourcedid, else created) and the enrollment, and
 * keeps the context's AGS and Names and Roles endpoints for later pulls.
 */
export async function recordLaunch(
  trx: Trx,
  v: VerifiedLaunch,
  now: string,
): Promise<RecordedLaunch> {
  const c = v.claims;
  const key = contextKey(v);
  const endpoints = {
    title: c.context?.title ?? c.context?.label ?? c.resourceLink?.title ?? null,
    ...(c.ags ? { lineitems_url: c.ags.lineItemsUrl, ags_scopes: c.ags.scopes.join(' ') } : {}),
    ...(c.membershipsUrl ? { memberships_url: c.membershipsUrl } : {}),
    updated_at: now,
  };
  let context = await trx('lti_contexts')
    .where({ deployment_row_id: v.deploymentRowId, context_id: key })
    .first('id', 'course_id');
  if (!context) {
    await lockTenant(trx, v.tenantId);
    context = await trx('lti_contexts')
      .where({ deployment_row_id: v.deploymentRowId, context_id: key })
      .first('id', 'course_id');
  }
  let courseId: number;
  if (context) {
    courseId = context.course_id;
    await trx('lti_contexts').where({ id: context.id }).update(endpoints);
  } else {
    const sourcedIds = [c.lis.courseOfferingSourcedId, c.lis.courseSectionSourcedId].filter(
      (s): s is string => !!s,
    );
    const existing = sourcedIds.length
      ? await trx('courses')
          .where({ tenant_id: v.tenantId })
          .whereIn('batch_uid', sourcedIds)
          .orderBy('id')
          .first('id', 'title', 'batch_uid')
      : undefined;
    if (existing && endpoints.title && existing.title === existing.batch_uid) {
      // The SIS named the course only by its batch_uid; the LMS knows its title.
      await trx('courses')
        .where({ id: existing.id })
        .update({ title: endpoints.title, updated_at: now });
      await trx('gradebooks')
        .where({ course_id: existing.id, title: existing.batch_uid })
        .update({ title: endpoints.title, updated_at: now });
    }
    courseId =
      existing?.id ??
      (
        await createCourse(
          trx,
          v.tenantId,
          { batchUid: sourcedIds[0] ?? null, title: endpoints.title ?? key, source: 'lti' },
          now,
        )
      ).id;
    const [row] = await trx('lti_contexts')
      .insert({
        tenant_id: v.tenantId,
        course_id: courseId,
        deployment_row_id: v.deploymentRowId,
        context_id: key,
        lineitems_url: null,
        ags_scopes: null,
        memberships_url: null,
        created_at: now,
        ...endpoints,
      })
      .returning('id');
    context = { id: row.id, course_id: courseId };
  }

  const name = c.name ?? ([c.givenName, c.familyName].filter(Boolean).join(' ') || null);
  const known = (await findLocalIds(trx, v.tenantId, 'user', c.issuer, [c.sub])).get(c.sub);
  let userId: number;
  if (known) {
    userId = known;
    const update: Record<string, unknown> = { updated_at: now };
    if (name) update.name = name;
    if (c.email) update.email = c.email;
    await trx('users').where({ id: userId }).update(update);
  } else {
    const bySourcedId = c.lis.personSourcedId
      ? await trx('users')
          .where({ tenant_id: v.tenantId, batch_uid: c.lis.personSourcedId })
          .first('id')
      : undefined;
    if (bySourcedId) {
      userId = bySourcedId.id;
      if (name || c.email) {
        await trx('users')
          .where({ id: userId })
          .update({
            ...(name ? { name } : {}),
            ...(c.email ? { email: c.email } : {}),
            updated_at: now,
          });
      }
    } else {
      const [row] = await trx('users')
        .insert({
          tenant_id: v.tenantId,
          uuid: randomUUID(),
          batch_uid: c.lis.personSourcedId,
          name,
          email: c.email,
          kind: 'person',
          created_at: now,
          updated_at: now,
        })
        .returning('id');
      userId = row.id;
    }
    await linkExternalId(trx, v.tenantId, 'user', c.issuer, c.sub, userId, now);
  }

  const role = enrollmentRole(c.roles);
  const enrolled = await trx('enrollments')
    .where({ course_id: courseId, user_id: userId })
    .first('id', 'role');
  if (!enrolled) {
    await trx('enrollments').insert({
      tenant_id: v.tenantId,
      course_id: courseId,
      user_id: userId,
      role,
      source: 'lti',
      created_at: now,
      updated_at: now,
    });
  } else if (enrolled.role !== role) {
    await trx('enrollments').where({ id: enrolled.id }).update({ role, updated_at: now });
  }
  return {
    tenantId: v.tenantId,
    courseId,
    userId,
    ltiContextId: context.id,
    staff: isStaff(c.roles),
  };
}
