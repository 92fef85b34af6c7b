import crypto, { type KeyObject } from 'node:crypto';

export interface PublicJwk {
  kty: string;
  n: string;
  e: string;
  kid: string;
  alg: 'RS256';
  use: 'sig';
}

const HASHES: Record<string, string> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' };

function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

/** The platform's RSA signing key and its public JWK. */
export class PlatformKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly jwk: PublicJwk;

  constructor() {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.privateKey = privateKey;
    this.publicKey = publicKey;
    this.kid = crypto.randomBytes(12).toString('base64url');
    const { kty, n, e } = publicKey.export({ format: 'jwk' });
    this.jwk = { kty: kty!, n: n!, e: e!, kid: this.kid, alg: 'RS256', use: 'sig' };
  }

  /** An RS256 JWT with this key's kid: what the platform sends. */
  sign(payload: object): string {
    return this.signWith(payload, { kid: this.kid, alg: 'RS256' });
  }

  /**
   * Any JWS, for tests that need broken tokens: `kid: null` leaves the kid
   * out, `alg: 'none'` leaves the signature empty, and an HS* alg uses the
   * public key's PEM as the HMAC secret (the classic algorithm confusion).
   */
  signWith(payload: object, header: { kid?: string | null; alg?: string } = {}): string {
    const alg = header.alg ?? 'RS256';
    const kid = header.kid === undefined ? this.kid : header.kid;
    const head: Record<string, string> = { alg, typ: 'JWT' };
    if (kid !== null) head.kid = kid;
    const input = `${base64url(JSON.stringify(head))}.${base64url(JSON.stringify(payload))}`;
    return `${input}.${this.signature(alg, input)}`;
  }

  private signature(alg: string, input: string): string {
    if (alg === 'none') return '';
    const hash = HASHES[alg.slice(2)];
    if (alg.startsWith('RS') && hash) {
      return crypto.sign(hash, Buffer.from(input), this.privateKey).toString('base64url');
    }
    if (alg.startsWith('PS') && hash) {
      return crypto
        .sign(hash, Buffer.from(input), {
          key: this.privateKey,
          padding: crypto.constants.RSA_PKCS1_PSS_PADDING,
          saltLength: crypto.constants.RSA_PSS_SALTLEN_DIGEST,
        })
        .toString('base64url');
    }
    if (alg.startsWith('HS') && hash) {
      const secret = this.publicKey.export({ format: 'pem', type: 'spki' });
      return crypto.createHmac(hash, secret).update(input).digest('base64url');
    }
    throw new Error(`Cannot sign with alg ${alg}.`);
  }
}
