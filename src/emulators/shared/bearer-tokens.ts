import crypto from 'node:crypto';

/** A token's grant and when it expires (Date.now() milliseconds). */
export type Expiring<G> = G & { expiresAt: number };

/** Opaque bearer tokens issued by a token endpoint, each with its grant, kept until they expire. */
export class BearerTokens<G extends object> {
  private readonly grants = new Map<string, Expiring<G>>();
  private lastSweep = 0;

  issue(grant: G, ttlSeconds: number): string {
    this.sweep();
    const token = crypto.randomBytes(32).toString('base64url');
    this.grants.set(token, { ...grant, expiresAt: Date.now() + ttlSeconds * 1000 });
    return token;
  }

  lookup(token: string): Expiring<G> | undefined {
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

/** The token of an `Authorization: Bearer <token>` header (RFC 6750 2.1), if it is one. */
export function bearerToken(authorization: string): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
}
