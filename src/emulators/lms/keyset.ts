import { setTimeout as delay } from 'node:timers/promises';
import Router from '@koa/router';
import type { EmulatorState } from './access-tokens.js';
import type { EmulatorCore } from './core.js';

/** GET /jwks: the platform's public keys, after the configured delay (for benchmarks). */
export function keysetRoutes(core: EmulatorCore): Router<EmulatorState> {
  const router = new Router<EmulatorState>();
  router.get('/jwks', async (ctx) => {
    core.stats.keysetRequests += 1;
    const wait = core.settings.keysetDelayMs;
    if (wait > 0) {
      try {
        await delay(wait, undefined, { signal: core.closing });
      } catch {
        ctx.status = 503; // closing: the connection is going away anyway
        ctx.body = { error: 'closing' };
        return;
      }
    }
    ctx.body = { keys: [core.key.jwk] };
  });
  return router;
}
