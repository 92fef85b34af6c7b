/**
 * Server-rendered pages of the LTI tool. Every interpolated value is escaped
 * unless it is an Html value built here. No scripts except the auto-submit of
 * a deep linking answer, so the pages work in an LMS iframe under a strict CSP.
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

function escapeHtml(value: unknown): string {
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

const STYLE = `
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2430;background:#f7f8fa}
main{max-width:1100px;margin:0 auto;padding:20px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:24px 0 8px}
.muted{color:#5b6573}.card{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:14px 16px;margin:12px 0}
table{border-collapse:collapse;width:100%;background:#fff}th,td{border:1px solid #dde1e7;padding:6px 8px;text-align:left;font-size:14px}
th{background:#eef1f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
button{font:inherit;background:#2456c7;color:#fff;border:0;border-radius:6px;padding:7px 14px;cursor:pointer}
button.secondary{background:#5b6573}input,select{font:inherit;padding:5px 8px}
.ok{color:#1b7a3a}.bad{color:#b3261e}.notice{background:#eef6ee;border-color:#b7dbbf}
.error{background:#fdeceb;border-color:#f1b8b3}form.inline{display:inline}
.sync{font-weight:600}.sync.sent{color:#1b7a3a}.sync.failed{color:#b3261e}.sync.pending{color:#8a6d00}
a.button{display:inline-block;background:#2456c7;color:#fff;border-radius:6px;padding:7px 14px;text-decoration:none}
textarea{font:inherit;padding:5px 8px;width:100%;max-width:40em;box-sizing:border-box}
h3{font-size:15px;margin:18px 0 6px}caption{text-align:left;font-weight:600;padding:4px 0}
.scroll{overflow-x:auto}details{margin:6px 0}summary{cursor:pointer;color:#5b6573}pre{white-space:pre-wrap;font-size:12px}
.decisions{display:flex;flex-wrap:wrap;gap:16px}.decisions form{flex:1 1 280px}
`;

export function layout(title: string, body: Html): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · gradebridge</title>
        <style>
          ${new Html(STYLE)}
        </style>
      </head>
      <body>
        <main>${body}</main>
      </body>
    </html>`.value;
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

export interface GradeCell {
  score: number | null;
  grade: string | null;
}

export interface CoursePageData {
  session: string;
  courseTitle: string;
  userName: string;
  staff: boolean;
  /** Whose grades are shown: the course's (staff), the user's own (a learner), or others' (a mentor's mentees). */
  scope: 'course' | 'own' | 'others';
  columns: Array<{
    id: number;
    name: string;
    points: number;
    lineItem: boolean;
    calculated: boolean;
  }>;
  learners: Array<{ id: number; name: string }>;
  grades: Map<string, GradeCell>;
  lastPull: { at: string | null; status: string | null; summary: Record<string, unknown> | null };
  pullQueued: boolean;
  notice: string | null;
  canPull: boolean;
  /** Where each grade stands with Data Sync (`column:user`), or null without a connection. */
  sync: Map<string, SyncState> | null;
  finalGrades: {
    requestQueued: boolean;
    last: { state: string; at: string; error: string | null } | null;
  } | null;
  /** The final-grade workflow (staff): state, final column, review link, events. */
  finalGradeSection: Html | null;
  /** For an approver: the link to the final grades waiting for approval. */
  approverLink: Html | null;
}

export interface SyncState {
  status: string;
  errorCode: string | null;
  errorMessage: string | null;
}

const cell = (g: GradeCell | undefined) =>
  g && (g.grade ?? g.score) !== null ? (g.grade ?? String(g.score)) : '–';

const SYNC_LABEL: Record<string, [string, string]> = {
  pending: ['⧗', 'Being sent to the SIS'],
  sent: ['✓', 'Sent to the SIS'],
  failed: ['✗', 'Not sent to the SIS'],
};

