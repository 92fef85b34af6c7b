import type { AppDeps } from '../deps.js';
import { isoNow } from '../db/time.js';
import { inTransaction } from '../db/transaction.js';
import { identifierProblem } from './claim-text.js';
import type { DeepLinkingSettings } from './engine.js';
import { findExternalIds, linkExternalId } from './mappings.js';
import type { LtiSession } from './session.js';
import {
  AGS,
  createColumn,
  lineItemFor,
  serviceContext,
  type LtiColumn,
  type LtiContextRow,
} from './services.js';

/** The content item type gradebridge answers with: a link that launches gradebridge. */
const LINK = 'ltiResourceLink';

/**
 * A deep linking request gradebridge cannot answer as asked, said in plain
 * words; `detail` is the technical detail for the page's disclosure, and
 * `cancellable` says whether the page can still return to the LMS with
 * nothing added (not when the return URL itself is unusable).
 */
export class DeepLinkRefusal extends Error {
  constructor(
    message: string,
    readonly status: 400 | 409 = 400,
    readonly detail: Array<[string, string]> = [],
    readonly cancellable = true,
  ) {
    super(message);
    this.name = 'DeepLinkRefusal';
  }
}

/** What gradebridge may place for this deep linking request, read from its settings. */
export interface DeepLinkOffer {
  /** Line items may go with the link (accept_lineitem is not false). */
  lineItems: boolean;
  /** Several content items in one answer (accept_multiple is true). */
  multiple: boolean;
  /** true: the LMS adds what is returned without asking; false: it asks first; null: it did not say. */
  autoCreate: boolean | null;
}

function settingsDetail(dl: DeepLinkingSettings): Array<[string, string]> {
  return [
    ['accept_types', dl.accept_types ? JSON.stringify(dl.accept_types) : '(none)'],
    ['accept_multiple', String(dl.accept_multiple ?? '(not sent)')],
    ['accept_lineitem', String(dl.accept_lineitem ?? '(not sent)')],
    ['auto_create', String(dl.auto_create ?? '(not sent)')],
    ['deep_link_return_url', dl.deep_link_return_url.slice(0, 300)],
  ];
}

/**
 * Checks the request's settings before anything is shown or made: they must
 * be usable, and the platform must take gradebridge's links here.
 */
export function deepLinkOffer(dl: DeepLinkingSettings): DeepLinkOffer {
  const unusable = [...(dl.unusable ?? [])];
  // A session from before these checks may carry no accept_types and no word about it.
  if ((dl.accept_types ?? []).length === 0 && !unusable.some((u) => u.startsWith('accept_types')))
    unusable.push('accept_types is missing');
  if (unusable.length > 0) {
    const returnUnusable = unusable.some((u) => u.startsWith('deep_link_return_url'));
    throw new DeepLinkRefusal(
      returnUnusable
        ? 'Your LMS asked gradebridge to add content but gave no address to send it back to, so nothing can be added. Close this window and try again from the LMS.'
        : 'Your LMS asked gradebridge to add content without saying clearly what it accepts here, so gradebridge adds nothing.',
      400,
      [['problem', unusable.join('; ')], ...settingsDetail(dl)],
      !returnUnusable,
    );
  }
  if (!(dl.accept_types ?? []).includes(LINK))
    throw new DeepLinkRefusal(
      'This place in your LMS does not take links to gradebridge, so nothing was added. Add gradebridge from a module, an assignment or a page instead.',
      409,
      settingsDetail(dl),
    );
  return {
    lineItems: dl.accept_lineitem !== false,
    multiple: dl.accept_multiple === true,
    autoCreate: dl.auto_create ?? null,
  };
}

export interface OfferedColumn {
  id: number;
  name: string;
  points: number;
  /** The column already has a line item on this platform: its link goes without a new one. */
  inLms: boolean;
}

/** The course's live columns, each with whether it already has a line item on the context's platform. */
export async function offeredColumns(deps: AppDeps, x: LtiContextRow): Promise<OfferedColumn[]> {
  const columns = (await deps
    .db('grade_columns')
    .where({ course_id: x.courseId })
    .whereNull('deleted_at')
    .orderBy('id')
    .select('id', 'name', 'points')) as LtiColumn[];
  const linked = await findExternalIds(
    deps.db,
    x.tenantId,
    'lineitem',
    x.issuer,
    columns.map((c) => c.id),
  );
  return columns.map((c) => ({
    id: c.id,
    name: c.name,
    points: Number(c.points),
    inLms: linked.has(c.id),
  }));
}

export interface DeepLinkChoice {
  title: string;
  /** "new", column ids, or nothing (a link without a line item). */
  columns: string[];
  label?: string;
  points?: string;
}

export interface DeepLinkAnswer {
  jwt: string;
  returnUrl: string;
  items: Array<Record<string, unknown>>;
  /** The column made for a new line item, if one was. */
  created: LtiColumn | null;
}

type DeepLinkSession = LtiSession & { deepLinking: DeepLinkingSettings };

/**
 * Which of these columns already have a line item on the context's platform:
 * by the mapping kept for them; else, where the launch gave the line items
 * service, by a line item carrying gradebridge's resourceId for the column
 * (one an earlier deep linking answer made, not pulled yet), which is then
 * kept. When the platform cannot be asked, the mapping alone decides.
 */
