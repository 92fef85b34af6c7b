import jwt from 'jsonwebtoken';
import { KeysetError, type ToolKeysets } from './tool-keysets.js';
import type { ToolRecord } from './types.js';

/** Why a JWT signed by a tool was refused; the message is meant for the tool's developer. */
export class JwtRejected extends Error {}

export interface VerifiedToolJwt {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  tool: ToolRecord;
}

/** Decodes without verifying, for recording what was received. */
export function decodeJwt(
  token: string,
): { header: Record<string, unknown>; claims: Record<string, unknown> } | undefined {
  const decoded = jwt.decode(token, { complete: true });
  if (!decoded || typeof decoded.payload !== 'object' || decoded.payload === null) return undefined;
  return {
    header: decoded.header as unknown as Record<string, unknown>,
    claims: decoded.payload as Record<string, unknown>,
  };
}

/**
 * Verifies a JWT a tool signed (client assertion, deep linking response): RS256
 * only, iss names a registered tool, and the kid resolves in that tool's keyset.
 * Claims beyond the signature are left to the caller.
 */
export async function verifyToolJwt(
  token: string,
  findTool: (clientId: string) => ToolRecord | undefined,
  keysets: ToolKeysets,
): Promise<VerifiedToolJwt> {
  const decoded = decodeJwt(token);
  if (!decoded) throw new JwtRejected('The JWT cannot be decoded.');
  const { header, claims } = decoded;
  if (header.alg !== 'RS256') {
    throw new JwtRejected(`The JWT must be signed with RS256, not ${String(header.alg)}.`);
  }
  if (typeof claims.iss !== 'string' || claims.iss === '') {
    throw new JwtRejected('The JWT has no iss claim.');
  }
  const tool = findTool(claims.iss);
  if (!tool) throw new JwtRejected(`Unknown client "${claims.iss}".`);
  if (typeof header.kid !== 'string' || header.kid === '') {
    throw new JwtRejected('The JWT header has no kid.');
  }
  let key;
  try {
    key = await keysets.key(tool.keysetUrl, header.kid);
  } catch (err) {
    if (err instanceof KeysetError) throw new JwtRejected(err.message);
    throw err;
  }
  try {
    jwt.verify(token, key, { algorithms: ['RS256'], ignoreExpiration: true, clockTolerance: 60 });
  } catch (err) {
    throw new JwtRejected(`The JWT does not verify: ${(err as Error).message}.`);
  }
  return { header, claims, tool };
}

/** exp must be in the future and iat not more than 60 s ahead of our clock. */
export function lifetimeProblem(claims: Record<string, unknown>, nowSeconds: number) {
  if (typeof claims.exp !== 'number') return 'The JWT has no numeric exp claim.';
  if (claims.exp <= nowSeconds) return 'The JWT has expired (exp is in the past).';
  if (typeof claims.iat !== 'number') return 'The JWT has no numeric iat claim.';
  if (claims.iat > nowSeconds + 60) return 'The JWT was issued in the future (iat).';
  return undefined;
}

export function audienceIncludes(aud: unknown, accepted: string[]): boolean {
  const list = Array.isArray(aud) ? aud : [aud];
  return list.some((a) => typeof a === 'string' && accepted.includes(a));
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);
