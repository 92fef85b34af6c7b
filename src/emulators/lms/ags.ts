import Router from '@koa/router';
import {
  requireScope,
  requireToolInContext,
  type EmulatorContext,
  type EmulatorState,
} from './access-tokens.js';
import { lineItemSchema, parseBody, scoreSchema, type LineItemBody } from './ags-schemas.js';
import type { EmulatorCore } from './core.js';
import type { LineItemFields } from './course-store.js';
import { badRequest, notFound } from './errors.js';
import { requireAcceptable, requireContentType } from './media-types.js';
import { paginate } from './paging.js';
import { jsonBody } from './request-body.js';
import type { ContextRecord, LineItem, Result, Score } from './types.js';
import { MEDIA_TYPE, SCOPE } from './vocabulary.js';

/** The wire form of a line item (AGS 3.2), without the emulator's bookkeeping. */
function lineItemJson(item: LineItem): Record<string, unknown> {
  const { contextId: _contextId, clientId: _clientId, ...wire } = item;
  return wire;
}

/** A result (AGS 3.3); progress and timestamps are the emulator's bookkeeping. */
function resultJson(result: Result): Record<string, unknown> {
  const { activityProgress: _a, gradingProgress: _g, timestamp: _t, ...wire } = result;
  return wire;
}

function query(ctx: EmulatorContext, name: string): string | undefined {
  const value = ctx.query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw badRequest(`${name} may be given once.`);
  return value;
}

function fieldsFrom(body: LineItemBody, clientId: string | undefined): LineItemFields {
  const { id: _id, ...fields } = body;
  return clientId ? { ...fields, clientId } : fields;
}

/** AGS 2.0 line item, result and score services under each context. */
export function agsRoutes(core: EmulatorCore): Router<EmulatorState> {
  const { store, urls, accessTokens } = core;
  const router = new Router<EmulatorState>({ prefix: '/api/lti/contexts/:contextId/lineitems' });
  const readItems = requireScope(accessTokens, [SCOPE.lineItem, SCOPE.lineItemReadonly]);
  const writeItems = requireScope(accessTokens, [SCOPE.lineItem]);
  const readResults = requireScope(accessTokens, [SCOPE.resultReadonly]);
  const postScores = requireScope(accessTokens, [SCOPE.score]);

  const context = (ctx: EmulatorContext): ContextRecord => {
    const found = store.context(ctx.params.contextId!);
    if (!found) throw notFound(`Unknown context "${ctx.params.contextId}".`);
    requireToolInContext(ctx, (clientId) => store.toolAvailable(found.id, clientId));
    return found;
  };
  const visible = (ctx: EmulatorContext, item: LineItem) =>
    item.clientId === undefined || item.clientId === ctx.state.grant!.clientId;
  const lineItem = (ctx: EmulatorContext): LineItem => {
    const { id: contextId } = context(ctx);
    const item = store.lineItem(urls.lineItem(contextId, ctx.params.itemKey!));
    if (!item || !visible(ctx, item)) throw notFound('Unknown line item.');
    return item;
  };
  const storeError = (run: () => LineItem): LineItem => {
    try {
      return run();
    } catch (err) {
      throw badRequest((err as Error).message);
    }
  };

  router.get('/', readItems, (ctx) => {
    requireAcceptable(ctx, MEDIA_TYPE.lineItemContainer);
    const { id } = context(ctx);
    const resourceLinkId = query(ctx, 'resource_link_id');
    const resourceId = query(ctx, 'resource_id');
    const tag = query(ctx, 'tag');
    const items = store
      .lineItemsOf(id)
      .filter((i) => visible(ctx, i))
      .filter((i) => resourceLinkId === undefined || i.resourceLinkId === resourceLinkId)
      .filter((i) => resourceId === undefined || i.resourceId === resourceId)
      .filter((i) => tag === undefined || i.tag === tag);
    const page = paginate(ctx, urls.base, items, core.settings.pageSize);
    ctx.type = MEDIA_TYPE.lineItemContainer;
    ctx.body = page.map(lineItemJson);
  });

  router.post('/', writeItems, jsonBody(), (ctx) => {
    requireContentType(ctx, MEDIA_TYPE.lineItem);
    requireAcceptable(ctx, MEDIA_TYPE.lineItem);
    const { id } = context(ctx);
    const body = parseBody(lineItemSchema, ctx.request.body);
    const item = storeError(() =>
      store.addLineItem(id, fieldsFrom(body, ctx.state.grant!.clientId)),
    );
    ctx.status = 201;
    ctx.set('Location', item.id);
    ctx.type = MEDIA_TYPE.lineItem;
    ctx.body = lineItemJson(item);
  });

  router.get('/:itemKey', readItems, (ctx) => {
    requireAcceptable(ctx, MEDIA_TYPE.lineItem);
    ctx.type = MEDIA_TYPE.lineItem;
    ctx.body = lineItemJson(lineItem(ctx));
  });

  // A PUT carries the whole line item; the platform keeps the owner and the URL.
  router.put('/:itemKey', writeItems, jsonBody(), (ctx) => {
    requireContentType(ctx, MEDIA_TYPE.lineItem);
    requireAcceptable(ctx, MEDIA_TYPE.lineItem);
    const current = lineItem(ctx);
    const body = parseBody(lineItemSchema, ctx.request.body);
    if (body.id !== undefined && body.id !== current.id) {
      throw badRequest('The id in the body is not the URL of this line item.');
    }
    const item = storeError(() =>
      store.updateLineItem(current.id, fieldsFrom(body, current.clientId)),
    );
    ctx.type = MEDIA_TYPE.lineItem;
    ctx.body = lineItemJson(item);
  });

  router.delete('/:itemKey', writeItems, (ctx) => {
    store.deleteLineItem(lineItem(ctx).id);
    ctx.status = 204;
  });

  router.get('/:itemKey/results', readResults, (ctx) => {
    requireAcceptable(ctx, MEDIA_TYPE.resultContainer);
    const item = lineItem(ctx);
    const userId = query(ctx, 'user_id');
    const results = store
      .resultsOf(item.id)
      .filter((r) => userId === undefined || r.userId === userId);
    const page = paginate(ctx, urls.base, results, core.settings.pageSize);
    ctx.type = MEDIA_TYPE.resultContainer;
    ctx.body = page.map(resultJson);
  });

  // Scores are answered 204 No Content, accepted or ignored as older alike:
  // AGS defines no response body, and the tool learns nothing it could act on.
  router.post('/:itemKey/scores', postScores, jsonBody(), (ctx) => {
    requireContentType(ctx, MEDIA_TYPE.score);
    const item = lineItem(ctx);
    const score = parseBody(scoreSchema, ctx.request.body) as Score;
    if (!store.member(item.contextId, score.userId)) {
      throw badRequest(`userId "${score.userId}" is not a member of context "${item.contextId}".`);
    }
    if (!core.scoreFaults.check(score.userId))
      store.applyScore(item.id, ctx.state.grant!.clientId, score);
    ctx.status = 204;
  });

  return router;
}
