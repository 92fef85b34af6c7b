import type { FinalGradeEvent } from '../grades/final-grade-workflow.js';
import type { FinalValue, LearnerFinalGrade, LearnerState } from '../grades/final-grades.js';
import type { ReconcileItem } from '../reconcile/report.js';
import type { CourseFinalGrades, Review, WaitingSubmission } from './final-grade-service.js';
import { appPage, html, tight, when, type Html, type Outcome } from './pages.js';
import { RECONCILE_WORDS } from './plain-words.js';
import { bySortableName } from './sortable-name.js';

/**
 * The final-grade workflow on the LTI pages, in plain words: the course
 * page's section (state, final column, what a send or submission carries,
 * events), the review a teacher confirms, the approver's page, and a final
 * grade's events on its history page. Codes and ids only behind a
 * "Technical detail" disclosure.
 */

const number = (n: number) => String(Number(n.toFixed(2)));

function scoreOf(v: FinalValue | null): string {
  if (!v || v.score === null) return '–';
  return v.pointsPossible ? `${number(v.score)} / ${number(v.pointsPossible)}` : number(v.score);
}

const gradeOf = (v: FinalValue | null) => v?.grade ?? '–';

const valueWords = (v: { score: number | null; grade: string | null } | null | undefined) =>
  !v ? 'none' : (v.grade ?? (v.score === null ? 'none' : number(Number(v.score))));

const STATE_WORDS: Record<LearnerState, string> = {
  draft: 'Not submitted yet',
  submitted: 'Waiting for approval',
  approved: 'Approved, not sent yet',
  changed_since_approval: 'Changed since approval',
  rejected: 'Rejected: submit again',
  sent: 'Sent to the SIS',
};

const STATE_WORDS_OFF: Partial<Record<LearnerState, string>> = {
  draft: 'Not sent yet',
};

