import crypto from 'node:crypto';
import Router from '@koa/router';
import { escapeHtml } from '../shared/html.js';
import type { EmulatorContext, EmulatorState } from './access-tokens.js';
import type { EmulatorCore } from './core.js';
import { HttpError } from './errors.js';
import { htmlPage } from './html.js';
import { formBody } from './request-body.js';
import { isTimestamp } from './timestamps.js';
import {
  JwtRejected,
  audienceIncludes,
  decodeJwt,
  lifetimeProblem,
  nowSeconds,
  verifyToolJwt,
} from './tool-jwt.js';
import { isHttpUrl } from './tool-registry.js';
import type { DeepLinkReturn, LineItem, ResourceLinkRecord } from './types.js';
import { CLAIM, DEEP_LINKING_RESPONSE, LTI_VERSION } from './vocabulary.js';

class Rejected extends Error {}

type Item = Record<string, unknown>;

interface PlannedLink {
  title?: string;
  url?: string;
  custom?: Record<string, string>;
  text?: string;
  lineItem?: {
    label?: string;
    scoreMaximum: number;
    resourceId?: string;
    tag?: string;
    gradesReleased?: boolean;
  };
  submission?: { startDateTime?: string; endDateTime?: string };
}

const isObject = (v: unknown): v is Item =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const optionalString = (v: unknown) => v === undefined || typeof v === 'string';

/** Validates an ltiResourceLink content item (Deep Linking 2.0, 3.4.2) before anything is created. */
function planLink(item: Item, index: number): PlannedLink {
  const where = `content_items[${index}]`;
  if (!optionalString(item.title) || !optionalString(item.text)) {
    throw new Rejected(`${where}: title and text must be strings.`);
  }
  if (item.url !== undefined && !isHttpUrl(item.url)) {
    throw new Rejected(`${where}: url must be an absolute http(s) URL.`);
  }
  if (item.custom !== undefined) {
    if (!isObject(item.custom) || !Object.values(item.custom).every((v) => typeof v === 'string')) {
      throw new Rejected(`${where}: custom must be an object of string values.`);
    }
  }
  const plan: PlannedLink = {
    title: item.title as string | undefined,
    text: item.text as string | undefined,
    url: item.url as string | undefined,
    custom: item.custom as Record<string, string> | undefined,
  };
  if (item.lineItem !== undefined) {
    const li = item.lineItem;
    if (!isObject(li)) throw new Rejected(`${where}: lineItem must be an object.`);
    if (typeof li.scoreMaximum !== 'number' || !(li.scoreMaximum > 0)) {
      throw new Rejected(`${where}: lineItem.scoreMaximum must be a number > 0.`);
    }
    if (!optionalString(li.label) || !optionalString(li.resourceId) || !optionalString(li.tag)) {
      throw new Rejected(`${where}: lineItem label, resourceId and tag must be strings.`);
    }
    if (li.gradesReleased !== undefined && typeof li.gradesReleased !== 'boolean') {
      throw new Rejected(`${where}: lineItem.gradesReleased must be a boolean.`);
    }
    plan.lineItem = {
      scoreMaximum: li.scoreMaximum,
      label: li.label as string | undefined,
      resourceId: li.resourceId as string | undefined,
      tag: li.tag as string | undefined,
      gradesReleased: li.gradesReleased as boolean | undefined,
    };
  }
  if (item.submission !== undefined) {
    const s = item.submission;
    const dates = isObject(s) ? [s.startDateTime, s.endDateTime] : [0];
    if (!dates.every((d) => d === undefined || (typeof d === 'string' && isTimestamp(d)))) {
      throw new Rejected(`${where}: submission dates must be ISO 8601 date-times.`);
    }
    plan.submission = s as PlannedLink['submission'];
  }
  return plan;
}

function stringClaim(claims: Item, name: string): string | undefined {
  return typeof claims[name] === 'string' ? (claims[name] as string) : undefined;
}

/**
 * Verifies a deep linking response (Deep Linking 2.0, 4.5) and creates what it
 * carries; `record` is filled in as far as the checks get.
 */
