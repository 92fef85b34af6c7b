import { z } from 'zod';
import { isoNow } from '../db/time.js';
import { inTransaction } from '../db/transaction.js';
import { AppError, NotFoundError } from '../http/errors.js';
import { DB_INT_MAX } from '../http/validation.js';
import { openDrift } from '../reconcile/drift.js';
import { REPAIR_ACTIONS, repair, type RepairAction } from '../reconcile/repair.js';
import {
  reconcileReport,
  STATES,
  type ReconcileItem,
  type ReconcileReport,
} from '../reconcile/report.js';
import { reconcile } from '../reconcile/service.js';
import type { AppKit } from './app-routes.js';
import type { PageSession } from './final-grade-service.js';
import { appPage, html, tight, when, type Html, type Outcome } from './pages.js';
import { RECONCILE_WORDS } from './plain-words.js';
import { bySortableName } from './sortable-name.js';

/**
 * The course's reconciliation, for its staff (app/reconcile): for every grade
 * that leaves gradebridge, what the LMS holds, what gradebridge holds and what
 * the SIS accepted, in one state each, with the repairs a person may choose.
 * The page recomputes the course's report when it opens (and records its
 * drift); nothing is resent unless a button asks.
 */

const PAGE_SIZE = 100;

const valueText = (v: { score: number | null; grade?: string | null } | null | undefined) =>
  v && (v.grade ?? v.score) !== null && (v.grade ?? v.score) !== undefined
    ? String(v.grade ?? v.score)
    : '–';

/** The repairs a person may choose for one grade, by what its sides say. */
export function repairsFor(i: ReconcileItem): RepairAction[] {
  const out: RepairAction[] = [];
  if (i.lms && ['lms_differs', 'failed', 'unknown'].includes(i.lms.state ?? '') && i.gradebridge)
    out.push('resend_lms');
  if (i.lms && i.lms.state === 'lms_differs' && i.lms.readAt) out.push('accept_lms');
  if (i.sis && ['sis_differs', 'failed', 'unknown'].includes(i.sis.state ?? ''))
    out.push('resend_sis');
  return out;
}

const REPAIR_LABEL: Record<RepairAction, string> = {
  resend_lms: 'Send ours to the LMS again',
  accept_lms: 'Take the LMS’s value',
  resend_sis: 'Send to the SIS again',
};

function lmsCell(i: ReconcileItem, zone: string): Html {
  if (!i.lms) return html`<span class="muted">not an LMS column</span>`;
  if (i.lms.sendStatus === 'refused' && i.lms.state === 'failed')
    return html`refused${i.lms.value !== null ? html` (holds ${valueText({ score: i.lms.value })})` : ''}`;
  if (!i.lms.readAt) return html`<span class="muted">not read yet</span>`;
  return html`${valueText({ score: i.lms.value })}
    <span class="muted">read ${when(i.lms.readAt, zone)}</span>`;
}

function sisCell(i: ReconcileItem, zone: string): Html {
  if (!i.sis) return html`<span class="muted">not sent to the SIS</span>`;
  const refused =
    i.sis.state === 'failed' && i.sis.lastError
      ? html`<br /><span class="bad">Refused: “${i.sis.lastError}”</span>`
      : '';
  if (!i.sis.accepted) return html`<span class="muted">nothing accepted yet</span>${refused}`;
  return html`${valueText(i.sis.accepted)}${
    i.sis.accepted.at ? html` <span class="muted">${when(i.sis.accepted.at, zone)}</span>` : ''
  }${refused}`;
}

function repairForms(i: ReconcileItem): Html {
  const actions = repairsFor(i);
  if (actions.length === 0) return html``;
  return html`<div class="actions">
    ${actions.map(
      (a) =>
        html`<form method="post" action="app/reconcile/repair" data-live data-wait="Asking…">
          <input type="hidden" name="column" value="${i.columnId}" /><input
            type="hidden"
            name="user"
            value="${i.userId}"
          /><input type="hidden" name="action" value="${a}" />
          <button class="${a === 'accept_lms' ? 'secondary' : ''}" type="submit">
            ${REPAIR_LABEL[a]}<span class="sr"> (${i.name}, ${i.column})</span>
          </button>
        </form>`,
    )}
  </div>`;
}

export interface ReconcilePageData {
  session: string;
  courseTitle: string;
  timeZone: string;
  report: ReconcileReport;
  drift: Map<string, { firstSeenAt: string }>;
  all: boolean;
  page: number;
  outcome: Outcome | null;
}

