import { createHash, randomUUID } from 'node:crypto';
import type { AppDeps } from '../deps.js';
import { ensureEnrollments } from '../courses/service.js';
import type { Executor, Trx } from '../db/knex.js';
import { lockCourses } from '../db/locks.js';
import { recordLmsReading, scoreInPoints } from './lms-grades.js';
import { isoNow } from '../db/time.js';
import { inTransaction } from '../db/transaction.js';
import { loadCourseColumns } from '../grades/course-columns.js';
import { GradeBatch, type GradebookChange } from '../grades/grade-batch.js';
import { gradeText } from '../grades/grading.js';
import { recalculate } from '../grades/recalculate.js';
import type { Logger } from '../logger.js';
import { LtiServiceError, type Page, type ServiceContext } from './engine.js';
import { cut, displayText, identifierProblem, TEXT_MAX } from './claim-text.js';
import { findExternalIds, findLocalIds, linkExternalId } from './mappings.js';
import { linkPlatformUser, setEnrollment } from './people.js';
import { courseRole } from './roles.js';

export const AGS = {
  lineItem: 'https://purl.imsglobal.org/spec/lti-ags/scope/lineitem',
  lineItemRead: 'https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly',
  resultRead: 'https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly',
  score: 'https://purl.imsglobal.org/spec/lti-ags/scope/score',
} as const;

const COLUMN_RESOURCE = /^gradebridge-column-(\d+)$/;

export interface LtiColumn {
  id: number;
  name: string;
  points: number;
}

/** The line item gradebridge gives the platform for one of its columns (created here or by deep linking). */
export function lineItemFor(column: LtiColumn): Record<string, unknown> {
  return {
    scoreMaximum: column.points > 0 ? column.points : 100,
    label: column.name,
    resourceId: `gradebridge-column-${column.id}`,
    tag: 'gradebridge',
  };
}

export interface LtiContextRow {
  id: number;
  tenantId: number;
  courseId: number;
  contextId: string;
  issuer: string;
  clientId: string;
  deploymentId: string;
  lineItemsUrl: string | null;
  agsScopes: string[];
  membershipsUrl: string | null;
}

export async function loadLtiContext(db: Executor, id: number): Promise<LtiContextRow | null> {
  const row = await db('lti_contexts as x')
    .join('lti_deployments as d', 'd.id', 'x.deployment_row_id')
    .where('x.id', id)
    .first(
      'x.id',
      'x.tenant_id',
      'x.course_id',
      'x.context_id',
      'x.lineitems_url',
      'x.ags_scopes',
      'x.memberships_url',
      'd.issuer',
      'd.client_id',
      'd.deployment_id',
    );
  if (!row) return null;
  return {
    id: row.id,
    tenantId: row.tenant_id,
    courseId: row.course_id,
    contextId: row.context_id,
    issuer: row.issuer,
    clientId: row.client_id,
    deploymentId: row.deployment_id,
    lineItemsUrl: row.lineitems_url,
    agsScopes: (row.ags_scopes ?? '').split(' ').filter(Boolean),
    membershipsUrl: row.memberships_url,
  };
}

export function serviceContext(x: LtiContextRow): ServiceContext {
  return {
    issuer: x.issuer,
    clientId: x.clientId,
    deploymentId: x.deploymentId,
    lineItemsUrl: x.lineItemsUrl,
    membershipsUrl: x.membershipsUrl,
  };
}

