import type { Logger } from '../logger.js';
import { AppError, NotFoundError, normalizeError } from './errors.js';
import type { AppMiddleware, ErrorRenderer } from './surface.js';

export interface ErrorRoute {
  prefix: string;
  renderError: ErrorRenderer;
}

/** The fallback format, for paths outside every surface. */
export const renderPlainError: ErrorRenderer = (ctx, error) => {
  ctx.status = error.status;
  ctx.body = {
    error: { code: error.code, message: error.message, requestId: ctx.state.requestId },
  };
};

/**
 * Catches every error, logs the unexpected ones with their stack, and renders
 * it in the format of the surface whose prefix the path falls under. Unknown
 * errors become a 500 that leaks nothing but the request id.
 */
export function errorHandler(routes: ErrorRoute[], logger: Logger): AppMiddleware {
  // Prefixes may hold route parameters (/api/v1/courses/:course_id/...).
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const matchers = routes
    .filter((r) => r.prefix !== '')
    .sort((a, b) => b.prefix.length - a.prefix.length)
    .map((r) => ({
      pattern: new RegExp(`^${escape(r.prefix).replace(/:[A-Za-z_]+/g, '[^/]*')}(/|$)`),
      render: r.renderError,
    }));
  const rendererFor = (path: string): ErrorRenderer =>
    matchers.find((m) => m.pattern.test(path))?.render ?? renderPlainError;
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.respond !== false && ctx.body == null) {
        if (ctx.status === 404) throw new NotFoundError();
        if (ctx.status === 405)
          throw new AppError(405, 'method_not_allowed', `${ctx.method} is not allowed here.`);
      }
    } catch (err) {
      const { error, unexpected } = normalizeError(err);
      const log = ctx.state.log ?? logger;
      if (unexpected) log.error({ err, path: ctx.path }, 'unhandled error');
      else if (error.status >= 500)
        log.warn({ code: error.code, path: ctx.path, msg: error.message }, 'request error');
      for (const [name, value] of Object.entries(error.headers)) ctx.set(name, value);
      // A body left unread (too large, refused early) would be read as the next
      // request on a kept-alive connection: close it after this answer instead.
      if (!ctx.req.complete) ctx.set('Connection', 'close');
      // Koa sends no body for HEAD; the error's status and headers still apply.
      rendererFor(ctx.path)(ctx, error);
    }
  };
}
