import { assetUrl } from './assets.js';

/**
 * Server-rendered pages of the LTI tool, on one layout. Every interpolated
 * value is escaped unless it is an Html value built here. The app's pages
 * (after a launch) carry the session token once, in `<base href>`, and link
 * relatively; their one script (/lti/assets/app.js) posts action forms in
 * the background and shows outcomes in place, and every page works without
 * it. Plain words first; codes, ids and answers behind "Technical detail".
 */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => {
    const rendered = Array.isArray(v)
      ? v.map((x) => (x instanceof Html ? x.value : escapeHtml(x))).join('')
      : v instanceof Html
        ? v.value
        : escapeHtml(v);
    out += rendered + strings[i + 1]!;
  });
  return new Html(out);
}

/**
 * A table row without the white space between its tags (the formatter
 * indents templates; a page of a thousand rows need not carry it).
 */
export const tight = (row: Html) => new Html(row.value.replace(/>\s+</g, '><'));

/** The path every app link is relative to: the session token travels in it, once per page. */
export const appBase = (token: string) => `/lti/s/${encodeURIComponent(token)}/`;

export interface LayoutOptions {
  /** The app's base (appBase): links and forms of the page are relative to it. */
  base?: string;
  /** Loads the app's script (live outcomes). */
  script?: boolean;
}

