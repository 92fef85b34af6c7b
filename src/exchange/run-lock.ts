import { randomUUID } from 'node:crypto';
import type { AppDeps } from '../deps.js';

/** An exchange's run lock: a row-level lease, renewed before every upload. */
export class RunLock {
  private readonly owner = randomUUID();
  constructor(
    private readonly deps: AppDeps,
    private readonly exchangeId: number,
  ) {}

  private get leaseMs(): number {
    return Math.max(this.deps.config.JOBS_LEASE_MS, this.deps.config.DATASYNC_TIMEOUT_MS * 2);
  }

  async acquire(): Promise<boolean> {
    const now = this.deps.clock.now();
    const taken = await this.deps
      .db('exchanges')
      .where({ id: this.exchangeId })
      .where((q) =>
        q
          .whereNull('locked_until')
          .orWhere('locked_until', '<', new Date(now).toISOString())
          .orWhere('locked_by', this.owner),
      )
      .update({ locked_by: this.owner, locked_until: new Date(now + this.leaseMs).toISOString() });
    return taken === 1;
  }

  /** Renews the lease; false when another runner took the exchange over meanwhile. */
  async renew(): Promise<boolean> {
    const taken = await this.deps
      .db('exchanges')
      .where({ id: this.exchangeId, locked_by: this.owner })
      .update({ locked_until: new Date(this.deps.clock.now() + this.leaseMs).toISOString() });
    return taken === 1;
  }

  async release(): Promise<void> {
    await this.deps
      .db('exchanges')
      .where({ id: this.exchangeId, locked_by: this.owner })
      .update({ locked_by: null, locked_until: null });
  }
}
