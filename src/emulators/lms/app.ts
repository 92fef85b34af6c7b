import Koa from 'koa';
import type { EmulatorState } from './access-tokens.js';
import { agsRoutes } from './ags.js';
import type { EmulatorCore } from './core.js';
import { deepLinkingRoutes } from './deep-linking.js';
import { registrationRoutes } from './dynamic-registration.js';
import { embeddedLaunchRoutes } from './embedded-launch.js';
import { errorHandler } from './errors.js';
import { homeRoutes } from './home-page.js';
import { keysetRoutes } from './keyset.js';
import { nrpsRoutes } from './nrps.js';
import { platformStorageRoutes } from './platform-storage.js';
import { authRoutes } from './oidc-auth.js';
import { tokenRoutes } from './token-endpoint.js';

/** The platform's HTTP surface, over the shared state in `core`. */
export function createApp(core: EmulatorCore): Koa<EmulatorState> {
  const app = new Koa<EmulatorState>();
  app.use(errorHandler());
  app.use(async (ctx, next) => {
    ctx.set('X-Content-Type-Options', 'nosniff');
    await next();
  });
  for (const router of [
    homeRoutes(core),
    embeddedLaunchRoutes(core),
    platformStorageRoutes(core),
    authRoutes(core),
    keysetRoutes(core),
    tokenRoutes(core),
    registrationRoutes(core),
    deepLinkingRoutes(core),
    agsRoutes(core),
    nrpsRoutes(core),
  ]) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }
  return app;
}