export function layout(title: string, body: Html, options: LayoutOptions = {}): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · gradebridge</title>
        ${options.base ? html`<base href="${options.base}" />` : ''}
        <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
        <link rel="stylesheet" href="${assetUrl('app.css')}" />
        ${options.script ? html`<script src="${assetUrl('app.js')}" defer></script>` : ''}
      </head>
      <body>
        <main>${body}</main>
      </body>
    </html>`.value;
}

const formatters = new Map<string, { date: Intl.DateTimeFormat; zone: Intl.DateTimeFormat }>();

function formattersFor(zone: string) {
  let f = formatters.get(zone);
  if (!f) {
    try {
      f = {
        date: new Intl.DateTimeFormat('en-GB', {
          dateStyle: 'medium',
          timeStyle: 'short',
          timeZone: zone,
        }),
        zone: new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'short' }),
      };
    } catch {
      return formattersFor('UTC');
    }
    formatters.set(zone, f);
  }
  return f;
}

/** A moment in words, in the tenant's time zone: "3 Dec 2026, 14:05 CET". */
export function timeWords(iso: string, zone = 'UTC'): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const f = formattersFor(zone);
  const name =
    zone === 'UTC'
      ? 'UTC'
      : (f.zone.formatToParts(date).find((p) => p.type === 'timeZoneName')?.value ?? zone);
  return `${f.date.format(date)} ${name}`;
}

/** A moment as people read it, in the tenant's time zone, with the exact time for machines. */
export function when(iso: string, zone = 'UTC'): Html {
  return html`<time datetime="${iso}">${timeWords(iso, zone)}</time>`;
}

export function errorPage(status: number, reason: string, requestId: string): string {
  return layout(
    'Launch refused',
    html`<h1>This request could not be accepted</h1>
      <div class="card error">
        <p><strong>${reason}</strong></p>
        <p class="muted">
          HTTP ${status}. If this keeps happening, give your LMS administrator this reference:
          <code>${requestId}</code>.
        </p>
      </div>`,
  );
}

/** An HTML page that posts fields to a URL at once (deep linking answers, dynamic registration). */
export function autoSubmitPage(
  title: string,
  action: string,
  fields: Record<string, string>,
): string {
  return layout(
    title,
    html`<form id="f" method="post" action="${action}">
        ${Object.entries(fields).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}" />`)}
        <p>${title}</p>
        <noscript><button type="submit">Continue</button></noscript>
      </form>
      <script>
        document.getElementById('f').submit();
      </script>`,
  );
}

/* ------------------------------------------------------------------ outcomes */

/**
 * Where a staff action stands, in plain words: what happened or is
 * happening, what to do next, and the technical detail behind a disclosure.
 * Built from the job's (or the record's) state when shown, never carried in
 * a URL, so it is never stale.
 */
export interface Outcome {
  tone: 'info' | 'ok' | 'warn' | 'bad';
  /** It has ended: nothing more will change by waiting. */
  done: boolean;
  title: string;
  text?: string | null;
  next?: string | null;
  /** Technical detail, as label and value, for the disclosure. */
  detail?: Array<[string, string]>;
  /** The job to poll while it is not done. */
  jobId?: number | null;
  /** When it ends, the page's content is stale (grades pulled, a state changed). */
  refresh?: boolean;
}

/** The outcome as the page shows it (the app's script swaps exactly this HTML). */
export function outcomeCard(o: Outcome): Html {
  const detail = o.detail ?? [];
  return html`<div
    class="outcome ${o.tone}"
    ${o.jobId && !o.done ? html`data-poll="app/jobs/${o.jobId}"` : ''}
  >
    <p><strong>${o.title}</strong>${o.text ? html` ${o.text}` : ''}</p>
    ${o.next ? html`<p>${o.next}</p>` : ''}
    ${
      o.jobId && !o.done
        ? html`<noscript
            ><p><a href="app?job=${o.jobId}">Check again</a> to see how it ends.</p></noscript
          >`
        : ''
    }
    ${
      detail.length
        ? html`<details>
            <summary>Technical detail</summary>
            <dl>
              ${detail.map(
                ([k, v]) =>
                  html`<dt>${k}</dt>
                    <dd><code>${v}</code></dd>`,
              )}
            </dl>
          </details>`
        : ''
    }
  </div>`;
}

/** The JSON the app's script reads: the card, whether to poll, whether the page's content is stale. */
export function outcomeJson(o: Outcome) {
  return {
    outcome: {
      tone: o.tone,
      done: o.done,
      title: o.title,
      next: o.next ?? null,
      html: outcomeCard(o).value,
      poll: o.jobId && !o.done ? `app/jobs/${o.jobId}` : null,
      refresh: !!o.refresh,
    },
  };
}

/** The live region outcomes appear in (empty when there is none). */
export function outcomeRegion(o: Outcome | null): Html {
  return html`<div id="outcome" role="status" aria-live="polite">${o ? outcomeCard(o) : ''}</div>`;
}

/** An app page: its header, the live region, and the content the script refreshes in place. */
export function appPage(
  title: string,
  token: string,
  parts: { header: Html; outcome?: Outcome | null; content: Html },
): string {
  return layout(
    title,
    html`${parts.header}${outcomeRegion(parts.outcome ?? null)}
      <div id="content">${parts.content}</div>`,
    { base: appBase(token), script: true },
  );
}

/* --------------------------------------------------------------- course page */

export interface GradeCell {
  score: number | null;
  grade: string | null;
}

/** What a grade's marks say: sent, waiting, changed since sent, not sent, approved, changed since approval. */
export type MarkKind = 'sent' | 'pending' | 'changed' | 'failed' | 'approved' | 'moved';

export interface CellMark {
  kind: MarkKind;
  /** Why it was not sent, in plain words (failed only). */
  reason?: string;
  /** The code and message Data Sync or gradebridge gave (failed only). */
  code?: string | null;
}

const MARKS: Record<MarkKind, { symbol: string; label: string; legend: string }> = {
  sent: { symbol: '✓', label: 'sent', legend: 'sent to the SIS' },
  pending: { symbol: '○', label: 'waiting to send', legend: 'waiting to be sent' },
  changed: { symbol: '✎', label: 'changed since sent', legend: 'changed since it was sent' },
  failed: { symbol: '✗', label: 'not sent', legend: 'not sent: select it for the reason' },
  approved: { symbol: '☑', label: 'approved', legend: 'final grade approved' },
  moved: {
    symbol: '⚠',
    label: 'changed since approval',
    legend: 'final grade changed since approval',
  },
};

/** A grade's mark, on one line (a page has thousands): a symbol with its words for screen readers; "not sent" opens to say why. */
function markHtml(m: CellMark): string {
  const k = MARKS[m.kind];
  if (m.kind !== 'failed')
    return `<i class="m ${m.kind}" role="img" aria-label="${k.label}">${k.symbol}</i>`;
  const code = m.code ? ` <span class="muted">(${escapeHtml(m.code)})</span>` : '';
  return `<details class="why"><summary><i class="m failed" role="img" aria-label="not sent, why">${k.symbol}</i></summary><span class="reason">${escapeHtml(m.reason ?? 'Not sent.')}${code}</span></details>`;
}

/** The legend of the marks a page can show. */
export function markLegend(kinds: MarkKind[]): Html {
  return html`<ul class="legend" aria-label="What the marks mean">
    ${kinds.map(
      (kind) =>
        html`<li>
          <span class="m ${kind}" aria-hidden="true">${MARKS[kind].symbol}</span>
          ${MARKS[kind].legend}
        </li>`,
    )}
  </ul>`;
}

export interface CoursePageData {
  session: string;
  courseTitle: string;
  userName: string;
  staff: boolean;
  timeZone: string;
  /** Whose grades are shown: the course's (staff), the user's own (a learner), or others' (a mentor's mentees). */
  scope: 'course' | 'own' | 'others';
  columns: Array<{
    id: number;
    name: string;
    points: number;
    lineItem: boolean;
    calculated: boolean;
  }>;
  /** This page's learners, in order. */
  learners: Array<{ id: number; name: string }>;
  grades: Map<string, GradeCell>;
  /** Each grade's marks (`column:user`). */
  marks: Map<string, CellMark[]>;
  /** The marks the legend explains (those this course can show). */
  legend: MarkKind[];
  list: {
    /** Learners after search and filter, over all pages. */
    total: number;
    /** Learners of the course (or visible to this person) before search and filter. */
    all: number;
    page: number;
    pages: number;
    pageSize: number;
    q: string;
    attention: boolean;
    /** Learners with a grade that needs attention (null when nothing is sent anywhere). */
    needingAttention: number | null;
  };
  lastPull: {
    at: string | null;
    ok: boolean | null;
    summary: string | null;
    failure: { words: string; next: string; raw: string } | null;
  };
  pullQueued: boolean;
  canPull: boolean;
  /** Names of the columns that have no LMS line item. */
  withoutLineItem: string[];
  /** The last exchange of this course with Data Sync (staff, with a connection). */
  exchange: {
    requestQueued: boolean;
    last: {
      state: string;
      at: string;
      words: string;
      tone: 'ok' | 'bad' | 'info';
      detail: Array<[string, string]>;
    } | null;
  } | null;
  /** Grades the last reconciliation found different in the LMS or the SIS (staff). */
  drift: { open: number; checkedAt: string | null } | null;
  /** The final-grade workflow (staff): state, final column, review link, events. */
  finalGradeSection: Html | null;
  /** For an approver: the link to the final grades waiting for approval. */
  approverLink: Html | null;
  outcome: Outcome | null;
}

const cellText = (g: GradeCell | undefined) =>
  g && (g.grade ?? g.score) !== null ? (g.grade ?? String(g.score)) : '–';

const count = (n: number, one: string, many = `${one}s`) =>
  `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;

