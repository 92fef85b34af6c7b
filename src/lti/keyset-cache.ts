import { createPublicKey, type KeyObject } from 'node:crypto';

interface Entry {
  keys: Map<string, KeyObject>;
  fetchedAt: number;
}

/**
 * Platforms' signing keys, fetched from their JWKS URL once and kept for
 * `ttlMs`. A launch signed with a kid the cache does not know refetches the
 * keyset (the platform rotated its keys), at most once per `minRefreshMs`, so
 * forged kids cannot make the tool hammer the platform. Concurrent misses share
 * one fetch.
 */
export class KeysetCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<Entry>>();

  constructor(
    private readonly options: {
      ttlMs: number;
      minRefreshMs: number;
      timeoutMs: number;
      now?: () => number;
    },
  ) {}

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  private fetch(url: string): Promise<Entry> {
    let pending = this.inflight.get(url);
    if (!pending) {
      pending = (async () => {
        const res = await fetch(url, {
          signal: AbortSignal.timeout(this.options.timeoutMs),
          headers: { Accept: 'application/json' },
        });
        if (!res.ok) throw new Error(`the platform's keyset answered ${res.status}`);
        const body = (await res.json()) as { keys?: Array<Record<string, unknown>> };
        if (!Array.isArray(body.keys)) throw new Error("the platform's keyset has no keys");
        const keys = new Map<string, KeyObject>();
        for (const jwk of body.keys) {
          if (typeof jwk.kid !== 'string' || jwk.kty !== 'RSA') continue;
          try {
            keys.set(jwk.kid, createPublicKey({ key: jwk as never, format: 'jwk' }));
          } catch {
            // A key the tool cannot read is skipped; the others still count.
          }
        }
        const entry = { keys, fetchedAt: this.now() };
        this.entries.set(url, entry);
        return entry;
      })().finally(() => this.inflight.delete(url));
      this.inflight.set(url, pending);
    }
    return pending;
  }

  /** The key with this kid from the keyset at `url`, or null when the platform does not have it. */
  async key(url: string, kid: string): Promise<KeyObject | null> {
    let entry = this.entries.get(url);
    const fresh = entry && this.now() - entry.fetchedAt < this.options.ttlMs;
    if (!entry || !fresh) entry = await this.fetch(url);
    else if (!entry.keys.has(kid) && this.now() - entry.fetchedAt >= this.options.minRefreshMs)
      entry = await this.fetch(url);
    return entry.keys.get(kid) ?? null;
  }

  get size(): number {
    return this.entries.size;
  }
}
