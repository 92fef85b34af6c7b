import { html, layout, type Html } from './pages.js';

/** Technical detail for a refused request's disclosure: label and value. */
export type TechnicalDetail = Array<[string, string]>;

/** What a refusal page says beyond its reason: the detail behind a disclosure, and a way back. */
export interface RefusalExtras {
  detail?: TechnicalDetail;
  /** A form that returns to the LMS without adding anything (deep linking). */
  cancel?: { action: string; session: string };
}

/** Recognises the refusal extras an AppError carries in its `details`. */
export function refusalExtras(details: unknown): RefusalExtras | null {
  if (typeof details !== 'object' || details === null || Array.isArray(details)) return null;
  const d = details as Record<string, unknown>;
  const detail = Array.isArray(d.technical)
    ? (d.technical as unknown[]).filter(
        (p): p is [string, string] =>
          Array.isArray(p) && p.length === 2 && p.every((v) => typeof v === 'string'),
      )
    : undefined;
  const cancel =
    typeof d.cancel === 'object' &&
    d.cancel !== null &&
    typeof (d.cancel as Record<string, unknown>).action === 'string' &&
    typeof (d.cancel as Record<string, unknown>).session === 'string'
      ? (d.cancel as { action: string; session: string })
      : undefined;
  if (!detail && !cancel) return null;
  return { ...(detail ? { detail } : {}), ...(cancel ? { cancel } : {}) };
}

/** The technical detail, behind a disclosure. */
export function technicalDetail(detail: TechnicalDetail): Html {
  return html`<details>
    <summary>Technical detail</summary>
    <dl>
      ${detail.map(
        ([k, v]) =>
          html`<dt>${k}</dt>
            <dd><code>${v}</code></dd>`,
      )}
    </dl>
  </details>`;
}

/** The form that returns to the LMS with nothing added (an empty deep linking response). */
export function cancelForm(cancel: { action: string; session: string }, label: string): Html {
  return html`<form method="post" action="${cancel.action}">
    <input type="hidden" name="session" value="${cancel.session}" />
    <button type="submit" class="secondary">${label}</button>
  </form>`;
}

/**
 * The LTI surface's error page (the same words and look as errorPage) with
 * the technical detail behind a disclosure and, for deep linking, a way back
 * to the LMS with nothing added.
 */
export function refusalPage(
  status: number,
  reason: string,
  requestId: string,
  extras: RefusalExtras,
): string {
  return layout(
    'Launch refused',
    html`<h1>This request could not be accepted</h1>
      <div class="card error">
        <p><strong>${reason}</strong></p>
        <p class="muted">
          HTTP ${status}. If this keeps happening, give your LMS administrator this reference:
          <code>${requestId}</code>.
        </p>
        ${extras.detail && extras.detail.length > 0 ? technicalDetail(extras.detail) : ''}
      </div>
      ${extras.cancel ? cancelForm(extras.cancel, 'Return to the LMS without adding anything') : ''}`,
  );
}
