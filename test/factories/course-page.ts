import { randomUUID } from 'node:crypto';
import { insertRows } from '../../src/db/bulk.js';
import { isoNow } from '../../src/db/time.js';
import { inTransaction } from '../../src/db/transaction.js';
import type { Trx } from '../../src/db/knex.js';
import type { AppDeps } from '../../src/deps.js';
import { createTenant } from '../../src/tenants/service.js';

/**
 * A big course written straight into the store, as the course page reads it
 * (for the page-size tests and the course-page benchmark): `learners`
 * learners (one in fifty known only by an email), `columns` columns of
 * which the last is the final grade, every grade given, every grade sent to
 * the SIS (one in a hundred refused, one in fifty changed since it was
 * sent), the course linked to an LMS context, and a staff session.
 */
export interface BigCourse {
  tenantId: number;
  courseId: number;
  teacherId: number;
  token: string;
  /** Learner user ids, as created (not sorted). */
  learnerIds: number[];
}

const GIVEN = ['Ada', 'Alan', 'Grace', 'Katherine', 'Edsger', 'Barbara', 'Donald', 'Frances'];
const FAMILY = ['Lovelace', 'Turing', 'Hopper', 'Johnson', 'Dijkstra', 'Liskov', 'Knuth', 'Allen'];

export async function bigCourse(
  deps: AppDeps,
  o: { learners: number; columns: number; label?: string },
): Promise<BigCourse> {
  const label = o.label ?? randomUUID().slice(0, 8);
  return inTransaction(deps.db, async (trx) => {
    const now = isoNow(deps.clock);
    const tenant = await createTenant(trx, { name: `Course page ${label}` }, now);
    const tenantId = tenant.id;
    const [course] = await trx('courses')
      .insert({
        tenant_id: tenantId,
        uuid: randomUUID(),
        batch_uid: `CP-${label}`,
        title: `Course page ${o.learners} x ${o.columns}`,
        source: 'journey',
        created_at: now,
        updated_at: now,
      })
      .returning('id');
    const courseId = course.id as number;
    await trx('gradebooks').insert({
      uuid: randomUUID(),
      tenant_id: tenantId,
      course_id: courseId,
      last_change_time: now,
      created_at: now,
      updated_at: now,
    });
    const columnRows = await insertRows(
      trx,
      'grade_columns',
      Array.from({ length: o.columns }, (_, i) => {
        const final = i === o.columns - 1;
        return {
          tenant_id: tenantId,
          course_id: courseId,
          name: final ? 'Final' : `Assignment ${i + 1}`,
          item_type: 'ASSIGNMENT',
          points: final ? 100 : 10,
          is_external: final,
          sequence_num: i,
          source: 'journey',
          created_at: now,
          updated_at: now,
        };
      }),
      { returning: ['id'] },
    );
    const columnIds = columnRows.map((r) => Number(r.id));
    const [teacher] = await trx('users')
      .insert({
        tenant_id: tenantId,
        uuid: randomUUID(),
        name: 'Rosalind Franklin',
        kind: 'person',
        created_at: now,
        updated_at: now,
      })
      .returning('id');
    const teacherId = teacher.id as number;
    const userRows = await insertRows(
      trx,
      'users',
      Array.from({ length: o.learners }, (_, i) => ({
        tenant_id: tenantId,
        uuid: randomUUID(),
        batch_uid: `${label}-s${i + 1}`,
        name:
          i % 50 === 49
            ? null
            : `${GIVEN[i % GIVEN.length]} ${FAMILY[Math.floor(i / GIVEN.length) % FAMILY.length]} ${i + 1}`,
        email: `s${i + 1}@${label}.example.edu`,
        kind: 'person',
        created_at: now,
        updated_at: now,
      })),
      { returning: ['id'] },
    );
    const learnerIds = userRows.map((r) => Number(r.id));
    await insertRows(
      trx,
      'enrollments',
      [
        { id: teacherId, role: 'Instructor' },
        ...learnerIds.map((id) => ({ id, role: 'Learner' })),
      ].map((e) => ({
        tenant_id: tenantId,
        course_id: courseId,
        user_id: e.id,
        role: e.role,
        source: 'journey',
        created_at: now,
        updated_at: now,
      })),
    );
    const cells = learnerIds.flatMap((userId, li) =>
      columnIds.map((columnId, ci) => ({ userId, columnId, li, ci })),
    );
    const score = (li: number, ci: number) =>
      ci === o.columns - 1 ? 50 + ((li * 7) % 50) : ((li * 3 + ci * 5) % 10) + 1;
    await insertRows(
      trx,
      'submissions',
      cells.map((c) => ({
        tenant_id: tenantId,
        course_id: courseId,
        column_id: c.columnId,
        user_id: c.userId,
        score: score(c.li, c.ci),
        grade: String(score(c.li, c.ci)),
        graded_at: now,
        created_at: now,
        updated_at: now,
      })),
    );
    const conn = await deps.exchange.connect(
      trx,
      {
        tenantId,
        baseUrl: 'http://127.0.0.1:9/datasync',
        tokenUrl: 'http://127.0.0.1:9/token',
        clientId: `cp-${label}`,
        clientSecret: 'secret',
        ratePerSecond: 10,
        concurrency: 1,
      },
      now,
    );
    const [exchange] = await trx('exchanges')
      .insert({
        tenant_id: tenantId,
        connection_id: conn.connectionId,
        remote_id: `ex-${label}`,
        state: 'completed',
        trigger: 'teacher',
        query: '{}',
        max_data_content_length: 65536,
        items_sent: cells.length,
        created_at: now,
        updated_at: now,
      })
      .returning('id');
    const exchangeId = exchange.id as number;
    await insertRows(trx, 'exchange_courses', [{ exchange_id: exchangeId, course_id: courseId }]);
    const refused = (c: { li: number; ci: number }) => (c.li * 31 + c.ci) % 100 === 7;
    const changed = (c: { li: number; ci: number }) => (c.li * 17 + c.ci) % 50 === 3;
    const scoreCells = cells.filter((c) => c.ci !== o.columns - 1);
    await insertRows(
      trx,
      'exchange_items',
      scoreCells.map((c) => ({
        tenant_id: tenantId,
        connection_id: conn.connectionId,
        course_id: courseId,
        item_key: `s:${c.columnId}:${c.userId}`,
        kind: 'score',
        column_id: c.columnId,
        user_id: c.userId,
        status: refused(c) ? 'failed' : 'sent',
        pending_hash: 'h',
        exchange_id: exchangeId,
        sent_hash: refused(c) ? null : 'h',
        sent_at: now,
        error_code: refused(c) ? 'student_not_enrolled' : null,
        error_message: refused(c) ? 'The student is not enrolled in this section' : null,
        updated_at: now,
      })),
    );
    await insertRows(
      trx,
      'exchange_sends',
      scoreCells.map((c) => ({
        exchange_id: exchangeId,
        column_id: c.columnId,
        user_id: c.userId,
        kind: 'score',
        score: changed(c) ? score(c.li, c.ci) + 1 : score(c.li, c.ci),
        grade: String(changed(c) ? score(c.li, c.ci) + 1 : score(c.li, c.ci)),
        status: refused(c) ? 'failed' : 'sent',
        created_at: now,
        updated_at: now,
      })),
    );
    const { token } = await linkToLms(deps, trx, { tenantId, courseId, teacherId, label });
    return { tenantId, courseId, teacherId, token, learnerIds };
  });
}