function stateWords(l: LearnerFinalGrade, mode: 'off' | 'required'): string {
  return (mode === 'off' ? STATE_WORDS_OFF[l.state] : undefined) ?? STATE_WORDS[l.state];
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The label of the teacher's button: it says what it does. */
export const confirmLabel = (mode: 'off' | 'required') =>
  mode === 'required' ? 'Submit final grades for approval' : 'Send final grades';

function modeWords(mode: 'off' | 'required'): Html {
  return mode === 'required'
    ? html`<strong>Approval required:</strong> final grades reach the SIS only after an approver
        approves them, and then exactly as approved.`
    : html`<strong>Approval off:</strong> "Send final grades" sends the course's final grades (and
        nothing else) to the SIS through Data Sync.`;
}

/** Where the course's final grades stand, in sentences. */
function stateSentences(r: Review): Html {
  const s = r.status;
  const parts: Html[] = [];
  if (s.pending)
    parts.push(
      html`<p>
        Final grades were submitted by <strong>${s.pending.submittedBy.name}</strong> on
        ${when(s.pending.submittedAt, r.timeZone)} and wait for approval
        (${plural(s.pending.learners, 'final grade')}).${
          s.pending.comment ? html` Their comment: “${s.pending.comment}”` : ''
        }
      </p>`,
    );
  if (s.rejected)
    parts.push(
      html`<div class="card error" role="status">
        <p>
          <strong>Rejected</strong> by
          ${s.rejected.decidedBy?.name ?? 'an approver'}${
            s.rejected.decidedAt ? html` on ${when(s.rejected.decidedAt, r.timeZone)}` : ''
          }:
          “${s.rejected.decisionComment ?? ''}”
        </p>
        <p>Change what the approver asks for, then submit the final grades again.</p>
      </div>`,
    );
  if (s.approved)
    parts.push(
      html`<p>
        Approved by <strong>${s.approved.decidedBy?.name ?? 'an approver'}</strong>${
          s.approved.decidedAt ? html` on ${when(s.approved.decidedAt, r.timeZone)}` : ''
        }
        (${plural(s.approved.learners, 'final grade')}, submitted by
        ${s.approved.submittedBy.name})${
          s.approved.decisionComment ? html`: “${s.approved.decisionComment}”` : '.'
        }
        ${s.approvalMode === 'required' ? 'The approved values are what the SIS receives.' : ''}
      </p>`,
    );
  if (r.changedSinceApproval.length > 0)
    parts.push(
      html`<p class="bad">
        ${plural(r.changedSinceApproval.length, 'grade')} changed since approval
        (${r.changedSinceApproval.map((l) => l.name).join(', ')}).
        ${
          s.approvalMode === 'required'
            ? 'The SIS keeps the approved values until the changed grades are submitted and approved again.'
            : ''
        }
      </p>`,
    );
  if (!s.pending && !s.approved && !s.rejected && s.approvalMode === 'required')
    parts.push(html`<p>No final grades have been submitted for approval yet.</p>`);
  return html`${parts}`;
}

/** What the confirm button would carry, in one sentence. */
function carriedWords(r: Review): Html {
  const n = r.carried.length;
  const held = r.held.length
    ? html`; ${plural(r.held.length, 'learner is', 'learners are')} held back`
    : '';
  return r.status.approvalMode === 'required'
    ? html`A submission now would carry ${plural(n, 'final grade')} (${r.changedSinceLastSend}
      changed since the last send)${held}.`
    : html`A send now carries ${plural(n, 'final grade')}, ${r.changedSinceLastSend} of them changed
      since the last send (only those go out)${held}.`;
}

function chooseColumnForm(d: CourseFinalGrades): Html {
  if (d.columns.length === 0)
    return html`<p class="muted">This course has no columns yet to choose from.</p>`;
  return html`<form method="post" action="app/final-column" data-live>
    <p>
      <label for="final-column">Final grade column</label>
      <select id="final-column" name="column">
        ${d.columns.map(
          (c) =>
            html`<option value="${c.id}">
              ${c.name} (${number(c.points)} pts${c.calculated ? ', weighted or total' : ''})
            </option>`,
        )}
      </select>
      <button type="submit">Use as the final grade</button>
    </p>
    <p class="muted">
      A weighted or total column is marked final; any other column becomes the course's external
      grade column, as the SIS sets it through Grades Journey.
    </p>
  </form>`;
}

const SOURCE_WORDS: Record<string, string> = {
  journey: 'the SIS (Grades Journey)',
  ags: 'the LMS',
  webhook: 'a webhook',
  teacher: 'a teacher',
  calculation: 'a calculation',
  live_event: 'LMS live events',
};

function eventWhat(e: FinalGradeEvent, names: Map<number, string>): string {
  const details = (e.details ?? {}) as Record<string, unknown>;
  switch (e.kind) {
    case 'submitted': {
      const n = Array.isArray(details.learners) ? details.learners.length : null;
      return n === null
        ? 'Submitted the final grades for approval'
        : `Submitted ${plural(n, 'final grade')} for approval`;
    }
    case 'approved':
      return 'Approved the final grades';
    case 'rejected':
      return 'Rejected the final grades';
    case 'replaced':
      return 'Submitted again: the submission that was waiting is replaced';
    case 'changed_since_approval': {
      const who = e.learnerId !== null ? (names.get(e.learnerId) ?? 'A learner') : 'A learner';
      const approved = details.approved as { score: number | null; grade: string | null } | null;
      const now = details.now as { score: number | null; grade: string | null } | null;
      return `${who}'s final grade changed after it was approved (approved ${valueWords(approved)}, now ${valueWords(now)})`;
    }
    default:
      return e.kind;
  }
}

function eventWho(e: FinalGradeEvent): string {
  if (e.kind !== 'changed_since_approval') return e.actor.name;
  return SOURCE_WORDS[e.actor.name] ?? e.actor.name;
}

/** A table of workflow events, newest first, with their codes behind a disclosure. */
export function eventsTable(
  events: FinalGradeEvent[],
  names: Map<number, string>,
  caption: string,
  zone: string,
): Html {
  if (events.length === 0) return html`<p class="muted">Nothing has happened yet.</p>`;
  return html`<div class="scroll">
    <table>
      <caption>
        ${caption}
      </caption>
      <thead>
        <tr>
          <th scope="col">When</th>
          <th scope="col">Who</th>
          <th scope="col">What</th>
          <th scope="col">Comment</th>
        </tr>
      </thead>
      <tbody>
        ${events.map(
          (e) =>
            html`<tr>
              <td>${when(e.at, zone)}</td>
              <td>${eventWho(e)}</td>
              <td>
                ${eventWhat(e, names)}
                <details>
                  <summary>Technical detail</summary>
                  <p>
                    <code>${e.kind}</code> · event
                    ${e.id}${
                      e.submissionId !== null ? ` · submission ${e.submissionId}` : ''
                    }${e.learnerId !== null ? ` · user ${e.learnerId}` : ''}
                  </p>
                  ${e.details ? html`<pre>${JSON.stringify(e.details, null, 1)}</pre>` : ''}
                </details>
              </td>
              <td>${e.comment ?? ''}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}

/** The course page's section on final grades (staff). */
export function finalGradeSection(d: CourseFinalGrades): Html {
  const r = d.review;
  const s = r.status;
  const column = s.finalColumn;
  const canConfirm = !!column && (s.approvalMode === 'required' || r.connected);
  return html`<section class="card span" aria-labelledby="final-grades-heading">
    <h2 id="final-grades-heading">Final grades</h2>
    <p>${modeWords(s.approvalMode)}</p>
    ${
      column
        ? html`<p>
            Final grade column: <strong>${column.name}</strong> (${number(column.points)}
            pts${column.calculated ? ', calculated' : ''}${
              column.scale ? `, graded ${column.scale.join(', ')}` : ''
            }).
          </p>`
        : html`<div class="card error" role="status">
              <p><strong>No final grade column yet: choose one below.</strong></p>
              <p>Final grades cannot be submitted or sent until the course has one.</p>
            </div>
            ${chooseColumnForm(d)}`
    }
    ${stateSentences(r)} ${column ? html`<p>${carriedWords(r)}</p>` : ''}
    ${
      canConfirm
        ? html`<p>
            <a class="button" href="app/final-grades">${confirmLabel(s.approvalMode)}</a>
            <span class="muted">You review them before anything is submitted or sent.</span>
          </p>`
        : column
          ? html`<p class="muted">
              This school has no Data Sync connection, so final grades cannot be sent from here.
            </p>`
          : ''
    }
    <h3>What happened to the final grades</h3>
    ${eventsTable(d.events, d.learnerNames, 'Final grade steps, newest first', r.timeZone)}
  </section>`;
}

/** The link to the approver's page, for an approver. */
export function approverLink(waiting: number): Html {
  return html`<p class="card">
    <a href="app/approvals">Approvals: final grades waiting for your decision (${waiting})</a>
  </p>`;
}

/** A learner's final grade as the SIS last accepted it, and how it compares (the review's dry run). */
function sisCells(i: ReconcileItem | undefined, zone: string): Html {
  const sis = i?.sis;
  if (!sis)
    return html`<td><span class="muted">nothing yet</span></td>
      <td></td>`;
  const accepted = sis.accepted
    ? html`${sis.accepted.grade ?? (sis.accepted.score === null ? '–' : String(sis.accepted.score))}
      ${sis.accepted.at ? html`<span class="muted">${when(sis.accepted.at, zone)}</span>` : ''}`
    : html`<span class="muted">nothing yet</span>`;
  const state = sis.state ?? 'in_sync';
  return html`<td>${accepted}</td>
    <td>
      <span class="${RECONCILE_WORDS[state].tone}">${RECONCILE_WORDS[state].words}</span>${
        state === 'failed' && sis.lastError ? html`: “${sis.lastError}”` : ''
      }
    </td>`;
}

/** How the final column compares with what the SIS accepted, in one sentence. */
function comparedSummary(compared: Map<number, ReconcileItem>): Html {
  const counts = new Map<string, number>();
  let goes = 0;
  for (const i of compared.values()) {
    const state = i.sis?.state ?? 'in_sync';
    counts.set(state, (counts.get(state) ?? 0) + 1);
    if (i.sis?.wouldSend) goes++;
  }
  const parts = [...counts].map(
    ([state, n]) => `${RECONCILE_WORDS[state as keyof typeof RECONCILE_WORDS].words}: ${n}`,
  );
  return html`<li>
    Compared with what the SIS accepted: ${parts.join('; ')}.
    ${plural(goes, 'final grade differs', 'final grades differ')} from what the SIS holds and would
    go out with the next exchange. <a href="app/reconcile">Compare every grade</a>
  </li>`;
}

function learnerNotes(l: LearnerFinalGrade): Html {
  const notes = l.flags.map((f) => f.message);
  return html`${l.blocked ? html`<strong class="bad">Held back:</strong> ` : ''}${notes.join('; ')}`;
}

/** The review a teacher confirms before submitting or sending final grades. */
export function reviewPage(d: {
  session: string;
  courseTitle: string;
  review: Review;
  outcome?: Outcome | null;
}): string {
  const r = d.review;
  const s = r.status;
  const mode = s.approvalMode;
  const required = mode === 'required';
  const carriedIds = new Set(r.carried.map((c) => c.learner.userId));
  // In class-list order, as on the course page: people known by no name last.
  const learners = bySortableName(
    s.learners.map((l) => ({
      id: l.userId,
      name: l.name === l.personId ? null : l.name,
      fallback: l.name,
      l,
    })),
  ).map((x) => x.l);
  const blockers: Html[] = [];
  if (!s.finalColumn)
    blockers.push(
      html`<p>
        <strong>No final grade column yet:</strong> choose one on the
        <a href="app">course page</a> first.
      </p>`,
    );
  else if (r.carried.length === 0)
    blockers.push(
      html`<p>
        <strong
          >${
            required
              ? 'No learner has a final grade that can be submitted yet.'
              : 'No final grade can be sent yet.'
          }</strong
        >
      </p>`,
    );
  else if (!required && !r.connected)
    blockers.push(
      html`<p>
        <strong>This school has no Data Sync connection,</strong> so final grades cannot be sent
        from here.
      </p>`,
    );
  const header = html`<p><a href="app">← ${d.courseTitle}</a></p>
    <h1>Review final grades before you ${required ? 'submit them for approval' : 'send them'}</h1>`;
  return appPage(`Review final grades: ${d.courseTitle}`, d.session, {
    header,
    outcome: d.outcome ?? null,
    content: html`<p>${modeWords(mode)}</p>
      ${
        s.pending && required
          ? html`<p class="card">
              Final grades submitted by ${s.pending.submittedBy.name} on
              ${when(s.pending.submittedAt, r.timeZone)} already wait for approval: submitting again
              replaces that submission.
            </p>`
          : ''
      }
      ${
        s.rejected
          ? html`<div class="card error">
              <p>
                <strong>Rejected</strong> by ${s.rejected.decidedBy?.name ?? 'an approver'}:
                “${s.rejected.decisionComment ?? ''}”
              </p>
            </div>`
          : ''
      }
      <div class="card">
        <h2>What ${required ? 'the submission' : 'the send'} carries</h2>
        ${
          s.finalColumn
            ? html`<ul>
                <li>
                  <strong>${plural(r.carried.length, 'final grade')}</strong> from the column
                  ${s.finalColumn.name}
                  ${required ? 'go to the approver' : 'go to the SIS through Data Sync'}.
                </li>
                <li>
                  ${r.changedSinceLastSend} ${r.changedSinceLastSend === 1 ? 'has' : 'have'} changed
                  since the last send to the SIS${required ? '' : ' (only those go out)'}.
                </li>
                <li>
                  ${
                    r.held.length === 0
                      ? 'None is held back.'
                      : html`${plural(r.held.length, 'learner is', 'learners are')} held back:
                        ${r.held
                          .map((l) => `${l.name} (${l.flags.map((f) => f.message).join('; ')})`)
                          .join(', ')}.`
                  }
                </li>
                ${r.compared ? comparedSummary(r.compared) : ''}
                ${
                  r.changedSinceApproval.length
                    ? html`<li>
                        ${plural(r.changedSinceApproval.length, 'grade')} changed since approval:
                        ${r.changedSinceApproval.map((l) => l.name).join(', ')}.
                      </li>`
                    : ''
                }
              </ul>`
            : html`<p>Nothing: the course has no final grade column.</p>`
        }
      </div>
      ${blockers}
      ${
        s.learners.length === 0
          ? html`<p class="muted">No students yet.</p>`
          : html`<div class="scroll">
              <table>
                <caption>
                  Final grades by student
                </caption>
                <thead>
                  <tr>
                    <th scope="col">Student</th>
                    <th scope="col">Final score</th>
                    <th scope="col">Grade</th>
                    <th scope="col">State</th>
                    <th scope="col">${required ? 'In the submission' : 'In the send'}</th>
                    ${
                      r.compared
                        ? html`<th scope="col">The SIS accepted</th>
                            <th scope="col">Compared with the SIS</th>`
                        : ''
                    }
                    <th scope="col">Notes</th>
                  </tr>
                </thead>
                <tbody>
                  ${learners.map((l) =>
                    tight(
                      html`<tr>
                        <th scope="row">${l.name}</th>
                        <td class="num">${scoreOf(l.current)}</td>
                        <td>${gradeOf(l.current)}</td>
                        <td>${stateWords(l, mode)}</td>
                        <td>${carriedIds.has(l.userId) ? 'yes' : 'no'}</td>
                        ${r.compared ? sisCells(r.compared.get(l.userId), r.timeZone) : ''}
                        <td>${learnerNotes(l)}</td>
                      </tr>`,
                    ),
                  )}
                </tbody>
              </table>
            </div>`
      }
      <details>
        <summary>Technical detail</summary>
        <p>
          Approval mode <code>${mode}</code>${
            s.finalColumn ? html`; final column id <code>${s.finalColumn.id}</code>` : ''
          }${s.flags.length ? html`; course flags <code>${s.flags.map((f) => f.code).join(', ')}</code>` : ''}.
        </p>
        <div class="scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Person id</th>
                <th scope="col">State</th>
                <th scope="col">Flags</th>
                <th scope="col">Version</th>
              </tr>
            </thead>
            <tbody>
              ${s.learners.map((l) =>
                tight(
                  html`<tr>
                    <td><code>${l.personId}</code></td>
                    <td><code>${l.state}</code></td>
                    <td><code>${l.flags.map((f) => f.code).join(', ')}</code></td>
                    <td>${l.current?.versionId ?? ''}</td>
                  </tr>`,
                ),
              )}
            </tbody>
          </table>
        </div>
      </details>
      ${
        blockers.length === 0
          ? html`<form
              method="post"
              action="app/send-final"
              class="card"
              data-live
              data-wait="${required ? 'Submitting the final grades…' : 'Asking for a send…'}"
            >
              ${
                required
                  ? html`<p>
                      <label for="comment">Comment for the approver (optional)</label><br />
                      <textarea id="comment" name="comment" rows="3" maxlength="2000"></textarea>
                    </p>`
                  : ''
              }
              <button type="submit">${confirmLabel(mode)}</button>
              <a href="app">Back to the course page</a>
            </form>`
          : ''
      }`,
  });
}

function submissionCard(p: WaitingSubmission, zone: string): Html {
  const id = p.id;
  return html`<section class="card" aria-labelledby="submission-${id}">
    <h2 id="submission-${id}">
      ${p.courseTitle}${p.courseBatchUid ? ` (${p.courseBatchUid})` : ''}
    </h2>
    <p>
      ${plural(p.learners.length, 'final grade')} from the column ${p.columnName}, submitted by
      <strong>${p.submittedBy}</strong> on
      ${when(p.submittedAt, zone)}.${p.comment ? html` Their comment: “${p.comment}”` : ''}
    </p>
    <div class="scroll">
      <table>
        <caption>
          Submitted final grades
        </caption>
        <thead>
          <tr>
            <th scope="col">Student</th>
            <th scope="col">Final score</th>
            <th scope="col">Grade</th>
            <th scope="col">Notes</th>
          </tr>
        </thead>
        <tbody>
          ${p.learners.map((l) =>
            tight(
              html`<tr>
                <th scope="row">${l.name}</th>
                <td class="num">${scoreOf(l.submitted)}</td>
                <td>${gradeOf(l.submitted)}</td>
                <td>
                  ${[
                    ...l.notes,
                    ...(l.changedTo === null
                      ? []
                      : [
                          `changed since it was submitted (now ${
                            l.changedTo === 'none' ? 'none' : valueWords(l.changedTo)
                          })`,
                        ]),
                  ].join('; ')}
                </td>
              </tr>`,
            ),
          )}
        </tbody>
      </table>
    </div>
    ${
      p.held.length
        ? html`<p>
            Not in this submission:
            ${p.held.map((h) => `${h.name} (${h.reasons.join('; ')})`).join(', ')}.
          </p>`
        : ''
    }
    <details>
      <summary>Technical detail</summary>
      <p>Submission <code>${id}</code>.</p>
      <ul>
        ${p.learners.map(
          (l) =>
            html`<li>
              <code>${l.personId}</code>: version
              ${l.submitted.versionId ?? '–'}${
                l.flags.length ? html`, flags <code>${l.flags.join(', ')}</code>` : ''
              }
            </li>`,
        )}
        ${p.held.map(
          (h) =>
            html`<li>
              <code>${h.personId}</code>: not
              submitted${h.flags.length ? html`, flags <code>${h.flags.join(', ')}</code>` : ''}
            </li>`,
        )}
      </ul>
    </details>
    ${
      p.own
        ? html`<p class="muted">
            You submitted these final grades: another approver must approve or reject them.
          </p>`
        : html`<div class="decisions">
            <form
              method="post"
              action="app/approvals/decide"
              data-live
              data-wait="Recording your approval…"
            >
              <input type="hidden" name="submission" value="${id}" />
              <input type="hidden" name="decision" value="approve" />
              <p>
                <label for="approve-comment-${id}">Comment (optional)</label><br />
                <textarea
                  id="approve-comment-${id}"
                  name="comment"
                  rows="2"
                  maxlength="2000"
                ></textarea>
              </p>
              <button type="submit">Approve these final grades</button>
            </form>
            <form
              method="post"
              action="app/approvals/decide"
              data-live
              data-wait="Recording your rejection…"
            >
              <input type="hidden" name="submission" value="${id}" />
              <input type="hidden" name="decision" value="reject" />
              <p>
                <label for="reject-comment-${id}"
                  >What should the teacher change? (required to reject)</label
                ><br />
                <textarea
                  id="reject-comment-${id}"
                  name="comment"
                  rows="2"
                  maxlength="2000"
                  required
                ></textarea>
              </p>
              <button class="secondary" type="submit">Reject and send back</button>
            </form>
          </div>`
    }
  </section>`;
}

/** An approver's latest decision, as the approvals page recalls it. */
export interface LatestDecision {
  decision: 'approved' | 'rejected';
  courseTitle: string;
  at: string;
  learners: number;
}

/** The approver's page: the tenant's submissions waiting for a decision. */
export function approvalsPage(d: {
  session: string;
  courseTitle: string;
  timeZone: string;
  submissions: WaitingSubmission[];
  latest: LatestDecision | null;
  outcome: Outcome | null;
}): string {
  const header = html`<p><a href="app">← ${d.courseTitle}</a></p>
    <h1>Final grades waiting for approval</h1>`;
  return appPage('Final grades waiting for approval', d.session, {
    header,
    outcome: d.outcome,
    content: html`${
        d.latest
          ? html`<p class="card notice">
              Your latest decision: you
              ${d.latest.decision === 'approved' ? 'approved' : 'rejected'}
              ${plural(d.latest.learners, 'final grade')} of ${d.latest.courseTitle} on
              ${when(d.latest.at, d.timeZone)}.
              ${
                d.latest.decision === 'rejected'
                  ? 'Rejected: the teacher sees your comment and can submit again.'
                  : 'The approved values are what the SIS receives.'
              }
            </p>`
          : ''
      }
      <p class="muted">
        Approving makes the submitted values what the SIS receives; rejecting sends them back to the
        teacher with your comment. Nobody decides on their own submission.
      </p>
      ${
        d.submissions.length === 0
          ? html`<p>No final grades are waiting for approval.</p>`
          : d.submissions.map((p) => submissionCard(p, d.timeZone))
      }`,
  });
}

/** The workflow events of one learner's final grade, for its history page (staff). */
export function learnerEventsSection(
  events: FinalGradeEvent[],
  learnerName: string,
  zone: string,
): Html {
  return html`<h2>Approval of this final grade</h2>
    ${eventsTable(
      events,
      new Map(events.flatMap((e) => (e.learnerId !== null ? [[e.learnerId, learnerName]] : []))),
      `Final grade steps for ${learnerName}, newest first`,
      zone,
    )}`;
}
