/**
 * One error hierarchy: every error a request can end with has an HTTP status
 * and a stable code. Each surface renders these in its own wire format.
 */
export class AppError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    code: string,
    message: string,
    options: { details?: unknown; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.status = status;
    this.code = code;
    this.details = options.details;
    this.headers = options.headers ?? {};
  }
}

export class BadRequestError extends AppError {
  constructor(message: string, options: { details?: unknown; code?: string } = {}) {
    super(400, options.code ?? 'bad_request', message, options);
  }
}

export interface ValidationIssue {
  path: string;
  message: string;
}

export class ValidationError extends AppError {
  constructor(
    readonly issues: ValidationIssue[],
    where = 'request',
  ) {
    super(
      400,
      'validation_failed',
      `Invalid ${where}: ${issues.map((i) => (i.path ? `${i.path} ${i.message}` : i.message)).join('; ')}`,
      { details: issues },
    );
  }
}

export class UnauthorizedError extends AppError {
  /** `token_missing` when no credentials came, `token_invalid` when they were refused. */
  constructor(
    message = 'Authentication is required.',
    headers: Record<string, string> = {},
    code: 'token_missing' | 'token_invalid' = 'token_invalid',
  ) {
    super(401, code, message, { headers });
  }
}

export class ForbiddenError extends AppError {
  constructor(message = 'The token does not allow this action.') {
    super(403, 'forbidden', message);
  }
}

export class NotFoundError extends AppError {
  constructor(message = 'The specified resource does not exist.') {
    super(404, 'not_found', message);
  }
}

export class ConflictError extends AppError {
  constructor(message: string) {
    super(409, 'conflict', message);
  }
}

export class GoneError extends AppError {
  constructor(message: string) {
    super(410, 'gone', message);
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(
    message = 'The service is temporarily unavailable; try again.',
    retryAfterSeconds?: number,
  ) {
    super(503, 'unavailable', message, {
      headers: retryAfterSeconds ? { 'Retry-After': String(retryAfterSeconds) } : {},
    });
  }
}

/** Errors from the HTTP stack (body parser, router) carry a status and a safe message. */
interface HttpishError {
  status?: number;
  statusCode?: number;
  expose?: boolean;
  type?: string;
  message?: string;
  limit?: number;
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'SQLITE_BUSY',
  '57P01',
  '57P03',
  '53300',
  '40001',
  '40P01',
]);

/** Database errors that mean "try again", not "you sent something wrong" or "we have a bug". */
function isUnavailable(err: unknown): boolean {
  const e = err as { code?: string; name?: string; message?: string } | null;
  if (!e) return false;
  if (e.code && UNAVAILABLE_CODES.has(e.code)) return true;
  if (e.name === 'KnexTimeoutError') return true;
  return (
    typeof e.message === 'string' &&
    /Unable to acquire a connection|pool is probably full|database is locked/i.test(e.message)
  );
}

/** Turns anything thrown into an AppError; unknown errors become an opaque 500. */
export function normalizeError(err: unknown): { error: AppError; unexpected: boolean } {
  if (err instanceof AppError) return { error: err, unexpected: false };
  if (isUnavailable(err)) {
    return {
      error: new AppError(
        503,
        'unavailable',
        'The database is busy or unreachable; nothing was changed. Try again.',
        {
          headers: { 'Retry-After': '5' },
          cause: err,
        },
      ),
      unexpected: true,
    };
  }
  const e = (err ?? {}) as HttpishError & { code?: unknown };
  if (typeof e.code === 'string' && /^(Z_|ERR__ERROR_)/.test(e.code)) {
    // zlib (Z_*) and brotli (ERR__ERROR_*): a body sent compressed that does not decompress.
    return {
      error: new BadRequestError('Request body could not be decompressed.', {
        code: 'malformed_body',
      }),
      unexpected: false,
    };
  }
  const status = e.status ?? e.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500 && e.expose !== false) {
    if (e.type === 'entity.too.large') {
      return {
        error: new AppError(
          413,
          'payload_too_large',
          `Request body is larger than the limit of ${e.limit} bytes.`,
        ),
        unexpected: false,
      };
    }
    if (e.type === 'entity.parse.failed') {
      return {
        error: new BadRequestError('Request body is not valid JSON.', { code: 'malformed_body' }),
        unexpected: false,
      };
    }
    if (e.type === 'encoding.unsupported' || status === 415) {
      return {
        error: new AppError(415, 'unsupported_media_type', 'Unsupported request encoding.'),
        unexpected: false,
      };
    }
    return {
      error: new AppError(status, 'bad_request', e.message ?? 'Bad request'),
      unexpected: false,
    };
  }
  return {
    error: new AppError(500, 'internal_error', 'An unexpected error occurred.', { cause: err }),
    unexpected: true,
  };
}
