import crypto from 'node:crypto';

export interface Registered {
  clientId: string;
  deploymentId: string;
}

interface Entry {
  expiresAt: number;
  registered?: Registered;
  waiters: Array<(r: Registered) => void>;
}

/** One hour, as Moodle's registration tokens. */
const TOKEN_TTL_MS = 60 * 60 * 1000;

/** One-time bearer tokens for Dynamic Registration requests. */
export class RegistrationTokens {
  private readonly entries = new Map<string, Entry>();

  issue(): string {
    const now = Date.now();
    for (const [t, e] of this.entries) {
      if (e.expiresAt <= now && e.waiters.length === 0) this.entries.delete(t);
    }
    const token = crypto.randomBytes(24).toString('base64url');
    this.entries.set(token, { expiresAt: now + TOKEN_TTL_MS, waiters: [] });
    return token;
  }

  /** Why the token cannot register a tool, or undefined when it can. */
  problem(token: string): string | undefined {
    const entry = this.entries.get(token);
    if (!entry) return 'The registration token is unknown.';
    if (entry.registered) return 'The registration token has already been used.';
    if (entry.expiresAt <= Date.now()) return 'The registration token has expired.';
    return undefined;
  }

  complete(token: string, registered: Registered): void {
    const entry = this.entries.get(token);
    if (!entry) return;
    entry.registered = registered;
    for (const resolve of entry.waiters.splice(0)) resolve(registered);
  }

  /** The registration made with the token, waiting up to waitMs for it. */
  async registration(token: string, waitMs: number): Promise<Registered | undefined> {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    if (entry.registered || waitMs <= 0) return entry.registered;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        entry.waiters = entry.waiters.filter((w) => w !== done);
        resolve(undefined);
      }, waitMs);
      const done = (r: Registered) => {
        clearTimeout(timer);
        resolve(r);
      };
      entry.waiters.push(done);
    });
  }
}
