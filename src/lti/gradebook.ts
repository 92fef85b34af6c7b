import type { AppDeps } from '../deps.js';
import { toIso } from '../db/time.js';
import { sameValue, type LearnerFinalGrade } from '../grades/final-grades.js';
import { parseJson } from '../db/json.js';
import { NotFoundError } from '../http/errors.js';
import { approverLink, finalGradeSection } from './final-grade-pages.js';
import {
  approverWaiting,
  courseFinalGrades,
  tenantTimeZone,
  type CourseFinalGrades,
  type PageSession,
} from './final-grade-service.js';
import type { CellMark, CoursePageData, GradeCell, MarkKind, Outcome } from './pages.js';
import { exchangeState, pullFailure, pullSummary, syncFailure } from './plain-words.js';
import { bySortableName, folded } from './sortable-name.js';

/**
 * The course page's data: the learners in sortable-name order, searched,
 * filtered to those needing attention and cut into pages, so a course of
 * any size is one page of at most PAGE_SIZE rows; each grade with its marks
 * (sent, waiting, changed since sent, not sent with why, approved, changed
 * since approval); the LMS and Data Sync cards; the final-grade section.
 */

/** Learners per page: 100 rows of 30 columns stay well under 500 KB of HTML. */
export const PAGE_SIZE = 100;

export interface ListQuery {
  page: number;
  q: string;
  attention: boolean;
}

/** Two scores are the same grade (a float column on PostgreSQL keeps about 7 digits). */
const sameScore = (a: number | null, b: number | null) =>
  a === null || b === null
    ? a === b
    : Math.abs(Number(a) - Number(b)) <= 1e-6 * Math.max(1, Math.abs(Number(a)));

interface ItemState {
  status: string;
  code: string | null;
  message: string | null;
  changed: boolean;
}

/** The last successful send of the same score (the value the SIS holds), joined to an item `i`. */
const LAST_SENT = `(select max(y.id) from exchange_sends y where y.column_id = i.column_id and y.user_id = i.user_id and y.kind = 'score' and y.status = 'sent')`;

/** Where these learners' grades stand with Data Sync (`column:user`), scores compared with what was last sent. */
async function syncStates(
  deps: AppDeps,
  connectionId: number,
  courseId: number,
  userIds: number[],
  columnId?: number,
): Promise<Map<string, ItemState>> {
  const db = deps.db;
  const out = new Map<string, ItemState>();
  if (userIds.length === 0) return out;
  const rows = await db('exchange_items as i')
    .leftJoin('submissions as s', function () {
      this.on('s.column_id', 'i.column_id').andOn('s.user_id', 'i.user_id');
    })
    .leftJoin('exchange_sends as x', function () {
      this.on('x.id', db.raw(LAST_SENT));
    })
    .where({ 'i.connection_id': connectionId, 'i.course_id': courseId })
    .whereIn('i.kind', ['score', 'summary'])
    .whereIn('i.user_id', userIds)
    .modify((q) => {
      if (columnId !== undefined) q.where('i.column_id', columnId);
    })
    .select(
      'i.column_id',
      'i.user_id',
      'i.kind',
      'i.status',
      'i.error_code',
      'i.error_message',
      's.score as now_score',
      's.grade as now_grade',
      'x.id as sent_id',
      'x.score as sent_score',
      'x.grade as sent_grade',
    );
  const rank = (status: string) => (status === 'failed' ? 2 : status === 'pending' ? 1 : 0);
  for (const r of rows) {
    const key = `${r.column_id}:${r.user_id}`;
    const changed =
      r.kind === 'score' &&
      r.status === 'sent' &&
      r.sent_id !== null &&
      (!sameScore(r.now_score, r.sent_score) || (r.now_grade ?? null) !== (r.sent_grade ?? null));
    const state: ItemState = {
      status: r.status,
      code: r.error_code,
      message: r.error_message,
      changed,
    };
    // A final grade goes both raw and as a percentage: the worse state shows.
    const prev = out.get(key);
    if (!prev || rank(state.status) > rank(prev.status)) out.set(key, state);
  }
  return out;
}

