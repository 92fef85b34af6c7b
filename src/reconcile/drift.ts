import type { Executor, Trx } from '../db/knex.js';
import type { ReconcileItem, ReconcileReport, ReconcileState } from './report.js';

/** States that are drift: a difference, a refusal, or an outcome nobody learned. */
export const DRIFT_STATES: readonly ReconcileState[] = [
  'lms_differs',
  'sis_differs',
  'failed',
  'unknown',
];

/** The two values that differ: gradebridge's (approved where that is what goes out) and the other side's. */
function values(item: ReconcileItem): {
  ours: number | null;
  theirs: number | null;
  detail: string;
} {
  const ours = item.approved?.score ?? item.gradebridge?.score ?? null;
  if (item.lms && item.lms.state === item.state)
    return {
      ours,
      theirs: item.lms.value,
      detail:
        item.state === 'failed'
          ? `the LMS refused it: ${item.lms.sendError ?? item.lms.sendStatus}`
          : item.state === 'unknown'
            ? 'the LMS was never read back'
            : `the LMS holds ${item.lms.value ?? 'nothing'}`,
    };
  return {
    ours,
    theirs: item.sis?.accepted?.score ?? null,
    detail:
      item.state === 'failed'
        ? `the SIS refused it: ${item.sis?.lastError ?? 'no reason given'}`
        : item.state === 'unknown'
          ? 'sent to the SIS, outcome never reported'
          : `the SIS last accepted ${item.sis?.accepted?.score ?? 'nothing'}`,
  };
}

/**
 * Records the report's drift: each difference with both values, when it was
 * first and last seen; drift no longer in the report is resolved. Scoped to
 * the courses the report covers.
 */
export async function recordDrift(
  trx: Trx,
  report: ReconcileReport,
  courseIds: number[],
): Promise<void> {
  const now = report.generatedAt;
  const open = new Map<string, { id: number; state: string }>();
  for (const r of await trx('grade_drift')
    .where({ tenant_id: report.tenantId })
    .whereNull('resolved_at')
    .modify((q) => {
      if (courseIds.length < 500) q.whereIn('course_id', courseIds);
    })
    .select('id', 'course_id', 'column_id', 'user_id', 'state')) {
    if (!courseIds.includes(r.course_id)) continue;
    open.set(`${r.column_id}:${r.user_id}`, { id: r.id, state: r.state });
  }
  for (const item of report.items) {
    if (!DRIFT_STATES.includes(item.state)) continue;
    const k = `${item.columnId}:${item.userId}`;
    const v = values(item);
    const existing = open.get(k);
    open.delete(k);
    if (existing && existing.state === item.state) {
      await trx('grade_drift')
        .where({ id: existing.id })
        .update({ ours: v.ours, theirs: v.theirs, detail: v.detail, last_seen_at: now });
      continue;
    }
    if (existing) await trx('grade_drift').where({ id: existing.id }).update({ resolved_at: now });
    await trx('grade_drift').insert({
      tenant_id: report.tenantId,
      course_id: item.courseId,
      column_id: item.columnId,
      user_id: item.userId,
      state: item.state,
      ours: v.ours,
      theirs: v.theirs,
      detail: v.detail,
      first_seen_at: now,
      last_seen_at: now,
    });
  }
  const resolved = [...open.values()].map((o) => o.id);
  for (let i = 0; i < resolved.length; i += 500)
    await trx('grade_drift')
      .whereIn('id', resolved.slice(i, i + 500))
      .update({ resolved_at: now });
  for (let i = 0; i < courseIds.length; i += 500)
    await trx('courses')
      .where({ tenant_id: report.tenantId })
      .whereIn('id', courseIds.slice(i, i + 500))
      .update({ reconciled_at: now });
}

/** Open drift by tenant and state, for the Prometheus gauges. */
export async function openDriftCounts(
  db: Executor,
): Promise<Array<{ tenantId: number; state: string; count: number }>> {
  const rows = await db('grade_drift')
    .whereNull('resolved_at')
    .groupBy('tenant_id', 'state')
    .select('tenant_id', 'state', db.raw('count(*) as n'));
  return rows.map((r) => ({ tenantId: r.tenant_id, state: r.state, count: Number(r.n) }));
}

/** When each open drift of a course was first seen, by column and learner. */
export async function openDrift(db: Executor, courseIds: number[]) {
  const out = new Map<string, { firstSeenAt: string; lastSeenAt: string }>();
  for (let i = 0; i < courseIds.length; i += 500)
    for (const r of await db('grade_drift')
      .whereIn('course_id', courseIds.slice(i, i + 500))
      .whereNull('resolved_at')
      .select('column_id', 'user_id', 'first_seen_at', 'last_seen_at'))
      out.set(`${r.column_id}:${r.user_id}`, {
        firstSeenAt: r.first_seen_at,
        lastSeenAt: r.last_seen_at,
      });
  return out;
}
