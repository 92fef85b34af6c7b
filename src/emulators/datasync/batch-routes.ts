import Router from '@koa/router';
import { requireToken, type EmulatorContext, type EmulatorState } from './access-tokens.js';
import type { BatchStore } from './batch-store.js';
import type { EmulatorCore } from './core.js';
import { badRequest, notFound } from './errors.js';
import { API_PREFIX } from './exchange-routes.js';
import { readJsonObject } from './request-body.js';

function findBatch(batches: BatchStore, ctx: EmulatorContext) {
  const batch = batches.get(ctx.params.id ?? '');
  if (!batch) throw notFound(`Batch exchange ${ctx.params.id} not found.`);
  return batch;
}

/**
 * Batch exchanges: an error for the whole batch (any non-empty code, e.g.
 * `integration_error`) and its context data (the course ids it covers).
 */
export function batchRoutes(core: EmulatorCore): Router<EmulatorState> {
  const router = new Router<EmulatorState>({ prefix: API_PREFIX });
  const auth = requireToken(core.accessTokens);

  router.post('/batch/:id/error', auth, async (ctx) => {
    const batch = findBatch(core.batches, ctx);
    const { code } = await readJsonObject(ctx);
    if (typeof code !== 'string' || code === '') {
      throw badRequest('code is required and must be a string (e.g. integration_error).');
    }
    batch.errors.push({ code, receivedAt: new Date().toISOString() });
    ctx.body = { data: null };
  });

  router.post('/batch/:id/data', auth, async (ctx) => {
    const batch = findBatch(core.batches, ctx);
    const { course_ids: courseIds = [] } = await readJsonObject(ctx);
    if (!Array.isArray(courseIds) || !courseIds.every((id) => typeof id === 'string')) {
      throw badRequest('course_ids must be an array of strings.');
    }
    batch.data.push({ courseIds: courseIds as string[], receivedAt: new Date().toISOString() });
    ctx.body = { data: null };
  });
  return router;
}
