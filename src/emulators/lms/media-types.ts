import type { EmulatorContext } from './access-tokens.js';
import { HttpError, badRequest } from './errors.js';

/**
 * Lenient content negotiation: a missing Accept, wildcards and plain
 * application/json are fine (real platforms accept them); anything else must
 * name the service's media type, or the answer is 406.
 */
export function requireAcceptable(ctx: EmulatorContext, mediaType: string): void {
  const header = ctx.get('accept');
  if (!header.trim()) return;
  const ok = header.split(',').some((range) => {
    const [type = '', ...params] = range.split(';').map((p) => p.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    if (q && Number(q.slice(2)) === 0) return false;
    return ['*/*', 'application/*', 'application/json', mediaType].includes(type);
  });
  if (!ok) {
    throw new HttpError(406, 'not_acceptable', `This endpoint answers with ${mediaType}.`);
  }
}

/** The request body must be the service's media type (or application/json): 415 otherwise. */
export function requireContentType(ctx: EmulatorContext, mediaType: string): void {
  const matches = ctx.is(mediaType, 'application/json');
  if (matches === null) throw badRequest(`A ${mediaType} request body is required.`);
  if (matches === false) {
    throw new HttpError(
      415,
      'unsupported_media_type',
      `The request body must be sent as Content-Type: ${mediaType}.`,
    );
  }
}
