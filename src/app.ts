import Koa from 'koa';
import { tokenSurfaces } from './auth/routes.js';
import type { AppDeps } from './deps.js';
import { errorHandler } from './http/error-handler.js';
import { ApiDocs } from './http/openapi.js';
import { requestContext } from './http/request-context.js';
import type { AppState, Surface } from './http/surface.js';
import { finalGradesSurface } from './final-grades/routes.js';
import { historySurface } from './history/routes.js';
import { journeySurface } from './journey/routes.js';
import { ltiSurface } from './lti/routes.js';
import { progressSurface } from './progress/routes.js';
import { webhooksSurface } from './webhooks/routes.js';
import { createMetrics } from './ops/metrics.js';
import { opsSurface } from './ops/routes.js';
import { openDriftCounts } from './reconcile/drift.js';
import { reconcileSurface } from './reconcile/routes.js';

export interface App {
  koa: Koa<AppState>;
  docs: ApiDocs;
}

/** Builds the Koa app from its dependencies. It does not listen; server.ts does. */
export function createApp(deps: AppDeps): App {
  const koa = new Koa<AppState>({ proxy: deps.config.TRUST_PROXY });
  const docs = new ApiDocs();
  const metrics = createMetrics({
    defaultMetrics: deps.config.NODE_ENV !== 'test',
    driftCounts: () => openDriftCounts(deps.db),
  });
  const surfaces: Surface[] = [
    opsSurface(deps, docs, metrics),
    ...tokenSurfaces(deps, docs),
    journeySurface(deps, docs),
    historySurface(deps, docs),
    progressSurface(deps, docs),
    ltiSurface(deps, docs),
    webhooksSurface(deps, docs),
    finalGradesSurface(deps, docs),
    reconcileSurface(deps, docs),
  ];

  koa.use(requestContext(deps.logger));
  koa.use(metrics.middleware);
  koa.use(async (ctx, next) => {
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    await next();
  });
  koa.use(errorHandler(surfaces, deps.logger));
  for (const surface of surfaces) {
    koa.use(surface.router.routes());
    koa.use(surface.router.allowedMethods());
  }
  return { koa, docs };
}
