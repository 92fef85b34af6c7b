import crypto from 'node:crypto';
import type { Middleware, ParameterizedContext } from 'koa';
import { HttpError } from './errors.js';

export interface AccessGrant {
  clientId: string;
  scopes: string[];
  expiresAt: number;
}

export interface EmulatorState {
  grant?: AccessGrant;
}
export type EmulatorContext = ParameterizedContext<EmulatorState>;
export type EmulatorMiddleware = Middleware<EmulatorState>;

const REALM = 'realm="lms-emulator"';

/** Opaque bearer tokens issued by the token endpoint, kept until they expire. */
export class AccessTokens {
  private readonly grants = new Map<string, AccessGrant>();
  private lastSweep = 0;

  issue(clientId: string, scopes: string[], ttlSeconds: number): string {
    this.sweep();
    const token = crypto.randomBytes(32).toString('base64url');
    this.grants.set(token, { clientId, scopes, expiresAt: Date.now() + ttlSeconds * 1000 });
    return token;
  }

  lookup(token: string): AccessGrant | undefined {
    const grant = this.grants.get(token);
    if (grant && grant.expiresAt <= Date.now()) {
      this.grants.delete(token);
      return undefined;
    }
    return grant;
  }

  private sweep(): void {
    const now = Date.now();
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    for (const [token, grant] of this.grants) if (grant.expiresAt <= now) this.grants.delete(token);
  }
}

/**
 * RFC 6750 bearer authentication: 401 without a valid token, 403 when the
 * token has none of the scopes that allow this request.
 */
export function requireScope(tokens: AccessTokens, anyOf: readonly string[]): EmulatorMiddleware {
  return async (ctx, next) => {
    const header = ctx.get('authorization');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) {
      throw new HttpError(401, 'invalid_token', 'A bearer access token is required.', {
        headers: { 'WWW-Authenticate': `Bearer ${REALM}` },
      });
    }
    const grant = tokens.lookup(match[1]!);
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