export function reconcilePage(d: ReconcilePageData): string {
  const zone = d.timeZone;
  const shown = d.report.items.filter((i) => d.all || i.state !== 'in_sync');
  const sorted = bySortableName(
    shown.map((i) => ({ id: i.userId, name: i.name, fallback: i.person, i })),
  ).map((x) => x.i);
  const pages = Math.max(1, Math.ceil(sorted.length / PAGE_SIZE));
  const page = Math.min(d.page, pages);
  const rows = sorted.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
  const total = d.report.items.length;
  const needing = total - d.report.counts.in_sync;
  const href = (changes: { all?: boolean; page?: number }) => {
    const p = new URLSearchParams();
    if (changes.all ?? d.all) p.set('all', '1');
    if ((changes.page ?? 1) > 1) p.set('page', String(changes.page));
    const qs = p.toString();
    return qs ? `app/reconcile?${qs}` : 'app/reconcile';
  };
  const header = html`<p><a href="app">← ${d.courseTitle}</a></p>
    <h1>Grades in the LMS, gradebridge and the SIS</h1>`;
  const counts = html`<ul class="counts">
    ${STATES.filter((s) => d.report.counts[s] > 0 || s === 'in_sync').map(
      (s) =>
        html`<li>
          <strong class="${RECONCILE_WORDS[s].tone}">${RECONCILE_WORDS[s].words}:</strong>
          ${d.report.counts[s]}${s === 'in_sync' ? '' : html`. ${RECONCILE_WORDS[s].next}`}
        </li>`,
    )}
  </ul>`;
  const table =
    rows.length === 0
      ? html`<p class="muted">
          ${
            total === 0
              ? 'No grade of this course leaves gradebridge yet: no column is linked to an LMS line item or sent to the SIS.'
              : 'Every grade is the same in the LMS, gradebridge and the SIS.'
          }
        </p>`
      : html`<div class="scroll">
          <table>
            <caption>
              ${d.all ? 'Every grade that leaves gradebridge' : 'Grades that need a look'}
            </caption>
            <thead>
              <tr>
                <th scope="col">Student</th>
                <th scope="col">Column</th>
                <th scope="col">gradebridge</th>
                <th scope="col">The LMS has</th>
                <th scope="col">The SIS accepted</th>
                <th scope="col">State</th>
                <th scope="col">Repair</th>
              </tr>
            </thead>
            <tbody>
              ${rows.map((i) => {
                const since = d.drift.get(`${i.columnId}:${i.userId}`);
                return tight(
                  html`<tr>
                    <th scope="row">${i.name}</th>
                    <td>${i.column}</td>
                    <td class="num">
                      ${valueText(i.gradebridge)}${
                        i.approved
                          ? html`<br /><span class="muted">approved ${valueText(i.approved)}</span>`
                          : ''
                      }
                    </td>
                    <td>${lmsCell(i, zone)}</td>
                    <td>${sisCell(i, zone)}</td>
                    <td>
                      <span class="${RECONCILE_WORDS[i.state].tone}"
                        >${RECONCILE_WORDS[i.state].words}</span
                      >${since ? html`<br /><span class="muted">since ${when(since.firstSeenAt, zone)}</span>` : ''}
                    </td>
                    <td>${repairForms(i)}</td>
                  </tr>`,
                );
              })}
            </tbody>
          </table>
        </div>`;
  const pager =
    pages > 1
      ? html`<nav class="pages" aria-label="Pages">
          ${page > 1 ? html`<a href="${href({ page: page - 1 })}">Previous page</a>` : ''}
          <span>Page ${page} of ${pages}</span>
          ${page < pages ? html`<a href="${href({ page: page + 1 })}">Next page</a>` : ''}
        </nav>`
      : '';
  const content = html`<p>
      Checked ${when(d.report.generatedAt, zone)}:
      ${total === 0 ? 'nothing to compare.' : `${total} grades compared, ${needing} need a look.`}
      Nothing is sent again unless you ask with a button below.
    </p>
    ${counts}
    <p>
      ${
        d.all
          ? html`<a href="${href({ all: false })}">Show only grades that need a look</a>`
          : html`<a href="${href({ all: true })}">Show every grade</a>`
      }
    </p>
    ${pager} ${table}
    <details>
      <summary>Technical detail</summary>
      <p>
        States as the API and <code>npm run cli -- reconcile</code> name them:
        ${STATES.map((s) => html`<code>${s}</code> ${d.report.counts[s]}`).reduce(
          (a, b) => html`${a}, ${b}`,
        )}.
      </p>
      <div class="scroll">
        <table>
          <thead>
            <tr>
              <th scope="col">Column id</th>
              <th scope="col">User id</th>
              <th scope="col">State</th>
              <th scope="col">LMS</th>
              <th scope="col">SIS</th>
              <th scope="col">Version</th>
            </tr>
          </thead>
          <tbody>
            ${rows.map((i) =>
              tight(
                html`<tr>
                  <td>${i.columnId}</td>
                  <td><code>${i.person}</code></td>
                  <td><code>${i.state}</code></td>
                  <td>
                    <code
                      >${i.lms ? `${i.lms.state ?? ''} ${i.lms.sendStatus ?? ''} ${i.lms.sendError ?? ''}` : ''}</code
                    >
                  </td>
                  <td>
                    <code
                      >${i.sis ? `${i.sis.state ?? ''} ${i.sis.lastStatus ?? ''} would send: ${i.sis.wouldSend}` : ''}</code
                    >
                  </td>
                  <td>${i.gradebridge?.versionId ?? ''}</td>
                </tr>`,
              ),
            )}
          </tbody>
        </table>
      </div>
    </details>`;
  return appPage(`Reconciliation: ${d.courseTitle}`, d.session, {
    header,
    outcome: d.outcome,
    content,
  });
}

