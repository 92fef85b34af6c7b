import Router from '@koa/router';
import { requireToken, type EmulatorState } from './access-tokens.js';
import type { EmulatorCore } from './core.js';
import { badRequest, notFound } from './errors.js';
import { API_PREFIX } from './exchange-routes.js';

/** The consumer (the SIS side): its details, and section ids resolved into its id space. */
export function consumerRoutes(core: EmulatorCore): Router<EmulatorState> {
  const router = new Router<EmulatorState>({ prefix: API_PREFIX });
  const auth = requireToken(core.accessTokens);

  router.get('/consumer', auth, (ctx) => {
    if (!core.consumer) throw badRequest('Consumer is not configured.');
    ctx.body = core.consumer;
  });

  router.get('/sections/:id/resolve', auth, (ctx) => {
    const consumerSourceId = core.sections.get(ctx.params.id ?? '');
    if (consumerSourceId === undefined) throw notFound(`Section ${ctx.params.id} not found.`);
    ctx.body = { consumerSourceId };
  });
  return router;
}
