import { InvalidTokenError, type TokenService } from './tokens.js';
import type { Db } from '../db/knex.js';
import { ForbiddenError, UnauthorizedError } from '../http/errors.js';
import type { AppMiddleware, Principal } from '../http/surface.js';

export interface BearerAuthOptions {
  db: Db;
  tokens: TokenService;
  /** The scope this surface needs (any one of them, when several). */
  scope: string | readonly string[];
  /**
   * Also accept the token from this request header, as the token alone or as
   * `Bearer <token>` (the Progress contract's apiKey header named "Bearer").
   */
  header?: string;
  /** Also accept the token from this cookie (the Progress API's InSite.WebToken). */
  cookie?: string;
  realm?: string;
}

const BEARER = /^Bearer\s+([A-Za-z0-9\-_.~+/]+=*)\s*$/i;

/**
 * Verifies the bearer token, then loads its API client so a revoked client
 * loses access at once and a client's narrowed scopes apply to tokens it
 * already holds. Sets ctx.state.principal.
 */
export function bearerAuth(options: BearerAuthOptions): AppMiddleware {
  const realm = options.realm ?? 'gradebridge';
  const challenge = (error?: string) =>
    error ? `Bearer realm="${realm}", error="${error}"` : `Bearer realm="${realm}"`;
  return async (ctx, next) => {
    const header = ctx.get('authorization');
    const apiKey = options.header ? ctx.get(options.header) : '';
    let token: string | undefined;
    if (header || apiKey) {
      const match = header
        ? BEARER.exec(header)
        : BEARER.exec(`Bearer ${apiKey.replace(/^Bearer\s+/i, '')}`);
      if (!match)
        throw new UnauthorizedError('Invalid access token.', {
          'WWW-Authenticate': challenge('invalid_request'),
        });
      token = match[1];
    } else if (options.cookie) {
      token = ctx.cookies.get(options.cookie) || undefined;
    }
    if (!token) {
      throw new UnauthorizedError(
        'An access token is required.',
        { 'WWW-Authenticate': challenge() },
        'token_missing',
      );
    }
    let claims;
    try {
      claims = options.tokens.verify(token);
    } catch (err) {
      const message = err instanceof InvalidTokenError ? err.message : 'Invalid access token.';
      throw new UnauthorizedError(message, { 'WWW-Authenticate': challenge('invalid_token') });
    }
    const client = await options
      .db('api_clients')
      .join('tenants', 'tenants.id', 'api_clients.tenant_id')
      .select(
        'api_clients.id',
        'api_clients.tenant_id',
        'tenants.uuid as organization_id',
        'api_clients.client_id',
        'api_clients.name',
        'api_clients.scopes',
        'api_clients.grader_user_id',
        'api_clients.revoked_at',
      )
      .where('api_clients.id', claims.apiClientId)
      .first();
    if (
      !client ||
      client.revoked_at !== null ||
      client.tenant_id !== claims.tenantId ||
      client.client_id !== claims.clientId
    ) {
      throw new UnauthorizedError('Invalid access token.', {
        'WWW-Authenticate': challenge('invalid_token'),
      });
    }
    const granted = new Set<string>((client.scopes as string).split(' '));
    const scopes = new Set(claims.scopes.filter((s) => granted.has(s)));
    const principal: Principal = {
      tenantId: client.tenant_id,
      organizationId: client.organization_id,
      apiClientId: client.id,
      clientId: client.client_id,
      name: client.name,
      scopes,
      graderUserId: client.grader_user_id,
    };
    ctx.state.principal = principal;
    const wanted = typeof options.scope === 'string' ? [options.scope] : options.scope;
    if (!wanted.some((s) => scopes.has(s))) {
      throw new ForbiddenError(
        `The access token lacks the ${wanted.map((s) => `"${s}"`).join(' or ')} scope.`,
      );
    }
    await next();
  };
}
