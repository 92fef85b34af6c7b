import type { ReconcileItem, ReconcileReport } from './report.js';

/** A report as the API and the command line show it; `only` keeps the items in those states. */
export function presentReport(
  report: ReconcileReport,
  drift: Map<string, { firstSeenAt: string; lastSeenAt: string }>,
  only?: readonly string[] | ((item: ReconcileItem) => boolean),
) {
  const keep =
    typeof only === 'function' ? only : only ? (i: ReconcileItem) => only.includes(i.state) : null;
  const items = keep ? report.items.filter(keep) : report.items;
  return {
    tenantId: report.tenantId,
    generatedAt: report.generatedAt,
    counts: report.counts,
    items: items.map((i) => presentItem(i, drift.get(`${i.columnId}:${i.userId}`))),
  };
}

export function presentItem(i: ReconcileItem, drift?: { firstSeenAt: string }) {
  return {
    course: i.course,
    columnId: i.columnId,
    column: i.column,
    userId: i.person,
    name: i.name,
    state: i.state,
    gradebridge: i.gradebridge ? { score: i.gradebridge.score, grade: i.gradebridge.grade } : null,
    approved: i.approved,
    lms: i.lms
      ? {
          score: i.lms.value,
          readAt: i.lms.readAt,
          lastSent: i.lms.sent,
          sentAt: i.lms.sentAt,
          sendStatus: i.lms.sendStatus,
          error: i.lms.sendError,
          state: i.lms.state,
        }
      : null,
    sis: i.sis
      ? {
          accepted: i.sis.accepted,
          lastStatus: i.sis.lastStatus,
          lastSentAt: i.sis.lastSentAt,
          error: i.sis.lastError,
          state: i.sis.state,
          wouldSend: i.sis.wouldSend,
        }
      : null,
    driftSince: drift?.firstSeenAt ?? null,
  };
}
