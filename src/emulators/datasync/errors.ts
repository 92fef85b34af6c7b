import type { Middleware } from 'koa';

/**
 * An error answered to the client as JSON. The API's own shape is
 * `{"errors":[{"message":"..."}]}`; `body` replaces it (the token endpoint
 * answers OAuth's `{"error":"..."}`).
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly options: { headers?: Record<string, string>; body?: unknown } = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

const errorBody = (message: string) => ({ errors: [{ message }] });

export const badRequest = (message: string) => new HttpError(400, message);
export const notFound = (message: string) => new HttpError(404, message);
export const conflict = (message: string) => new HttpError(409, message);

/** Runs `fn`, turning the Error it throws for bad input into a 400. */
export function asBadRequest<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw badRequest(err instanceof Error ? err.message : String(err));
  }
}

interface ExposedError extends Partial<Error> {
  status?: number;
  expose?: boolean;
}

/**
 * Turns every error into a JSON response: HttpErrors as they ask, other
 * client errors as their 4xx, unknown routes as 404, anything else as a 500
 * (logged). Leaves alone a response an injected fault took over.
 */
export function errorHandler(): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.respond === false) return;
      if (ctx.status === 404 && ctx.body == null) {
        throw notFound(`No route for ${ctx.method} ${ctx.path}.`);
      }
      if (ctx.status === 405 && ctx.body == null) {
        throw new HttpError(405, `${ctx.method} is not allowed on ${ctx.path}.`);
      }
    } catch (err) {
      if (ctx.respond === false) return;
      let error: HttpError;
      if (err instanceof HttpError) error = err;
      else {
        const e = err as ExposedError;
        if (e && typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
          error = new HttpError(e.status, e.expose && e.message ? e.message : 'Bad request.');
        } else {
          console.error('datasync emulator: unexpected error', err);
          error = new HttpError(500, 'Unexpected error in the Data Sync emulator.');
        }
      }
      ctx.status = error.status;
      for (const [name, value] of Object.entries(error.options.headers ?? {})) {
        ctx.set(name, value);
      }
      ctx.type = 'application/json';
      ctx.body = error.options.body ?? errorBody(error.message);
    }
  };
}