async function processReturn(
  core: EmulatorCore,
  token: string,
  record: DeepLinkReturn,
  returnSession: string | undefined,
) {
  const decoded = decodeJwt(token);
  if (decoded) {
    record.header = decoded.header;
    record.claims = decoded.claims;
  }
  let verified;
  try {
    verified = await verifyToolJwt(token, (id) => core.tools.get(id), core.keysets);
  } catch (err) {
    if (err instanceof JwtRejected) throw new Rejected(err.message);
    throw err;
  }
  const { claims, tool } = verified;
  record.clientId = tool.clientId;
  if (!audienceIncludes(claims.aud, [core.issuer])) {
    throw new Rejected(`aud must be the platform issuer ${core.issuer}.`);
  }
  if (claims.azp !== undefined && claims.azp !== tool.clientId) {
    throw new Rejected('azp must be the client_id.');
  }
  const problem = lifetimeProblem(claims, nowSeconds());
  if (problem) throw new Rejected(problem);
  if (typeof claims.nonce !== 'string' || claims.nonce === '') {
    throw new Rejected('The JWT has no nonce.');
  }
  if (claims[CLAIM.messageType] !== DEEP_LINKING_RESPONSE) {
    throw new Rejected(`message_type must be ${DEEP_LINKING_RESPONSE}.`);
  }
  if (claims[CLAIM.version] !== LTI_VERSION) throw new Rejected(`version must be ${LTI_VERSION}.`);
  const deploymentId = claims[CLAIM.deploymentId];
  if (typeof deploymentId !== 'string' || !tool.deploymentIds.includes(deploymentId)) {
    throw new Rejected('deployment_id is missing or not a deployment of this tool.');
  }
  record.deploymentId = deploymentId;
  for (const [field, claim] of [
    ['msg', CLAIM.dlMsg],
    ['log', CLAIM.dlLog],
    ['errormsg', CLAIM.dlErrorMsg],
    ['errorlog', CLAIM.dlErrorLog],
  ] as const) {
    const value = stringClaim(claims, claim);
    if (value !== undefined) record[field] = value;
  }
  const items = claims[CLAIM.dlContentItems] ?? [];
  if (!Array.isArray(items) || !items.every(isObject)) {
    throw new Rejected('content_items must be an array of objects.');
  }
  if (!items.every((i) => typeof i.type === 'string')) {
    throw new Rejected('Every content item needs a type.');
  }
  record.contentItems = items;
  const plans = items.map((item, index) =>
    item.type === 'ltiResourceLink' ? planLink(item, index) : undefined,
  );
  // The request: named by the data claim (Canvas sends none: its return URL names it).
  // It is checked last: a response refused above leaves the request open.
  const requestId = claims[CLAIM.dlData] ?? returnSession;
  const open = core.deepLinkSessions.peek(requestId, tool.clientId);
  if (typeof open === 'string') throw new Rejected(open);
  if (open.deploymentId !== deploymentId) {
    throw new Rejected('deployment_id is not the one of the deep linking request.');
  }
  // Held to what the request accepted: other types are left out, several items
  // only with accept_multiple, line items ignored where accept_lineitem is false.
  const settings = open.settings;
  const acceptTypes = Array.isArray(settings.accept_types)
    ? (settings.accept_types as unknown[])
    : [];
  const accepted = items.filter((i) => acceptTypes.includes(i.type));
  if (accepted.length > 1 && settings.accept_multiple !== true) {
    throw new Rejected(
      `The request accepted one content item (accept_multiple ${String(
        settings.accept_multiple ?? 'absent',
      )}); the response carries ${accepted.length}.`,
    );
  }
  const session = core.deepLinkSessions.take(requestId, tool.clientId);
  if (typeof session === 'string') throw new Rejected(session);
  record.contextId = session.contextId;
  record.userId = session.userId;
  record.settings = settings;
  if (session.placement) record.placement = session.placement;

  items.forEach((item, index) => {
    const plan = plans[index];
    if (!plan || !acceptTypes.includes(item.type)) {
      record.ignoredItems.push(item);
      return;
    }
    if (plan.lineItem && settings.accept_lineitem === false) {
      record.ignoredLineItems.push(item.lineItem as Record<string, unknown>);
      delete plan.lineItem;
    }
    const link: ResourceLinkRecord = core.store.addResourceLink({
      id: crypto.randomUUID(),
      contextId: session.contextId,
      title: plan.title,
      description: plan.text,
      url: plan.url,
      custom: plan.custom,
      clientId: tool.clientId,
    });
    record.createdResourceLinks.push(link);
    if (plan.lineItem) {
      const lineItem: LineItem = core.store.addLineItem(session.contextId, {
        label: [plan.lineItem.label, plan.title].find((s) => s?.trim()) ?? 'Untitled',
        scoreMaximum: plan.lineItem.scoreMaximum,
        resourceId: plan.lineItem.resourceId,
        tag: plan.lineItem.tag,
        gradesReleased: plan.lineItem.gradesReleased,
        resourceLinkId: link.id,
        startDateTime: plan.submission?.startDateTime,
        endDateTime: plan.submission?.endDateTime,
        clientId: tool.clientId,
      });
      record.createdLineItems.push(lineItem);
    }
  });
}

function resultPage(core: EmulatorCore, record: DeepLinkReturn): string {
  const items = record.createdResourceLinks
    .map((l) => `<li>${escapeHtml(l.title ?? l.id)}</li>`)
    .join('');
  const message = record.errormsg ?? record.msg;
  return htmlPage(
    'Content added',
    `<h1>Deep linking response received</h1>
${message ? `<p>${escapeHtml(message)}</p>` : ''}
<p>${record.createdResourceLinks.length} resource link(s) and ${record.createdLineItems.length} line item(s) created.</p>
${record.contentItems.length === 0 ? '<p>Nothing was added: the tool returned no content items.</p>' : ''}
${items ? `<ul>${items}</ul>` : ''}
<p><a href="${escapeHtml(core.urls.home)}">Back to the course list</a></p>`,
  );
}

export function deepLinkingRoutes(core: EmulatorCore): Router<EmulatorState> {
  const router = new Router<EmulatorState>();
  router.post('/deep-link/return', formBody(), async (ctx: EmulatorContext) => {
    const record: DeepLinkReturn = {
      receivedAt: new Date().toISOString(),
      accepted: false,
      contentItems: [],
      createdResourceLinks: [],
      createdLineItems: [],
      ignoredItems: [],
      ignoredLineItems: [],
    };
    core.deepLinkReturns.push(record);
    const body = ctx.request.body as Record<string, unknown> | undefined;
    const token = body?.JWT;
    try {
      if (typeof token !== 'string' || token === '') {
        throw new Rejected('The form has no JWT field.');
      }
      const returnSession =
        typeof ctx.query.session === 'string' && ctx.query.session !== ''
          ? ctx.query.session
          : undefined;
      await processReturn(core, token, record, returnSession);
      record.accepted = true;
    } catch (err) {
      if (!(err instanceof Rejected)) throw err;
      record.error = err.message;
      throw new HttpError(400, 'invalid_deep_linking_response', err.message, { html: true });
    }
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = resultPage(core, record);
  });
  return router;
}