/**
 * The learners with a grade Data Sync refused, or a score changed since it
 * was sent, over the whole course: one query that answers only their ids
 * (scores compared to a millionth, as a float column keeps them).
 */
async function syncAttention(
  deps: AppDeps,
  connectionId: number,
  courseId: number,
): Promise<Set<number>> {
  const db = deps.db;
  const rows = await db('exchange_items as i')
    .leftJoin('submissions as s', function () {
      this.on('s.column_id', 'i.column_id').andOn('s.user_id', 'i.user_id');
    })
    .leftJoin('exchange_sends as x', function () {
      this.on('x.id', db.raw(LAST_SENT));
    })
    .where({ 'i.connection_id': connectionId, 'i.course_id': courseId })
    .whereIn('i.kind', ['score', 'summary'])
    .where((q) =>
      q.where('i.status', 'failed').orWhere((changed) =>
        changed
          .where({ 'i.kind': 'score', 'i.status': 'sent' })
          .whereNotNull('x.id')
          .whereRaw(
            `(case when x.score is null or s.score is null then (case when x.score is null then 1 else 0 end) <> (case when s.score is null then 1 else 0 end)
                   else abs(x.score - s.score) > 0.000001 * (case when abs(s.score) > 1 then abs(s.score) else 1 end) end
              or coalesce(x.grade, '') <> coalesce(s.grade, ''))`,
          ),
      ),
    )
    .distinct('i.user_id');
  return new Set(rows.map((r) => Number(r.user_id)));
}

/** The marks of one grade. */
function marksOf(
  item: ItemState | undefined,
  final: LearnerFinalGrade | undefined,
  approvalRequired: boolean,
): CellMark[] {
  const marks: CellMark[] = [];
  if (final?.state === 'changed_since_approval') marks.push({ kind: 'moved' });
  else if (final?.state === 'approved') marks.push({ kind: 'approved' });
  if (item) {
    if (item.status === 'failed')
      marks.push({
        kind: 'failed',
        reason: syncFailure(item.code, item.message),
        code: item.code,
      });
    else if (item.status === 'pending') marks.push({ kind: 'pending' });
    else {
      const changed = final
        ? !approvalRequired && !!final.current && !sameValue(final.lastSent, final.current)
        : item.changed;
      // Changed since approval already says the SIS holds an older value.
      if (!(changed && final?.state === 'changed_since_approval'))
        marks.push({ kind: changed ? 'changed' : 'sent' });
    }
  }
  return marks;
}

const needsAttention = (marks: CellMark[]) =>
  marks.some((m) => m.kind === 'failed' || m.kind === 'changed' || m.kind === 'moved');