async function lineItemsInLms(
  deps: AppDeps,
  x: LtiContextRow,
  columns: LtiColumn[],
): Promise<Set<number>> {
  const ids = columns.map((c) => c.id);
  const mapped = await findExternalIds(deps.db, x.tenantId, 'lineitem', x.issuer, ids);
  const found = new Set(mapped.keys());
  const canRead =
    x.lineItemsUrl &&
    (x.agsScopes.includes(AGS.lineItem) || x.agsScopes.includes(AGS.lineItemRead));
  if (!canRead) return found;
  for (const column of columns) {
    if (found.has(column.id)) continue;
    const wanted = lineItemFor(column);
    try {
      const item = (
        await deps.lti.engine.lineItemsFor(serviceContext(x), {
          resourceId: wanted.resourceId as string,
          tag: wanted.tag as string,
        })
      )
        .filter((i) => i.resourceId === wanted.resourceId && typeof i.id === 'string')
        .sort((a, b) => String(a.id).localeCompare(String(b.id)))[0];
      if (!item || identifierProblem(item.id as string, 2048) !== null) continue;
      await linkExternalId(
        deps.db,
        x.tenantId,
        'lineitem',
        x.issuer,
        item.id as string,
        column.id,
        isoNow(deps.clock),
      );
      found.add(column.id);
    } catch (err) {
      deps.logger.warn(
        { err, ltiContextId: x.id, columnId: column.id },
        'LTI deep linking: the line items could not be read; the kept mapping decides',
      );
    }
  }
  return found;
}

/**
 * Answers a deep linking request with gradebridge links, each with the line
 * item of its column when the platform takes line items. Everything is
 * checked before anything is made: the settings (deepLinkOffer), one item
 * unless the platform accepts several, no line item where the platform
 * ignores them, the columns; a new column is made only for a line item the
 * platform will receive, and a column that already has a line item on this
 * platform gets its link without a new one.
 */
export async function answerDeepLink(
  deps: AppDeps,
  s: DeepLinkSession,
  x: LtiContextRow,
  choice: DeepLinkChoice,
  launchUrl: string,
): Promise<DeepLinkAnswer> {
  const dl = s.deepLinking;
  const offer = deepLinkOffer(dl);
  const picked = [...new Set(choice.columns.filter((c) => c !== ''))];
  if (picked.length > 1 && !offer.multiple)
    throw new DeepLinkRefusal(
      'Your LMS takes one link at a time here: choose one column (or none), and nothing was added.',
      400,
      [['accept_multiple', String(dl.accept_multiple ?? '(not sent)')]],
    );
  if (picked.length > 0 && !offer.lineItems)
    throw new DeepLinkRefusal(
      'Your LMS does not take line items here, so gradebridge adds the link without a grade column; nothing was added yet: add it without one.',
      400,
      [['accept_lineitem', 'false']],
    );
  let points = 100;
  if (picked.includes('new')) {
    const raw = choice.points?.trim();
    points = raw ? Number(raw) : 100;
    if (!Number.isFinite(points) || points < 0)
      throw new DeepLinkRefusal('The points of a new line item must be a number of 0 or more.');
  }
  const ids = picked.filter((c) => c !== 'new').map(Number);
  const existing = ids.length
    ? ((await deps
        .db('grade_columns')
        .whereIn('id', ids)
        .where({ course_id: s.courseId })
        .whereNull('deleted_at')
        .select('id', 'name', 'points')) as LtiColumn[])
    : [];
  if (existing.length !== ids.length)
    throw new DeepLinkRefusal('That column does not exist in this course; nothing was added.');
  const inLms = await lineItemsInLms(deps, x, existing);

  let created: LtiColumn | null = null;
  if (picked.includes('new')) {
    const label = choice.label?.trim() || choice.title;
    created = await inTransaction(deps.db, (trx) =>
      createColumn(trx, x.tenantId, x.courseId, label, points, isoNow(deps.clock)),
    );
  }
  const byId = new Map(existing.map((c) => [c.id, c]));
  const several = picked.length > 1;
  const link = (column: LtiColumn | null): Record<string, unknown> => ({
    type: LINK,
    title: several && column ? `${choice.title}: ${column.name}` : choice.title,
    url: launchUrl,
    ...(column && !inLms.has(column.id) ? { lineItem: lineItemFor(column) } : {}),
  });
  const items =
    picked.length === 0
      ? [link(null)]
      : picked.map((c) => link(c === 'new' ? created : byId.get(Number(c))!));
  const jwt = await deps.lti.engine.deepLinkingResponse(
    { ...serviceContext(x), deploymentId: s.deploymentId ?? x.deploymentId, deepLinking: dl },
    items,
    items.length === 1 ? `Added "${choice.title}".` : `Added ${items.length} gradebridge links.`,
  );
  return { jwt, returnUrl: dl.deep_link_return_url, items, created };
}

/** The empty answer: nothing added (Deep Linking 2.0: a response without content items). */
export async function cancelDeepLink(
  deps: AppDeps,
  s: DeepLinkSession,
  x: LtiContextRow,
): Promise<{ jwt: string; returnUrl: string }> {
  const unusable = s.deepLinking.unusable ?? [];
  if (unusable.some((u) => u.startsWith('deep_link_return_url')))
    throw new DeepLinkRefusal(
      'Your LMS gave no address to return to; close this window.',
      400,
      [['problem', unusable.join('; ')]],
      false,
    );
  const jwt = await deps.lti.engine.deepLinkingResponse(
    {
      ...serviceContext(x),
      deploymentId: s.deploymentId ?? x.deploymentId,
      deepLinking: s.deepLinking,
    },
    [],
  );
  return { jwt, returnUrl: s.deepLinking.deep_link_return_url };
}