/** A link to the course page with this list's search, filter and page. */
function listHref(l: CoursePageData['list'], changes: Partial<{ page: number }>): string {
  const p = new URLSearchParams();
  if (l.q) p.set('q', l.q);
  if (l.attention) p.set('attention', '1');
  const page = changes.page ?? l.page;
  if (page > 1) p.set('page', String(page));
  const qs = p.toString();
  return qs ? `app?${qs}` : 'app';
}

function staffTools(d: CoursePageData): Html {
  const pull = d.lastPull;
  return html`<section class="card" aria-labelledby="lms-heading">
      <h2 id="lms-heading">Sync with the LMS</h2>
      <p>
        Last pull:
        ${
          pull.at
            ? html`<strong class="${pull.ok ? 'ok' : 'bad'}"
                  >${pull.ok ? 'succeeded' : 'failed'}</strong
                >
                ${when(pull.at, d.timeZone)}${pull.summary ? html` (${pull.summary})` : ''}`
            : html`<span class="muted">never</span>`
        }${d.pullQueued ? html` · <span class="muted">a pull is queued</span>` : ''}
      </p>
      ${
        pull.failure
          ? html`<p class="bad">${pull.failure.words}</p>
              <p>${pull.failure.next}</p>
              <details>
                <summary>Technical detail</summary>
                <pre>${pull.failure.raw}</pre>
              </details>`
          : ''
      }
      ${
        d.canPull
          ? html`<div class="actions">
                <form
                  method="post"
                  action="app/pull"
                  data-live
                  data-wait="Asking for a pull from the LMS…"
                >
                  <button type="submit">Pull grades and roster now</button>
                </form>
                ${
                  d.withoutLineItem.length
                    ? html`<form
                        method="post"
                        action="app/lineitems"
                        data-live
                        data-wait="Creating line items in the LMS…"
                      >
                        <button class="secondary" type="submit">
                          Create LMS line items for columns without one
                        </button>
                      </form>`
                    : ''
                }
              </div>
              <p class="muted">
                ${
                  d.columns.length === 0
                    ? 'No columns yet.'
                    : d.withoutLineItem.length === 0
                      ? 'Every column is a line item in the LMS.'
                      : `${count(d.withoutLineItem.length, 'column has', 'columns have')} no LMS line item yet: ${d.withoutLineItem.join(', ')}.`
                }
              </p>`
          : html`<p class="muted">
              This launch gave no grade service endpoints, so grades cannot be pulled from here.
            </p>`
      }
    </section>
    ${
      d.exchange
        ? html`<section class="card" aria-labelledby="sis-heading">
            <h2 id="sis-heading">Final grades to the SIS (Data Sync)</h2>
            <p>
              Last exchange:
              ${
                d.exchange.last
                  ? html`<strong class="${d.exchange.last.tone}">${d.exchange.last.words}</strong>
                      ${when(d.exchange.last.at, d.timeZone)}`
                  : html`<span class="muted">none yet</span>`
              }${d.exchange.requestQueued ? html` · <span class="muted">a send is queued</span>` : ''}
            </p>
            ${
              d.exchange.last?.detail.length
                ? html`<details>
                    <summary>Technical detail</summary>
                    <dl>
                      ${d.exchange.last.detail.map(
                        ([k, v]) =>
                          html`<dt>${k}</dt>
                            <dd><code>${v}</code></dd>`,
                      )}
                    </dl>
                  </details>`
                : ''
            }
          </section>`
        : ''
    }
    ${
      d.drift
        ? html`<section class="card" aria-labelledby="reconcile-heading">
            <h2 id="reconcile-heading">Every grade accounted for</h2>
            <p>
              ${
                !d.drift.checkedAt
                  ? html`<span class="muted">Not compared yet</span> with what the LMS and the SIS
                      hold.`
                  : d.drift.open === 0
                    ? html`<span class="ok">No difference found</span> between the LMS, gradebridge
                        and the SIS, when last compared ${when(d.drift.checkedAt, d.timeZone)}.`
                    : html`<strong class="bad"
                          >${count(d.drift.open, 'grade differs', 'grades differ')}</strong
                        >
                        between the LMS, gradebridge and the SIS, or had no answer, when last
                        compared ${when(d.drift.checkedAt, d.timeZone)}.`
              }
            </p>
            <p><a href="app/reconcile">Compare every grade now, and repair</a></p>
          </section>`
        : ''
    }`;
}

