import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.js';
import type { AppMiddleware } from './surface.js';

const ACCEPTED_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Gives each request an id (the caller's X-Request-Id when it is sane), a
 * child logger that carries it, and one access-log line when it finishes.
 * The query string is left out of the log: some clients put credentials there.
 */
export function requestContext(logger: Logger): AppMiddleware {
  return async (ctx, next) => {
    const incoming = ctx.get('x-request-id');
    const requestId = ACCEPTED_ID.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    ctx.state.log = logger.child({ reqId: requestId });
    ctx.set('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const status = ctx.respond === false ? ctx.res.statusCode : ctx.status;
      const line = {
        method: ctx.method,
        path: ctx.path,
        status,
        ms: Math.round(ms * 100) / 100,
        client: ctx.state.principal?.clientId,
        tenant: ctx.state.principal?.tenantId,
      };
      if (status >= 500) ctx.state.log.error(line, 'request failed');
      else ctx.state.log.info(line, 'request');
    }
  };
}