/** Everything the course page shows, for this session, list query and outcome. */
export async function coursePageData(
  deps: AppDeps,
  s: PageSession,
  token: string,
  list: ListQuery,
  outcome: (zone: string) => Promise<Outcome | null>,
): Promise<CoursePageData> {
  const db = deps.db;
  const head = await db('lti_contexts as x')
    .join('lti_deployments as d', 'd.id', 'x.deployment_row_id')
    .join('courses as c', 'c.id', 'x.course_id')
    .where({ 'x.id': s.ltiContextId, 'c.id': s.courseId, 'c.tenant_id': s.tenantId })
    .first(
      'c.title',
      'd.issuer',
      'x.lineitems_url',
      'x.memberships_url',
      'x.last_pull_at',
      'x.last_pull_status',
      'x.last_pull_summary',
      db('users')
        .where('id', s.userId)
        .select(db.raw('coalesce(name, email, batch_uid)'))
        .as('user_name'),
      db('jobs')
        .where('queue_key', `lti.pull:${s.ltiContextId}`)
        .select('id')
        .limit(1)
        .as('queued_job'),
    );
  if (!head) throw new NotFoundError('This course is no longer linked to the LMS; launch again.');
  const timeZone = await tenantTimeZone(deps, s.tenantId);
  const columns = (
    await db('grade_columns as gc')
      .where('gc.course_id', s.courseId)
      .whereNull('gc.deleted_at')
      .orderBy(['gc.sequence_num', 'gc.id'])
      .select(
        'gc.id',
        'gc.name',
        'gc.points',
        'gc.calculation',
        db('external_ids as e')
          .whereRaw('e.local_id = gc.id')
          .where({ 'e.tenant_id': s.tenantId, 'e.kind': 'lineitem', 'e.system': head.issuer })
          .select('e.external_id')
          .limit(1)
          .as('external_id'),
      )
  ).map((c) => ({
    id: c.id as number,
    name: c.name as string,
    points: c.points as number,
    lineItem: c.external_id !== null,
    calculated: !!c.calculation,
  }));

  // Learners: all of them (or the visible ones), sorted, searched, filtered, then one page.
  const learnerQuery = db('enrollments as e')
    .join('users as u', 'u.id', 'e.user_id')
    .where({ 'e.course_id': s.courseId, 'e.role': 'Learner' })
    .select('u.id', 'u.name', 'u.email', 'u.batch_uid');
  if (!s.staff) learnerQuery.whereIn('u.id', s.visibleUserIds);
  const everyone = bySortableName(
    (await learnerQuery).map((u) => ({
      id: u.id as number,
      name: (u.name as string | null) ?? null,
      fallback: (u.email ?? u.batch_uid ?? `Learner ${u.id}`) as string,
    })),
  );

  const conn = await deps.exchange.connection(db, s.tenantId);
  const finals: CourseFinalGrades | null = s.staff
    ? await courseFinalGrades(deps, s, { timeZone, connected: !!conn })
    : null;
  const status = finals?.review.status ?? null;
  const approvalRequired = status?.approvalMode === 'required';
  const finalColumn = columns.find((c) => c.id === status?.finalColumn?.id) ?? null;
  const finalByUser = new Map((status?.learners ?? []).map((l) => [l.userId, l]));
  const tracked = !!conn || approvalRequired;

  // Who needs attention, over the whole course (staff): refused or changed grades, and final grades.
  const attention =
    conn && s.staff ? await syncAttention(deps, conn.id, s.courseId) : new Set<number>();
  if (finalColumn && s.staff) {
    const finalItems = conn
      ? await syncStates(
          deps,
          conn.id,
          s.courseId,
          [...finalByUser.keys()].filter((u) => !attention.has(u)),
          finalColumn.id,
        )
      : new Map<string, ItemState>();
    for (const [userId, l] of finalByUser)
      if (
        needsAttention(marksOf(finalItems.get(`${finalColumn.id}:${userId}`), l, approvalRequired))
      )
        attention.add(userId);
  }

  const q = folded(list.q.trim());
  const matching = everyone.filter(
    (l) =>
      (!q || folded(`${l.name ?? ''} ${l.fallback}`).includes(q)) &&
      (!list.attention || attention.has(l.id)),
  );
  const pages = Math.max(1, Math.ceil(matching.length / PAGE_SIZE));
  const page = Math.min(Math.max(1, list.page), pages);
  const shown = matching.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
  const shownIds = shown.map((l) => l.id);

  const items = conn
    ? await syncStates(deps, conn.id, s.courseId, shownIds)
    : new Map<string, ItemState>();
  const shownMarks = new Map<string, CellMark[]>();
  for (const id of shownIds)
    for (const c of columns) {
      const key = `${c.id}:${id}`;
      const m = marksOf(
        items.get(key),
        c.id === finalColumn?.id ? finalByUser.get(id) : undefined,
        approvalRequired,
      );
      if (m.length) shownMarks.set(key, m);
    }

  const grades = new Map<string, GradeCell>();
  if (shownIds.length)
    for (const g of await db('submissions')
      .where({ course_id: s.courseId })
      .whereIn('user_id', shownIds)
      .select('column_id', 'user_id', 'score', 'grade'))
      grades.set(`${g.column_id}:${g.user_id}`, { score: g.score, grade: g.grade });

  let exchange: CoursePageData['exchange'] = null;
  if (conn && s.staff) {
    const last = await db('exchanges as x')
      .join('exchange_courses as c', 'c.exchange_id', 'x.id')
      .where({ 'x.connection_id': conn.id, 'c.course_id': s.courseId })
      .orderBy('x.id', 'desc')
      .first('x.state', 'x.updated_at', 'x.remote_id', 'x.error_code', 'x.error_message');
    const queued = await db('jobs')
      .where({ queue_key: `datasync.request:${s.courseId}` })
      .first('id');
    exchange = {
      requestQueued: !!queued,
      last: last
        ? {
            state: last.state,
            at: toIso(last.updated_at)!,
            ...exchangeState(last.state),
            detail: [
              ['Exchange', String(last.remote_id)],
              ['State', String(last.state)],
              ...(last.error_code
                ? ([['Error', `${last.error_code}: ${last.error_message ?? ''}`]] as Array<
                    [string, string]
                  >)
                : []),
            ],
          }
        : null,
    };
  }

  const pullOk = head.last_pull_status ? head.last_pull_status === 'ok' : null;
  const summary = parseJson<Record<string, unknown>>(head.last_pull_summary);
  const error = typeof summary?.error === 'string' ? summary.error : null;
  const waiting = await approverWaiting(deps, s);
  const legend: MarkKind[] = [
    ...(conn ? (['sent', 'pending', 'changed', 'failed'] as const) : []),
    ...(approvalRequired ? (['approved', 'moved'] as const) : []),
  ];
  return {
    session: token,
    courseTitle: head.title,
    userName: head.user_name ?? 'you',
    staff: s.staff,
    timeZone,
    scope: s.staff
      ? 'course'
      : s.visibleUserIds.length === 1 && s.visibleUserIds[0] === s.userId
        ? 'own'
        : 'others',
    columns,
    learners: shown.map((l) => ({ id: l.id, name: l.name?.trim() ? l.name : l.fallback })),
    grades,
    marks: shownMarks,
    legend: s.staff || shownMarks.size ? legend : [],
    list: {
      total: matching.length,
      all: everyone.length,
      page,
      pages,
      pageSize: PAGE_SIZE,
      q: list.q,
      attention: list.attention,
      needingAttention: s.staff && tracked ? attention.size : null,
    },
    lastPull: {
      at: toIso(head.last_pull_at),
      ok: pullOk,
      summary: pullOk ? pullSummary(summary) : null,
      failure: pullOk === false ? { ...pullFailure(error), raw: error ?? '' } : null,
    },
    pullQueued: head.queued_job !== null,
    canPull: !!(head.lineitems_url || head.memberships_url),
    withoutLineItem: columns.filter((c) => !c.lineItem).map((c) => c.name),
    exchange,
    drift: s.staff ? await courseDrift(deps, s.courseId) : null,
    finalGradeSection: finals ? finalGradeSection(finals) : null,
    approverLink: waiting === null ? null : approverLink(waiting),
    outcome: await outcome(timeZone),
  };
}

/** The course's open drift (what the last reconciliation found, and when), for the staff's course page. */
async function courseDrift(
  deps: AppDeps,
  courseId: number,
): Promise<NonNullable<CoursePageData['drift']>> {
  const row = await deps
    .db('grade_drift')
    .where({ course_id: courseId })
    .whereNull('resolved_at')
    .count({ n: '*' })
    .first();
  const course = await deps.db('courses').where({ id: courseId }).first('reconciled_at');
  return { open: Number(row?.n ?? 0), checkedAt: toIso(course?.reconciled_at ?? null) };
}