function findForm(d: CoursePageData): Html {
  const l = d.list;
  return html`<form class="find" method="get" action="app" role="search" aria-label="Learners">
    <label
      >Find a learner by name
      <input type="search" name="q" value="${l.q}" maxlength="100" autocomplete="off"
    /></label>
    ${
      l.needingAttention !== null
        ? html`<label class="check"
            ><input type="checkbox" name="attention" value="1" ${l.attention ? 'checked' : ''} />
            Needs attention only (${l.needingAttention})</label
          >`
        : ''
    }
    <button type="submit">Show</button>
    ${l.q || l.attention ? html`<a href="app">Show everyone</a>` : ''}
  </form>`;
}

function pager(d: CoursePageData, where: 'above' | 'below'): Html {
  const l = d.list;
  if (l.total === 0) return html``;
  const from = (l.page - 1) * l.pageSize + 1;
  const to = Math.min(l.total, l.page * l.pageSize);
  const filtered = l.total !== l.all;
  return html`<nav
    class="pages"
    aria-label="${where === 'above' ? 'Pages of learners' : 'Pages of learners, below the grades'}"
  >
    <span
      >${
        l.pages > 1
          ? `Learners ${from.toLocaleString('en-US')}–${to.toLocaleString('en-US')} of ${l.total.toLocaleString('en-US')}`
          : count(l.total, 'learner')
      }${filtered ? ` (of ${l.all.toLocaleString('en-US')})` : ''},
      by family name</span
    >
    ${l.page > 1 ? html`<a href="${listHref(l, { page: l.page - 1 })}">Previous page</a>` : ''}
    ${l.pages > 1 ? html`<span>Page ${l.page} of ${l.pages}</span>` : ''}
    ${l.page < l.pages ? html`<a href="${listHref(l, { page: l.page + 1 })}">Next page</a>` : ''}
  </nav>`;
}

