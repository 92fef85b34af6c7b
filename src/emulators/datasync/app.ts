import Koa, { type Middleware } from 'koa';
import type { EmulatorState } from './access-tokens.js';
import { batchRoutes } from './batch-routes.js';
import { consumerRoutes } from './consumer-routes.js';
import { controlRoutes, isControlPath } from './control-routes.js';
import type { EmulatorCore } from './core.js';
import { errorHandler } from './errors.js';
import { exchangeRoutes } from './exchange-routes.js';
import { injectFaults } from './fault-injector.js';
import { homeRoutes } from './home-page.js';
import { rateLimit } from './rate-limiter.js';
import { meterRequests } from './request-meter.js';
import { scheduleRoutes } from './schedule-routes.js';
import { tokenRoutes } from './token-endpoint.js';

/** Applies `middleware` to the emulated API only (not to the home page and control API). */
function apiOnly(middleware: Middleware): Middleware {
  return (ctx, next) => (isControlPath(ctx.path) ? next() : middleware(ctx, next));
}

/**
 * The emulator's HTTP surface. Every API request is counted, then checked
 * against the rate limit, then against the injected faults, then routed.
 */
export function createApp(core: EmulatorCore): Koa<EmulatorState> {
  const app = new Koa<EmulatorState>();
  app.use(errorHandler());
  app.use(async (ctx, next) => {
    ctx.set('X-Content-Type-Options', 'nosniff');
    await next();
  });
  app.use(apiOnly(meterRequests(core.meter)));
  app.use(apiOnly(rateLimit(core.limiter, core.meter)));
  app.use(apiOnly(injectFaults(core.faults, core.meter)));
  for (const router of [
    homeRoutes(core),
    controlRoutes(core),
    tokenRoutes(core),
    exchangeRoutes(core),
    consumerRoutes(core),
    batchRoutes(core),
    scheduleRoutes(core),
  ]) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }
  return app;
}
