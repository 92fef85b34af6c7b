import type { Middleware, ParameterizedContext } from 'koa';
import { BearerTokens, bearerToken } from '../shared/bearer-tokens.js';
import { HttpError } from './errors.js';

export interface AccessGrant {
  clientId: string;
  scopes: string[];
}

export interface EmulatorState {
  grant?: AccessGrant;
}
export type EmulatorContext = ParameterizedContext<EmulatorState>;
export type EmulatorMiddleware = Middleware<EmulatorState>;

const REALM = 'realm="lms-emulator"';

/**
 * The access tokens the token endpoint issued, each naming its tool and
 * scopes. A platform may revoke tokens before they expire (a restart that
 * forgets them, a key rotation, an administrator's action); a revoked token
 * is refused as an invalid one.
 */
export class AccessTokens extends BearerTokens<AccessGrant> {
  /** Live tokens by the tool they were issued to, so they can be revoked. */
  private readonly byClient = new Map<string, Set<string>>();
  /** Revoked tokens until they would have expired. */
  private readonly revoked = new Map<string, number>();

  override issue(grant: AccessGrant, ttlSeconds: number): string {
    const token = super.issue(grant, ttlSeconds);
    const tokens = this.byClient.get(grant.clientId) ?? new Set<string>();
    for (const t of tokens) if (!super.lookup(t)) tokens.delete(t);
    tokens.add(token);
    this.byClient.set(grant.clientId, tokens);
    return token;
  }

  override lookup(token: string): ReturnType<BearerTokens<AccessGrant>['lookup']> {
    return this.isRevoked(token) ? undefined : super.lookup(token);
  }

  /** Whether the token was revoked before it expired (once expired it is merely unknown). */
  isRevoked(token: string): boolean {
    const until = this.revoked.get(token);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.revoked.delete(token);
    return false;
  }

  /** Revokes every token issued so far (to one tool, or to all); returns how many. */
  revoke(clientId?: string): number {
    let count = 0;
    for (const [client, tokens] of this.byClient) {
      if (clientId !== undefined && client !== clientId) continue;
      for (const token of tokens) {
        const grant = super.lookup(token);
        if (grant) {
          this.revoked.set(token, grant.expiresAt);
          count++;
        }
      }
      this.byClient.delete(client);
    }
    return count;
  }
}

/**
 * RFC 6750 bearer authentication: 401 without a valid token, 403 when the
 * token has none of the scopes that allow this request.
 */
export function requireScope(tokens: AccessTokens, anyOf: readonly string[]): EmulatorMiddleware {
  return async (ctx, next) => {
    const token = bearerToken(ctx.get('authorization'));
    if (!token) {
      throw new HttpError(401, 'invalid_token', 'A bearer access token is required.', {
        headers: { 'WWW-Authenticate': `Bearer ${REALM}` },
      });
    }
    if (tokens.isRevoked(token)) {
      throw new HttpError(401, 'invalid_token', 'The access token has been revoked.', {
        headers: {
          'WWW-Authenticate': `Bearer ${REALM}, error="invalid_token", error_description="The access token has been revoked"`,
        },
      });
    }
    const grant = tokens.lookup(token);
    if (!grant) {
      throw new HttpError(401, 'invalid_token', 'The access token is unknown or has expired.', {
        headers: { 'WWW-Authenticate': `Bearer ${REALM}, error="invalid_token"` },
      });
    }
    if (!anyOf.some((scope) => grant.scopes.includes(scope))) {
      throw new HttpError(
        403,
        'insufficient_scope',
        `The access token lacks a scope for this request; one of: ${anyOf.join(' ')}.`,
        {
          headers: {
            'WWW-Authenticate': `Bearer ${REALM}, error="insufficient_scope", scope="${anyOf.join(' ')}"`,
          },
        },
      );
    }
    ctx.state.grant = grant;
    await next();
  };
}

/**
 * A valid token of a tool that is not available in the context it asks
 * about is refused with 401, as Canvas does ("Access Token not linked to a
 * Tool associated with this Context"): a new token does not help.
 */
export function requireToolInContext(
  ctx: EmulatorContext,
  available: (clientId: string) => boolean,
): void {
  if (!available(ctx.state.grant!.clientId)) {
    throw new HttpError(
      401,
      'invalid_token',
      'Access Token not linked to a Tool associated with this Context',
      { headers: { 'WWW-Authenticate': `Bearer ${REALM}, error="invalid_token"` } },
    );
  }
}
