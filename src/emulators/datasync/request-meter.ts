import type { Middleware } from 'koa';
import type { DataSyncStats } from './types.js';

const WINDOW_MS = 1000;

function emptyStats(): DataSyncStats {
  return {
    requests: 0,
    byPath: {},
    throttled: 0,
    maxPerSecond: 0,
    duplicateChunks: 0,
    firstThrottledAt: null,
    timeline: [],
    faulted: 0,
  };
}

/**
 * Counts what reaches the API: every arrival (throttled ones too), by path,
 * with its time, and the most arrivals in any sliding 1000 ms window.
 */
export class RequestMeter {
  private stats = emptyStats();
  /** Arrivals of the last 1000 ms, oldest first. */
  private recent: number[] = [];

  arrival(path: string, now = Date.now()): void {
    const { stats } = this;
    stats.requests += 1;
    stats.byPath[path] = (stats.byPath[path] ?? 0) + 1;
    stats.timeline.push(now);
    this.recent.push(now);
    while (this.recent.length > 0 && this.recent[0]! <= now - WINDOW_MS) this.recent.shift();
    stats.maxPerSecond = Math.max(stats.maxPerSecond, this.recent.length);
  }

  throttled(now = Date.now()): void {
    this.stats.throttled += 1;
    this.stats.firstThrottledAt ??= now;
  }

  duplicateChunk(): void {
    this.stats.duplicateChunks += 1;
  }

  faulted(): void {
    this.stats.faulted += 1;
  }

  snapshot(): DataSyncStats {
    return { ...this.stats, byPath: { ...this.stats.byPath }, timeline: [...this.stats.timeline] };
  }

  reset(): void {
    this.stats = emptyStats();
    this.recent = [];
  }
}

/** Records each request's arrival in the meter. */
export function meterRequests(meter: RequestMeter): Middleware {
  return async (ctx, next) => {
    meter.arrival(ctx.path);
    await next();
  };
}
