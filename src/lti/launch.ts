import { createCourse } from '../courses/service.js';
import type { Executor, Trx } from '../db/knex.js';
import { lockTenant } from '../db/locks.js';
import { cut, TEXT_MAX } from './claim-text.js';
import type { VerifiedLaunch } from './launch-check.js';
import { findLocalIds } from './mappings.js';
import { linkPlatformUser, setEnrollment } from './people.js';
import { addApprover, removeApprover } from '../grades/final-grade-workflow.js';
import { courseRole, isAdministrator, isMentor, isStaffRole } from './roles.js';

export interface RecordedLaunch {
  tenantId: number;
  courseId: number;
  userId: number;
  ltiContextId: number;
  staff: boolean;
}

type Launch = Pick<VerifiedLaunch, 'claims' | 'tenantId' | 'deploymentRowId'>;

/** The LMS context's key: its context id, or the resource link's when the launch has no context. */
function contextKey(v: Launch): string {
  const c = v.claims;
  if (c.context) return c.context.id;
  if (c.resourceLink) return `resource-link:${c.resourceLink.id}`;
  return `user:${c.sub}`;
}

/** What a launch says about its context, person and enrollment. */
function launchFacts(v: Launch) {
  const c = v.claims;
  const endpoints: Record<string, string | null> = {
    title: c.context?.title ?? c.context?.label ?? c.resourceLink?.title ?? null,
    ...(c.ags ? { lineitems_url: c.ags.lineItemsUrl, ags_scopes: c.ags.scopes.join(' ') } : {}),
    ...(c.membershipsUrl ? { memberships_url: c.membershipsUrl } : {}),
  };
  const name =
    c.name ?? (cut([c.givenName, c.familyName].filter(Boolean).join(' '), TEXT_MAX.name) || null);
  const person: Record<string, string> = {};
  if (name) person.name = name;
  if (c.email) person.email = c.email;
  return { key: contextKey(v), endpoints, name, person, role: courseRole(c.roles) };
}

const differs = (row: Record<string, unknown>, values: Record<string, unknown>) =>
  Object.entries(values).some(([k, value]) => row[k] !== value);

/**
 * The launch's records when a launch already wrote them and nothing changed
 * since (the usual repeat launch): one read, no transaction. Null when
 * anything is missing or different; recordLaunch then writes it.
 */
export async function unchangedLaunch(db: Executor, v: Launch): Promise<RecordedLaunch | null> {
  const f = launchFacts(v);
  const row = await db('lti_contexts as x')
    .join('external_ids as e', (j) =>
      j
        .onVal('e.tenant_id', v.tenantId)
        .andOnVal('e.kind', 'user')
        .andOnVal('e.system', v.claims.issuer)
        .andOnVal('e.external_id', v.claims.sub),
    )
    .join('users as u', 'u.id', 'e.local_id')
    .join('enrollments as en', (j) =>
      j.on('en.course_id', 'x.course_id').andOn('en.user_id', 'u.id'),
    )
    .where({ 'x.deployment_row_id': v.deploymentRowId, 'x.context_id': f.key })
    .first(
      'x.id',
      'x.course_id',
      'x.title',
      'x.lineitems_url',
      'x.ags_scopes',
      'x.memberships_url',
      'u.id as user_id',
      'u.name',
      'u.email',
      'en.role',
    );
  if (!row || differs(row, f.endpoints) || differs(row, f.person) || row.role !== f.role) {
    return null;
  }
  return {
    tenantId: v.tenantId,
    courseId: row.course_id,
    userId: row.user_id,
    ltiContextId: row.id,
    staff: isStaffRole(f.role),
  };
}

/**
 * Upserts what a launch tells about the tenant: the course (found by the LMS
 * context, else by the LIS course sourcedid among courses the SIS created
 * through Journey, else created), the person (by the platform's user id,
 * else by the LIS person sourcedid, else created) and the enrollment, and
 * keeps the context's AGS and Names and Roles endpoints for later pulls.
 */
export async function recordLaunch(trx: Trx, v: Launch, now: string): Promise<RecordedLaunch> {
  const c = v.claims;
  const { key, endpoints, name, person, role } = launchFacts(v);
  const findContext = () =>
    trx('lti_contexts')
      .where({ deployment_row_id: v.deploymentRowId, context_id: key })
      .first('id', 'course_id', 'title', 'lineitems_url', 'ags_scopes', 'memberships_url');
  let context = await findContext();
  if (!context) {
    await lockTenant(trx, v.tenantId);
    context = await findContext();
  }
  let courseId: number;
  if (context) {
    courseId = context.course_id;
    if (differs(context, endpoints)) {
      await trx('lti_contexts')
        .where({ id: context.id })
        .update({ ...endpoints, updated_at: now });
    }
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
        updated_at: now,
        ...endpoints,
      })
      .returning('id');
    context = { id: row.id, course_id: courseId };
  }

  const known = (await findLocalIds(trx, v.tenantId, 'user', c.issuer, [c.sub])).get(c.sub);
  let userId: number;
  if (known) {
    userId = known;
    if (Object.keys(person).length) {
      const current = await trx('users').where({ id: userId }).first('name', 'email');
      if (!current || differs(current, person)) {
        await trx('users')
          .where({ id: userId })
          .update({ ...person, updated_at: now });
      }
    }
  } else {
    const linked = await linkPlatformUser(
      trx,
      v.tenantId,
      c.issuer,
      c.sub,
      { sourcedId: c.lis.personSourcedId, name, email: c.email },
      now,
    );
    userId = linked.userId;
    // Found by sourcedid: what the launch says of the person wins.
    if (!linked.created && Object.keys(person).length) {
      await trx('users')
        .where({ id: userId })
        .update({ ...person, updated_at: now });
    }
  }

  await setEnrollment(trx, v.tenantId, courseId, userId, role, now);
  // An institution or system administrator approves final grades; a launch without the role ends what a launch gave.
  if (isAdministrator(c.roles)) await addApprover(trx, v.tenantId, userId, 'lti', now);
  else await removeApprover(trx, v.tenantId, userId, 'lti');
  return {
    tenantId: v.tenantId,
    courseId,
    userId,
    ltiContextId: context.id,
    staff: isStaffRole(role),
  };
}

/**
 * Whose grades a launch that is not course staff may see: the person's own
 * as a learner, and as a mentor those of the users the launch names in
 * role_scope_mentor (the ones this tool knows on that platform). Staff see
 * the whole course and get null.
 */
export async function visibleLearners(
  db: Executor,
  v: Launch,
  recorded: RecordedLaunch,
): Promise<number[] | null> {
  if (recorded.staff) return null;
  const c = v.claims;
  const ids = new Set<number>();
  if (courseRole(c.roles) === 'Learner') ids.add(recorded.userId);
  if (isMentor(c.roles) && c.mentees.length > 0) {
    const mentees = await findLocalIds(db, v.tenantId, 'user', c.issuer, c.mentees);
    for (const id of mentees.values()) if (id !== recorded.userId) ids.add(id);
  }
  return [...ids].sort((a, b) => a - b);
}
