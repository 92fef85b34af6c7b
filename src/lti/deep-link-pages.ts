import type { OfferedColumn, DeepLinkOffer } from './deep-linking.js';
import { html, layout } from './pages.js';

export const DEEP_LINK_CANCEL_ACTION = '/lti/deep-link/cancel';

export interface DeepLinkPageData {
  session: string;
  courseTitle: string;
  columns: OfferedColumn[];
  offer: DeepLinkOffer;
}

const columnText = (c: OfferedColumn) =>
  `${c.name} (${c.points} pts)${c.inLms ? ', already in the LMS: no new line item' : ''}`;

/**
 * The deep linking page: a title for the link and, where the LMS takes line
 * items, the column it grades into (a new one, an existing one, or none;
 * several, one link each, where the LMS takes several items). Cancel returns
 * to the LMS with nothing added.
 */
export function deepLinkPage(d: DeepLinkPageData): string {
  const { offer } = d;
  const when =
    offer.autoCreate === true
      ? 'Your LMS adds what you choose at once.'
      : offer.autoCreate === false
        ? 'Your LMS shows you what you chose before it adds it.'
        : '';
  const grading = !offer.lineItems
    ? html`<p class="muted">
        Your LMS does not take line items here: the link is added without a grade column.
      </p>`
    : offer.multiple
      ? html`<fieldset>
          <legend>
            Grade it as (one link for each you tick; none ticked: one link without a line item)
          </legend>
          <p>
            <label><input type="checkbox" name="column" value="new" /> a new line item…</label>
          </p>
          ${d.columns.map(
            (c) =>
              html`<p>
                <label
                  ><input type="checkbox" name="column" value="${c.id}" /> ${columnText(c)}</label
                >
              </p>`,
          )}
        </fieldset>`
      : html`<p>
          <label
            >Grade it as
            <select name="column">
              <option value="">no line item</option>
              <option value="new">a new line item…</option>
              ${d.columns.map((c) => html`<option value="${c.id}">${columnText(c)}</option>`)}
            </select></label
          >
        </p>`;
  return layout(
    'Add gradebridge',
    html`<h1>Add a gradebridge link to ${d.courseTitle}</h1>
      ${when ? html`<p class="muted">${when}</p>` : ''}
      <form id="deep-link-cancel" method="post" action="${DEEP_LINK_CANCEL_ACTION}">
        <input type="hidden" name="session" value="${d.session}" />
      </form>
      <div class="card">
        <form method="post" action="/lti/deep-link">
          <input type="hidden" name="session" value="${d.session}" />
          <p>
            <label>Title <input name="title" value="gradebridge" required maxlength="255" /></label>
          </p>
          ${grading}
          ${
            offer.lineItems
              ? html`<p>
                  <label>New line item label <input name="label" maxlength="255" /></label>
                  <label
                    >points <input name="points" type="number" min="0" step="any" value="100"
                  /></label>
                </p>`
              : ''
          }
          <p>
            <button type="submit" form="deep-link-cancel" class="secondary">Cancel</button>
            <button type="submit">Add to course</button>
          </p>
        </form>
      </div>`,
  );
}
