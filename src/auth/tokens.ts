import { createSecretKey, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { z } from 'zod';
import type { Db } from '../db/knex.js';

/** The only algorithm access tokens are signed and verified with. */
export const TOKEN_ALGORITHM = 'HS256' as const;
const ISSUER = 'gradebridge';
const AUDIENCE = 'gradebridge-api';

export const SCOPES = [
  'journey',
  'history',
  'progress',
  'exchange',
  'admin',
  'final-grades',
  'approval',
  'reconcile',
] as const;
export type Scope = (typeof SCOPES)[number];

const claimsSchema = z.object({
  sub: z.string(),
  tid: z.number().int().positive(),
  cid: z.number().int().positive(),
  scope: z.string(),
  jti: z.string(),
});

export interface TokenClaims {
  clientId: string;
  tenantId: number;
  apiClientId: number;
  scopes: string[];
}

export class InvalidTokenError extends Error {}

/** Short-lived access tokens for API clients, signed with a secret the instances share. */
export class TokenService {
  private readonly key: KeyObject;

  constructor(
    secret: string,
    readonly ttlSeconds: number,
  ) {
    // A KeyObject, not the string: jsonwebtoken would otherwise try (and fail)
    // to parse the string as a PEM key on every sign and verify.
    this.key = hmacKey(secret);
  }

  issue(claims: TokenClaims): { token: string; expiresIn: number } {
    const token = jwt.sign(
      {
        tid: claims.tenantId,
        cid: claims.apiClientId,
        scope: claims.scopes.join(' '),
        jti: randomUUID(),
      },
      this.key,
      {
        algorithm: TOKEN_ALGORITHM,
        expiresIn: this.ttlSeconds,
        issuer: ISSUER,
        audience: AUDIENCE,
        subject: claims.clientId,
      },
    );
    return { token, expiresIn: this.ttlSeconds };
  }

  /** Verifies signature (HS256 only), issuer, audience and expiry; throws InvalidTokenError. */
  verify(token: string): TokenClaims {
    let payload: unknown;
    try {
      payload = jwt.verify(token, this.key, {
        algorithms: [TOKEN_ALGORITHM],
        issuer: ISSUER,
        audience: AUDIENCE,
        clockTolerance: 5,
      });
    } catch (err) {
      const reason =
        err instanceof jwt.TokenExpiredError
          ? 'The access token has expired.'
          : 'Invalid access token.';
      throw new InvalidTokenError(reason);
    }
    const parsed = claimsSchema.safeParse(payload);
    if (!parsed.success) throw new InvalidTokenError('Invalid access token.');
    return {
      clientId: parsed.data.sub,
      tenantId: parsed.data.tid,
      apiClientId: parsed.data.cid,
      scopes: parsed.data.scope.split(' ').filter(Boolean),
    };
  }
}

/**
 * A secret for `purpose` (api-tokens, lti-encryption, lti-sessions): the
 * configured one when set, otherwise one generated on first start and kept in
 * the database, so every instance on the same database shares it.
 */
export async function loadSigningSecret(
  db: Db,
  purpose: string,
  configured: string | undefined,
  now: string,
): Promise<string> {
  if (configured) return configured;
  await db('signing_keys')
    .insert({ purpose, secret: randomBytes(48).toString('base64url'), created_at: now })
    .onConflict('purpose')
    .ignore();
  const row = await db('signing_keys').where({ purpose }).first('secret');
  return row.secret as string;
}

/** An HMAC key for jsonwebtoken, made once from a shared secret. */
export function hmacKey(secret: string): KeyObject {
  return createSecretKey(Buffer.from(secret, 'utf8'));
}
