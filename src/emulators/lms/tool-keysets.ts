import crypto, { type KeyObject } from 'node:crypto';

export class KeysetError extends Error {}

const FETCH_TIMEOUT_MS = 5000;

/**
 * The tools' public keys, fetched from their registered keyset URLs. Keys are
 * cached per URL; an unknown kid triggers one refetch (the tool may have
 * rotated its key), shared by every request waiting on the same URL.
 */
export class ToolKeysets {
  private readonly cache = new Map<string, Map<string, KeyObject>>();
  private readonly inflight = new Map<string, Promise<Map<string, KeyObject>>>();
  constructor(private readonly signal: AbortSignal) {}

  async key(keysetUrl: string, kid: string): Promise<KeyObject> {
    const cached = this.cache.get(keysetUrl)?.get(kid);
    if (cached) return cached;
    const keys = await this.refresh(keysetUrl);
    const key = keys.get(kid);
    if (!key) throw new KeysetError(`No key with kid "${kid}" in the tool's keyset ${keysetUrl}.`);
    return key;
  }

  private refresh(keysetUrl: string): Promise<Map<string, KeyObject>> {
    let pending = this.inflight.get(keysetUrl);
    if (!pending) {
      pending = this.load(keysetUrl).finally(() => this.inflight.delete(keysetUrl));
      this.inflight.set(keysetUrl, pending);
    }
    return pending;
  }

  private async load(keysetUrl: string): Promise<Map<string, KeyObject>> {
    let body: unknown;
    try {
      const res = await fetch(keysetUrl, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.any([this.signal, AbortSignal.timeout(FETCH_TIMEOUT_MS)]),
      });
      if (!res.ok) throw new KeysetError(`The tool's keyset ${keysetUrl} answered ${res.status}.`);
      body = await res.json();
    } catch (err) {
      if (err instanceof KeysetError) throw err;
      throw new KeysetError(`Cannot fetch the tool's keyset ${keysetUrl}: ${String(err)}`);
    }
    const jwks = (body as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(jwks)) throw new KeysetError(`The tool's keyset ${keysetUrl} has no keys.`);
    const keys = new Map<string, KeyObject>();
    for (const jwk of jwks as Array<Record<string, unknown>>) {
      if (typeof jwk?.kid !== 'string' || jwk.kty !== 'RSA') continue;
      if (jwk.use !== undefined && jwk.use !== 'sig') continue;
      try {
        keys.set(jwk.kid, crypto.createPublicKey({ key: jwk as crypto.JsonWebKey, format: 'jwk' }));
      } catch {
        // A malformed key is left out; a JWT naming it fails as an unknown kid.
      }
    }
    this.cache.set(keysetUrl, keys);
    return keys;
  }
}