const REPAIR_DONE: Record<RepairAction, string> = {
  resend_lms: 'Sending gradebridge’s grade to the LMS again.',
  accept_lms: 'The LMS’s value is now gradebridge’s grade.',
  resend_sis: 'The grade goes to the SIS again with the next exchange.',
};

/** The reconciliation page and its repair button, under the app (course staff only). */
export function reconcileRoutes(kit: AppKit): void {
  const deps = kit.deps;
  const refusal = 'Only course staff can compare and repair grades.';

  const render = async (
    s: PageSession,
    token: string,
    view: { all: boolean; page: number },
    outcome: Outcome | null,
    record = true,
  ) => {
    // Opening the page recomputes the course's report and records its drift; a refused
    // repair shows the same report without writing anything.
    const report = record
      ? await reconcile(deps, s.tenantId, s.courseId)
      : await reconcileReport(deps.db, s.tenantId, {
          courseId: s.courseId,
          now: isoNow(deps.clock),
          unknownAfterMinutes: deps.config.RECONCILE_UNKNOWN_AFTER_MINUTES,
        });
    return reconcilePage({
      session: token,
      courseTitle: await kit.courseTitle(s),
      timeZone: await kit.timeZone(s),
      report,
      drift: await openDrift(deps.db, [s.courseId]),
      ...view,
      outcome,
    });
  };

  kit.page({
    path: '/reconcile',
    operationId: 'ltiReconcile',
    summary:
      "The course's grades as the LMS, gradebridge and the SIS hold them, one state each, with repairs (staff)",
    query: z.object({
      all: z.enum(['1', 'on', 'true']).optional(),
      page: z.coerce.number().int().min(1).max(100000).optional(),
    }),
    responses: { 200: { description: 'HTML' }, 403: { description: 'Not course staff' } },
    handler: async (ctx, token, query) => {
      const s = kit.staffSession(token, refusal);
      kit.sendPage(ctx, await render(s, token!, { all: !!query.all, page: query.page ?? 1 }, null));
    },
  });

  kit.action({
    path: '/reconcile/repair',
    operationId: 'ltiReconcileRepair',
    summary:
      "Repair one grade of the course: send gradebridge's grade to the LMS or the SIS again, or take the LMS's value (staff; recorded with who asked)",
    body: z.object({
      column: z.coerce.number().int().positive().max(DB_INT_MAX),
      user: z.coerce.number().int().positive().max(DB_INT_MAX),
      action: z.enum(REPAIR_ACTIONS),
    }),
    responses: {
      303: { description: 'Back to the reconciliation page' },
      200: { description: 'With `X-Requested-With: XMLHttpRequest`: the outcome' },
      403: { description: 'Not course staff' },
      404: { description: 'No such column or learner in this course' },
      409: { description: 'The repair does not apply (no line item, the LMS never read)' },
    },
    handler: async (ctx, token, body) => {
      const s = kit.staffSession(token, refusal);
      const fail = (err: AppError): Outcome => ({
        tone: 'bad',
        done: true,
        title: 'Nothing was changed.',
        text: err.message,
        refresh: true,
      });
      try {
        const learner = await deps
          .db('enrollments')
          .where({ course_id: s.courseId, user_id: body.user, role: 'Learner' })
          .first('id');
        if (!learner) throw new NotFoundError('That learner is not in this course.');
        const who = await deps.db('users').where({ id: s.userId }).first('name', 'email');
        await inTransaction(deps.db, (trx) =>
          repair(trx, {
            tenantId: s.tenantId,
            courseId: s.courseId,
            columnId: body.column,
            userId: body.user,
            action: body.action,
            actor: {
              userId: s.userId,
              name: (who?.name ?? who?.email ?? `User ${s.userId}`) as string,
            },
            now: isoNow(deps.clock),
          }),
        );
      } catch (err) {
        if (!(err instanceof AppError) || err.status >= 500) throw err;
        await kit.refused(ctx, err, fail(err), () =>
          render(s, token, { all: false, page: 1 }, fail(err), false),
        );
        return;
      }
      kit.done(
        ctx,
        token,
        {
          tone: 'ok',
          done: true,
          refresh: true,
          title: REPAIR_DONE[body.action],
          next:
            body.action === 'accept_lms'
              ? 'It is recorded as a new version, with your name.'
              : 'Recorded with your name; the state below changes once the answer is read back.',
        },
        'app/reconcile',
      );
    },
  });
}