function syncMark(state: SyncState | undefined): Html {
  if (!state) return new Html('');
  const [mark, label] = SYNC_LABEL[state.status] ?? ['?', state.status];
  const why = state.errorCode
    ? `: ${state.errorCode}${state.errorMessage ? ` (${state.errorMessage})` : ''}`
    : '';
  return html` <span class="sync ${state.status}" title="${label}${why}">${mark}</span>`;
}

export function coursePage(d: CoursePageData): string {
  const pull = d.lastPull;
  const summary = pull.summary
    ? Object.entries(pull.summary)
        .filter(([k]) => k !== 'error')
        .map(([k, v]) => `${k}: ${String(v)}`)
        .join(', ')
    : '';
  const staffTools = html`<div class="card">
      <h2>Sync with the LMS</h2>
      <p>
        Last pull:
        ${
          pull.at
            ? html`<strong class="${pull.status === 'ok' ? 'ok' : 'bad'}"
                  >${pull.status === 'ok' ? 'succeeded' : 'failed'}</strong
                >
                at
                ${pull.at}${summary ? html` <span class="muted">(${summary})</span>` : ''}${
                  pull.summary?.error
                    ? html`<br /><span class="bad">${String(pull.summary.error)}</span>`
                    : ''
                }`
            : html`<span class="muted">never</span>`
        }${d.pullQueued ? html` · <span class="muted">a pull is queued</span>` : ''}
      </p>
      ${
        d.canPull
          ? html`<form class="inline" method="post" action="/lti/app/pull">
                <input type="hidden" name="session" value="${d.session}" /><button type="submit">
                  Pull grades and roster now
                </button>
              </form>
              <form class="inline" method="post" action="/lti/app/lineitems">
                <input type="hidden" name="session" value="${d.session}" /><button
                  class="secondary"
                  type="submit"
                >
                  Create LMS line items for columns without one
                </button>
              </form>`
          : html`<p class="muted">
              This launch gave no grade service endpoints, so grades cannot be pulled from here.
            </p>`
      }
    </div>
    ${
      d.finalGrades
        ? html`<div class="card">
            <h2>Final grades to the SIS (Data Sync)</h2>
            <p>
              Last exchange:
              ${
                d.finalGrades.last
                  ? html`<strong class="${d.finalGrades.last.state === 'completed' ? 'ok' : 'bad'}"
                        >${d.finalGrades.last.state}</strong
                      >
                      at
                      ${d.finalGrades.last.at}${
                        d.finalGrades.last.error
                          ? html`<br /><span class="bad">${d.finalGrades.last.error}</span>`
                          : ''
                      }`
                  : html`<span class="muted">none yet</span>`
              }${d.finalGrades.requestQueued ? html` · <span class="muted">a send is queued</span>` : ''}
            </p>
            <p class="muted">✓ sent · ⧗ being sent · ✗ not sent (hover for the reason)</p>
          </div>`
        : ''
    }`;
  const rows = d.learners.map(
    (l) =>
      html`<tr>
        <th>${l.name}</th>
        ${d.columns.map(
          (c) =>
            html`<td class="num">
              <a
                href="/lti/app/grade?session=${encodeURIComponent(d.session)}&amp;column=${c.id}&amp;user=${l.id}"
                >${cell(d.grades.get(`${c.id}:${l.id}`))}</a
              >${syncMark(d.sync?.get(`${c.id}:${l.id}`))}
            </td>`,
        )}
      </tr>`,
  );
  return layout(
    d.courseTitle,
    html`<h1>${d.courseTitle}</h1>
      <p class="muted">Signed in as ${d.userName}${d.staff ? ' (course staff)' : ''}</p>
      ${d.notice ? html`<div class="card notice" role="status">${d.notice}</div>` : ''}
      ${d.approverLink ?? ''} ${d.staff ? html`${d.finalGradeSection ?? ''}${staffTools}` : ''}
      <h2>
        ${d.scope === 'course' ? 'Grades' : d.scope === 'own' ? 'Your grades' : 'Grades you follow'}
      </h2>
      ${
        d.scope === 'others' && d.learners.length === 0
          ? html`<p class="muted">
              Your role in this course shows no grades. A mentor sees the grades of the students the
              LMS names for them.
            </p>`
          : d.columns.length === 0
            ? html`<p class="muted">No grade columns yet.</p>`
            : html`<table>
                <thead>
                  <tr>
                    <th>${d.scope === 'own' ? '' : 'Student'}</th>
                    ${d.columns.map(
                      (c) =>
                        html`<th>
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
                          <td colspan="${d.columns.length + 1}" class="muted">No students yet.</td>
                        </tr>`
                  }
                </tbody>
              </table>`
      }`,
  );
}

export interface DeepLinkPageData {
  session: string;
  courseTitle: string;
  columns: Array<{ id: number; name: string; points: number }>;
}

export function deepLinkPage(d: DeepLinkPageData): string {
  return layout(
    'Add gradebridge',
    html`<h1>Add a gradebridge link to ${d.courseTitle}</h1>
      <div class="card">
        <form method="post" action="/lti/deep-link">
          <input type="hidden" name="session" value="${d.session}" />
          <p>
            <label>Title <input name="title" value="gradebridge" required maxlength="255" /></label>
          </p>
          <p>
            <label
              >Grade it as
              <select name="column">
                <option value="">no line item</option>
                <option value="new">a new line item…</option>
                ${d.columns.map((c) => html`<option value="${c.id}">${c.name} (${c.points} pts)</option>`)}
              </select></label
            >
          </p>
          <p>
            <label>New line item label <input name="label" maxlength="255" /></label>
            <label
              >points <input name="points" type="number" min="0" step="any" value="100"
            /></label>
          </p>
          <button type="submit">Add to course</button>
        </form>
      </div>`,
  );
}

export interface GradeHistoryData {
  session: string;
  courseTitle: string;
  columnName: string;
  learnerName: string;
  versions: Array<{
    id: number;
    score: number | null;
    grade: string | null;
    gradedAt: string;
    source: string;
    grader: string | null;
    sends: Array<{ status: string; exchange: string; at: string; error: string | null }>;
  }>;
  /** The approval steps of this final grade (staff, the final column only). */
  workflow: Html | null;
}

/** One grade's history: every version, newest first, with where each stands with Data Sync. */
export function gradeHistoryPage(d: GradeHistoryData): string {
  return layout(
    `${d.columnName}: ${d.learnerName}`,
    html`<p><a href="/lti/app?session=${encodeURIComponent(d.session)}">← ${d.courseTitle}</a></p>
      <h1>${d.columnName}: ${d.learnerName}</h1>
      ${
        d.versions.length === 0
          ? html`<p class="muted">No grade yet.</p>`
          : html`<table>
              <thead>
                <tr>
                  <th>When</th>
                  <th>Grade</th>
                  <th>From</th>
                  <th>By</th>
                  <th>To the SIS</th>
                </tr>
              </thead>
              <tbody>
                ${d.versions.map(
                  (v) =>
                    html`<tr>
                      <td>${v.gradedAt}</td>
                      <td class="num">${v.grade ?? (v.score === null ? '–' : String(v.score))}</td>
                      <td>${v.source}</td>
                      <td>${v.grader ?? 'Graded on submission'}</td>
                      <td>
                        ${
                          v.sends.length
                            ? v.sends.map(
                                (x) =>
                                  html`<div>
                                    <span class="sync ${x.status}">${x.status}</span> in exchange
                                    ${x.exchange} at
                                    ${x.at}${x.error ? html` <span class="bad">${x.error}</span>` : ''}
                                  </div>`,
                              )
                            : html`<span class="muted">not sent</span>`
                        }
                      </td>
                    </tr>`,
                )}
              </tbody>
            </table>`
      }
      ${d.workflow ?? ''}`,
  );
}