function gradeGrid(d: CoursePageData): Html {
  const rows = d.learners.map((learner) => {
    const cells = d.columns.map((c) => {
      const key = `${c.id}:${learner.id}`;
      const marks = d.marks.get(key);
      return `<td><a href="app/grade?column=${c.id}&amp;user=${learner.id}">${escapeHtml(
        cellText(d.grades.get(key)),
      )}</a>${marks ? marks.map(markHtml).join('') : ''}</td>`;
    });
    return new Html(`<tr><th scope="row">${escapeHtml(learner.name)}</th>${cells.join('')}</tr>`);
  });
  return html`<div class="grid" role="region" aria-labelledby="grades-heading" tabindex="0">
    <table>
      <thead>
        <tr>
          <th scope="col">${d.scope === 'own' ? 'Name' : 'Student'}</th>
          ${d.columns.map(
            (c) =>
              html`<th scope="col" class="col">
                ${c.name}<br /><span class="muted"
                  >${c.points}
                  pts${c.lineItem ? ' · LMS' : ''}${c.calculated ? ' · calculated' : ''}</span
                >
              </th>`,
          )}
        </tr>
      </thead>
      <tbody>
        ${
          rows.length
            ? rows
            : html`<tr>
                <td colspan="${d.columns.length + 1}" class="muted">
                  ${
                    d.list.q || d.list.attention
                      ? 'No learner matches: change the search or show everyone.'
                      : 'No students yet.'
                  }
                </td>
              </tr>`
        }
      </tbody>
    </table>
  </div>`;
}

