import crypto from 'node:crypto';
import type { Middleware, ParameterizedContext } from 'koa';
import { HttpError } from './errors.js';
import type { ClientRecord } from './types.js';

export interface AccessGrant {
  client: ClientRecord;
  expiresAt: number;
}

export interface EmulatorState {
  grant?: AccessGrant;
}
export type EmulatorContext = ParameterizedContext<EmulatorState>;
export type EmulatorMiddleware = Middleware<EmulatorState>;

/** Opaque bearer tokens issued by the token endpoint, kept until they expire. */
export class AccessTokens {
  private readonly grants = new Map<string, AccessGrant>();
  private lastSweep = 0;

  issue(client: ClientRecord, ttlSeconds: number): string {
    this.sweep();
    const token = crypto.randomBytes(32).toString('base64url');
    this.grants.set(token, { client, expiresAt: Date.now() + ttlSeconds * 1000 });
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

  /** Makes every token issued so far expired, as if their lifetime had passed. */
  expireAll(): void {
    this.grants.clear();
  }

  private sweep(): void {
    const now = Date.now();
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    for (const [token, grant] of this.grants) if (grant.expiresAt <= now) this.grants.delete(token);
  }
}

const unauthorized = (message: string, error?: string) =>
  new HttpError(401, message, {
    headers: {
      'WWW-Authenticate': `Bearer realm="datasync-emulator"${error ? `, error="${error}"` : ''}`,
    },
  });

/** Bearer authentication for the API: 401 without a known, unexpired token. */
export function requireToken(tokens: AccessTokens): EmulatorMiddleware {
  return async (ctx, next) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(ctx.get('authorization'));
    if (!match) throw unauthorized('A bearer access token is required.');
    const grant = tokens.lookup(match[1]!);
    if (!grant) throw unauthorized('The access token is unknown or has expired.', 'invalid_token');
    ctx.state.grant = grant;
    await next();
  };
}