export interface PullSummary {
  members: number;
  lineItems: number;
  results: number;
  versions: number;
  columnsCreated: number;
  usersCreated: number;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const text = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
/** A platform identifier this tool can store and match exactly (a user id, a line item URL), else null. */
const platformId = (v: unknown, max = 255): string | null => {
  const id = text(v);
  return id !== null && identifierProblem(id, max) === null ? id : null;
};
/** Line item URLs go to external_ids.external_id (2048). */
const URL_MAX = 2048;

/** Users of the platform by sub, creating (and enrolling as learners) the ones not seen yet. */
async function ensurePlatformUsers(
  trx: Trx,
  x: LtiContextRow,
  people: Array<{
    sub: string;
    name?: string | null;
    email?: string | null;
    sourcedId?: string | null;
  }>,
  now: string,
): Promise<{ ids: Map<string, number>; created: number }> {
  const ids = await findLocalIds(
    trx,
    x.tenantId,
    'user',
    x.issuer,
    people.map((p) => p.sub),
  );
  let created = 0;
  for (const p of people) {
    if (ids.has(p.sub)) continue;
    const linked = await linkPlatformUser(trx, x.tenantId, x.issuer, p.sub, p, now);
    if (linked.created) created++;
    ids.set(p.sub, linked.userId);
  }
  return { ids, created };
}

/** Names and Roles: every member page, upserting people and their enrollments. */
async function pullRoster(deps: AppDeps, x: LtiContextRow, summary: PullSummary): Promise<void> {
  if (!x.membershipsUrl) return;
  let next: string | undefined;
  do {
    const page = await deps.lti.engine.members(serviceContext(x), next);
    // Members whose user id cannot be stored exactly are left out (and not counted).
    const members = page.items
      .filter((m) => platformId(m.user_id) && (m.status ?? 'Active') === 'Active')
      .map((m) => {
        const name =
          displayText(m.name, TEXT_MAX.name) ??
          (cut(
            [displayText(m.given_name, TEXT_MAX.name), displayText(m.family_name, TEXT_MAX.name)]
              .filter(Boolean)
              .join(' '),
            TEXT_MAX.name,
          ) ||
            null);
        const roles = Array.isArray(m.roles)
          ? (m.roles as unknown[]).filter((r): r is string => typeof r === 'string')
          : [];
        return {
          sub: m.user_id as string,
          name,
          email: displayText(m.email, TEXT_MAX.email),
          sourcedId: platformId(m.lis_person_sourcedid, 333),
          role: courseRole(roles),
        };
      });
    summary.members += members.length;
    await inTransaction(deps.db, async (trx) => {
      const now = isoNow(deps.clock);
      const { ids, created } = await ensurePlatformUsers(trx, x, members, now);
      summary.usersCreated += created;
      for (const m of members) {
        const userId = ids.get(m.sub)!;
        if (m.name)
          await trx('users')
            .where({ id: userId })
            // NOT (name = ?) is unknown for a user with no name yet (one the SIS made nameless).
            .andWhere((q) => q.whereNot({ name: m.name }).orWhereNull('name'))
            .update({ name: m.name, updated_at: now });
        await setEnrollment(trx, x.tenantId, x.courseId, userId, m.role, now);
      }
    });
    next = page.next ?? undefined;
  } while (next);
}

/** The column a line item maps to: by its URL, then by gradebridge's resourceId, else a new one. */
async function columnFor(
  trx: Trx,
  x: LtiContextRow,
  item: Record<string, unknown>,
  now: string,
  summary: PullSummary,
): Promise<number | null> {
  const url = item.id as string;
  const label = displayText(item.label, TEXT_MAX.title) ?? 'Line item';
  const points = num(item.scoreMaximum) ?? 100;
  const mapped = (await findLocalIds(trx, x.tenantId, 'lineitem', x.issuer, [url])).get(url);
  if (mapped) {
    const column = await trx('grade_columns')
      .where({ id: mapped, course_id: x.courseId })
      .first('id', 'deleted_at', 'points');
    if (!column || column.deleted_at) return null;
    if (column.points !== points)
      await trx('grade_columns').where({ id: mapped }).update({ points, updated_at: now });
    return mapped;
  }
  const resourceMatch = COLUMN_RESOURCE.exec(text(item.resourceId) ?? '');
  if (resourceMatch) {
    const column = await trx('grade_columns')
      .where({ id: Number(resourceMatch[1]), course_id: x.courseId })
      .whereNull('deleted_at')
      .first('id');
    if (column) {
      await linkExternalId(trx, x.tenantId, 'lineitem', x.issuer, url, column.id, now);
      return column.id;
    }
  }
  const column = await createColumn(trx, x.tenantId, x.courseId, label, points, now);
  await linkExternalId(trx, x.tenantId, 'lineitem', x.issuer, url, column.id, now);
  summary.columnsCreated++;
  return column.id;
}

/** Whether a database error is a unique index refusing a row (PostgreSQL 23505, SQLite's constraint). */
function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/**
 * A new LTI column; its name is the label, made unique among the course's
 * live columns ("Quiz", then "Quiz (2)"). Safe when others create columns
 * in the same course at the same moment (two deep linking answers, a pull,
 * Journey): a name taken meanwhile makes the unique index refuse the row,
 * inside a savepoint, and the next free name is tried.
 */
export async function createColumn(
  trx: Trx,
  tenantId: number,
  courseId: number,
  label: string,
  points: number,
  now: string,
): Promise<LtiColumn> {
  const base = cut(label, TEXT_MAX.title - 13);
  for (let attempt = 1; ; attempt++) {
    const taken = new Set(
      (
        await trx('grade_columns')
          .where({ course_id: courseId })
          .whereNull('deleted_at')
          .select('name')
      ).map((r) => r.name as string),
    );
    let name = base;
    for (let n = 2; taken.has(name); n++) name = `${base} (${n})`;
    try {
      const [row] = await trx.transaction((savepoint) =>
        savepoint('grade_columns')
          .insert({
            tenant_id: tenantId,
            course_id: courseId,
            name,
            item_type: 'ASSIGNMENT',
            points,
            source: 'lti',
            created_at: now,
            updated_at: now,
          })
          .returning('id'),
      );
      return { id: row.id as number, name, points };
    } catch (err) {
      if (!isUniqueViolation(err) || attempt >= 20) throw err;
    }
  }
}

/** Every item of a paged read, following its `next` links. */
async function readAll<T>(read: (url?: string) => Promise<Page<T>>): Promise<T[]> {
  const items: T[] = [];
  let next: string | undefined;
  do {
    const page = await read(next);
    items.push(...page.items);
    next = page.next ?? undefined;
  } while (next);
  return items;
}

/**
 * Pulls a course from its LMS: the roster (Names and Roles), then every line
 * item and all its results (AGS), following Link rel="next" pages. Each line
 * item is applied in one transaction: its column (found or created), its
 * learners, and a version wherever a result differs from the current grade,
 * with calculated columns recomputed. Pulling twice records nothing new.
 */
export async function pullContext(deps: AppDeps, ltiContextId: number): Promise<PullSummary> {
  const x = await loadLtiContext(deps.db, ltiContextId);
  if (!x) throw new Error(`LTI context ${ltiContextId} does not exist`);
  const summary: PullSummary = {
    members: 0,
    lineItems: 0,
    results: 0,
    versions: 0,
    columnsCreated: 0,
    usersCreated: 0,
  };
  await pullRoster(deps, x, summary);
  if (x.lineItemsUrl) {
    const service = serviceContext(x);
    const items = (await readAll((url) => deps.lti.engine.lineItems(service, url))).filter((i) =>
      platformId(i.id, URL_MAX),
    );
    summary.lineItems = items.length;
    const pullId = randomUUID();
    for (const item of items) {
      const results = await readAll((url) =>
        deps.lti.engine.results(service, item.id as string, url),
      );
      summary.results += results.length;
      await inTransaction(deps.db, (trx) =>
        applyResults(trx, x, item, results, pullId, isoNow(deps.clock), summary),
      );
    }
  }
  return summary;
}

async function applyResults(
  trx: Trx,
  x: LtiContextRow,
  item: Record<string, unknown>,
  results: Array<Record<string, unknown>>,
  pullId: string,
  now: string,
  summary: PullSummary,
): Promise<void> {
  await lockCourses(trx, [x.courseId]);
  const columnId = await columnFor(trx, x, item, now, summary);
  if (columnId === null) return;
  const graded = results.filter((r) => platformId(r.userId) && num(r.resultScore) !== null);
  if (graded.length === 0) return;
  const { ids, created } = await ensurePlatformUsers(
    trx,
    x,
    graded.map((r) => ({ sub: r.userId as string })),
    now,
  );
  summary.usersCreated += created;
  await ensureEnrollments(
    trx,
    x.tenantId,
    [...ids.values()].map((userId) => ({ courseId: x.courseId, userId })),
    'Learner',
    'lti',
    now,
  );
  const columns = (await loadCourseColumns(trx, x.tenantId, [x.courseId])).get(x.courseId)!;
  const column = columns.live(columnId)!;
  const batch = new GradeBatch(trx, x.tenantId, now);
  await batch.load(graded.map((r) => ({ columnId, userId: ids.get(r.userId as string)! })));
  const change: GradebookChange = { type: 'GradeSynced', user: 'LMS' };
  const users = new Set<number>();
  // What gradebridge last sent (or tried to send) to this line item: a result
  // that differs from a grade gradebridge sent and still holds is drift for a
  // person to settle (the LMS kept an older score, or refused it), not a new grade.
  const sent = new Map<number, number | null>();
  for (const row of await trx('lms_grades')
    .where({ column_id: columnId, line_item: item.id as string })
    .whereNotNull('send_status')
    .select('user_id', 'sent_score'))
    sent.set(row.user_id, row.sent_score === null ? null : Number(row.sent_score));
  for (const r of graded) {
    const userId = ids.get(r.userId as string)!;
    const score = scoreInPoints(num(r.resultScore), num(r.resultMaximum), column.points)!;
    await recordLmsReading(
      trx,
      { tenantId: x.tenantId, courseId: x.courseId, columnId, userId, lineItem: item.id as string },
      score,
      now,
    );
    const current = batch.get(columnId, userId);
    if (
      sent.has(userId) &&
      current?.score != null &&
      Math.abs(current.score - (sent.get(userId) ?? NaN)) < 1e-6 &&
      Math.abs(current.score - score) >= 1e-6
    )
      continue;
    const recorded = batch.record(
      {
        courseId: x.courseId,
        columnId,
        userId,
        score,
        grade: gradeText(column, score, column.points),
        pointsPossible: column.points,
        gradedAt: now,
        graderId: null,
        source: 'ags',
        // A result's id is a URL of any length: its hash keeps the key within its column.
        idempotencyKey: `ags:${pullId}:${createHash('sha256')
          .update(text(r.id) ?? `${item.id as string}\n${r.userId as string}`)
          .digest('base64url')}`,
      },
      change,
    );
    if (recorded) users.add(userId);
  }
  await recalculate(batch, columns, [columnId], users, {
    gradedAt: now,
    keyPrefix: `ags:${pullId}:calc`,
    change,
  });
  summary.versions += await batch.flush();
}

/**
 * Runs a pull and keeps its outcome on the context (shown on the course
 * page). A failure is logged with `log` (the job's, carrying its id).
 */
export async function pullAndRecord(
  deps: AppDeps,
  ltiContextId: number,
  log: Logger = deps.logger,
): Promise<PullSummary> {
  const record = (status: 'ok' | 'failed', summary: object) =>
    deps
      .db('lti_contexts')
      .where({ id: ltiContextId })
      .update({
        last_pull_at: isoNow(deps.clock),
        last_pull_status: status,
        last_pull_summary: JSON.stringify(summary),
      });
  try {
    const summary = await pullContext(deps, ltiContextId);
    await record('ok', summary);
    return summary;
  } catch (err) {
    log.warn(
      {
        err,
        ltiContextId,
        ...(err instanceof LtiServiceError ? { status: err.status, answer: err.detail } : {}),
      },
      'LTI pull failed',
    );
    await record('failed', { error: (err as Error).message });
    throw err;
  }
}

/** Line-item creation runs one at a time per course in this process (a second click waits for the first). */
const creating = new Map<number, Promise<unknown>>();

/**
 * Creates a line item on the platform for each live column of the course that
 * has none, never twice: a column's line item is found by its id (the link
 * kept), then by gradebridge's resourceId and tag on the platform (the lowest
 * id when several match), and only then created; per course, one at a time.
 */
export async function createMissingLineItems(deps: AppDeps, ltiContextId: number): Promise<number> {
  const x = await loadLtiContext(deps.db, ltiContextId);
  if (!x?.lineItemsUrl) throw new Error('this launch gave no line items endpoint');
  if (!x.agsScopes.includes(AGS.lineItem))
    throw new Error('the platform did not grant the line item scope');
  const previous = creating.get(x.courseId) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(() => createLineItemsNow(deps, x));
  creating.set(x.courseId, run);
  try {
    return await run;
  } finally {
    if (creating.get(x.courseId) === run) creating.delete(x.courseId);
  }
}

async function createLineItemsNow(deps: AppDeps, x: LtiContextRow): Promise<number> {
  const columns = await deps
    .db('grade_columns')
    .where({ course_id: x.courseId })
    .whereNull('deleted_at')
    .select('id', 'name', 'points');
  const linked = await findExternalIds(
    deps.db,
    x.tenantId,
    'lineitem',
    x.issuer,
    columns.map((c) => c.id as number),
  );
  let created = 0;
  for (const c of columns) {
    if (linked.has(c.id)) continue;
    const wanted = lineItemFor(c);
    const existing = (
      await deps.lti.engine.lineItemsFor(serviceContext(x), {
        resourceId: wanted.resourceId as string,
        tag: wanted.tag as string,
      })
    )
      .filter((i) => i.resourceId === wanted.resourceId && typeof i.id === 'string')
      .sort((a, b) => String(a.id).localeCompare(String(b.id)))[0];
    const item = existing ?? (await deps.lti.engine.createLineItem(serviceContext(x), wanted));
    await linkExternalId(
      deps.db,
      x.tenantId,
      'lineitem',
      x.issuer,
      item.id as string,
      c.id,
      isoNow(deps.clock),
    );
    if (!existing) created++;
  }
  return created;
}