export function coursePage(d: CoursePageData): string {
  const header = html`<h1>${d.courseTitle}</h1>
    <p class="muted">Signed in as ${d.userName}${d.staff ? ' (course staff)' : ''}</p>`;
  const heading =
    d.scope === 'course' ? 'Grades' : d.scope === 'own' ? 'Your grades' : 'Grades you follow';
  const grid =
    d.scope === 'others' && d.list.all === 0
      ? html`<p class="muted">
          Your role in this course shows no grades. A mentor sees the grades of the students the LMS
          names for them.
        </p>`
      : d.columns.length === 0
        ? html`<p class="muted">No grade columns yet.</p>`
        : html`${d.scope === 'course' ? findForm(d) : ''} ${pager(d, 'above')}
          ${d.legend.length ? markLegend(d.legend) : ''} ${gradeGrid(d)}
          ${d.list.pages > 1 ? pager(d, 'below') : ''}`;
  const content = html`${d.approverLink ?? ''}
    ${d.staff ? html`<div class="panels">${d.finalGradeSection ?? ''}${staffTools(d)}</div>` : ''}
    <h2 id="grades-heading">${heading}</h2>
    ${
      d.staff && d.list.needingAttention
        ? html`<p>
            <strong class="bad"
              >${count(d.list.needingAttention, 'learner needs', 'learners need')}
              attention:</strong
            >
            a grade was not sent, changed since it was sent, or changed since approval.
            ${d.list.attention ? '' : html`<a href="app?attention=1">Show only them</a>`}
          </p>`
        : ''
    }
    ${grid}`;
  return appPage(d.courseTitle, d.session, { header, outcome: d.outcome, content });
}

/* ------------------------------------------------------------- grade history */

export interface GradeHistoryData {
  session: string;
  courseTitle: string;
  columnName: string;
  learnerName: string;
  timeZone: string;
  versions: Array<{
    id: number;
    score: number | null;
    grade: string | null;
    gradedAt: string;
    /** Where it came from, in words ("from the LMS"). */
    from: string;
    /** Who graded it, in words (a name, or why there is none). */
    by: string;
    source: string;
    sends: Array<{
      tone: 'ok' | 'bad' | 'info';
      words: string;
      at: string;
      detail: Array<[string, string]>;
    }>;
  }>;
  /** The approval steps of this final grade (staff, the final column only). */
  workflow: Html | null;
}

/** One grade's history: every version, newest first, with where each stands with the SIS. */
export function gradeHistoryPage(d: GradeHistoryData): string {
  const header = html`<p><a href="app">← ${d.courseTitle}</a></p>
    <h1>${d.columnName}: ${d.learnerName}</h1>`;
  const content = html`${
    d.versions.length === 0
      ? html`<p class="muted">No grade yet.</p>`
      : html`<div class="scroll">
            <table class="wide">
              <caption>
                Every version of this grade, newest first
              </caption>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Grade</th>
                  <th scope="col">From</th>
                  <th scope="col">By</th>
                  <th scope="col">To the SIS</th>
                </tr>
              </thead>
              <tbody>
                ${d.versions.map(
                  (v) =>
                    html`<tr>
                      <td>${when(v.gradedAt, d.timeZone)}</td>
                      <td class="num">${v.grade ?? (v.score === null ? '–' : String(v.score))}</td>
                      <td>${v.from}</td>
                      <td>${v.by}</td>
                      <td>
                        ${
                          v.sends.length
                            ? v.sends.map(
                                (x) =>
                                  html`<div>
                                    <span class="${x.tone}">${x.words}</span>
                                    ${when(x.at, d.timeZone)}
                                    <details>
                                      <summary>Technical detail</summary>
                                      <dl>
                                        ${x.detail.map(
                                          ([k, val]) =>
                                            html`<dt>${k}</dt>
                                              <dd><code>${val}</code></dd>`,
                                        )}
                                      </dl>
                                    </details>
                                  </div>`,
                              )
                            : html`<span class="muted">not sent</span>`
                        }
                      </td>
                    </tr>`,
                )}
              </tbody>
            </table>
          </div>
          <details>
            <summary>Technical detail</summary>
            <ul>
              ${d.versions.map(
                (v) => html`<li>version <code>${v.id}</code>: source <code>${v.source}</code></li>`,
              )}
            </ul>
          </details>`
  }
  ${d.workflow ?? ''}`;
  return appPage(`${d.columnName}: ${d.learnerName}`, d.session, { header, content });
}
