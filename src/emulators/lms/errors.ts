import type { Middleware } from 'koa';
import { errorPage } from './html.js';

/** An error answered to the client: JSON `{error, error_description}` or an HTML page. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly options: { html?: boolean; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const badRequest = (message: string, code = 'invalid_request') =>
  new HttpError(400, code, message);
export const notFound = (message: string) => new HttpError(404, 'not_found', message);
export const htmlError = (status: number, code: string, message: string) =>
  new HttpError(status, code, message, { html: true });

interface ExposedError extends Partial<Error> {
  status?: number;
  expose?: boolean;
  message?: string;
}

function codeFor(status: number): string {
  if (status === 415) return 'unsupported_media_type';
  if (status === 413) return 'request_too_large';
  return 'invalid_request';
}

function clientMessage(e: ExposedError): string {
  if (e instanceof SyntaxError) return 'The request body is not valid JSON.';
  if (e.status === 413) return 'The request body is too large.';
  return e.expose && e.message ? e.message : 'Bad request.';
}

/**
 * Turns every error into a response: HttpErrors as they ask, body parser and
 * other exposed client errors as JSON 4xx, anything else as a 500 (logged).
 */
export function errorHandler(): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body == null) {
        throw notFound(`No route for ${ctx.method} ${ctx.path}.`);
      }
      if (ctx.status === 405 && ctx.body == null) {
        throw new HttpError(405, 'method_not_allowed', `${ctx.method} is not allowed here.`);
      }
    } catch (err) {
      let error: HttpError;
      if (err instanceof HttpError) error = err;
      else {
        const e = err as ExposedError;
        if (e && typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
          // Body parser errors (co-body marks them with a status, not always exposed).
          error = new HttpError(e.status, codeFor(e.status), clientMessage(e));
        } else {
          console.error('lms emulator: unexpected error', err);
          error = new HttpError(500, 'server_error', 'Unexpected error in the LMS emulator.');
        }
      }
      ctx.status = error.status;
      for (const [name, value] of Object.entries(error.options.headers ?? {})) {
        ctx.set(name, value);
      }
      if (error.options.html) {
        ctx.type = 'text/html; charset=utf-8';
        ctx.body = errorPage(error.status, error.code, error.message);
      } else {
        ctx.type = 'application/json';
        ctx.body = { error: error.code, error_description: error.message };
      }
    }
  };
}