/**
 * Links a course to an LMS context (a deployment of a made-up platform) and
 * returns a session for a person of it, as a launch would: staff unless
 * `visibleUserIds` names whose grades the session sees.
 */
export async function linkToLms(
  deps: AppDeps,
  trx: Trx,
  o: {
    tenantId: number;
    courseId: number;
    teacherId: number;
    label?: string;
    visibleUserIds?: number[];
  },
): Promise<{ token: string; ltiContextId: number }> {
  const label = o.label ?? randomUUID().slice(0, 8);
  const now = isoNow(deps.clock);
  const [deployment] = await trx('lti_deployments')
    .insert({
      tenant_id: o.tenantId,
      issuer: `https://lms-${label}.example.edu`,
      client_id: 'gradebridge',
      deployment_id: 'd1',
      platform_kid: `kid-${label}`,
      created_at: now,
    })
    .returning('id');
  const [context] = await trx('lti_contexts')
    .insert({
      tenant_id: o.tenantId,
      course_id: o.courseId,
      deployment_row_id: deployment.id,
      context_id: `ctx-${label}`,
      title: 'Course page',
      created_at: now,
      updated_at: now,
    })
    .returning('id');
  const ltiContextId = context.id as number;
  const token = deps.lti.sessions.issue({
    tenantId: o.tenantId,
    userId: o.teacherId,
    courseId: o.courseId,
    ltiContextId,
    staff: !o.visibleUserIds,
    ...(o.visibleUserIds ? { visibleUserIds: o.visibleUserIds } : {}),
  });
  return { token, ltiContextId };
}
