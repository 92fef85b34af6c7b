import type { Middleware } from 'koa';
import { HttpError } from './errors.js';
import type { RequestMeter } from './request-meter.js';
import type { RateLimitOptions } from './types.js';

const WINDOW_MS = 1000;

export type RateLimitSettings = Required<RateLimitOptions>;

/** Checks rate limit options; throws on nonsense. */
function rateLimitSettings(options: RateLimitOptions): RateLimitSettings {
  const { requestsPerSecond, retryAfter = true, status = 429 } = options;
  if (
    requestsPerSecond !== null &&
    !(Number.isInteger(requestsPerSecond) && requestsPerSecond >= 1)
  ) {
    throw new Error('rateLimit.requestsPerSecond must be an integer >= 1, or null.');
  }
  if (typeof retryAfter !== 'boolean') throw new Error('rateLimit.retryAfter must be a boolean.');
  if (status !== 429 && status !== 403) throw new Error('rateLimit.status must be 429 or 403.');
  return { requestsPerSecond, retryAfter, status };
}

/**
 * A sliding 1000 ms window over accepted requests: a request is refused when
 * the window already holds `requestsPerSecond` of them. Refused requests do
 * not take a place in the window.
 */
export class RateLimiter {
  private settings: RateLimitSettings = { requestsPerSecond: null, retryAfter: true, status: 429 };
  /** Times of the accepted requests of the last 1000 ms, oldest first. */
  private accepted: number[] = [];

  configure(options: RateLimitOptions): void {
    this.settings = rateLimitSettings(options);
  }

  get current(): RateLimitSettings {
    return { ...this.settings };
  }

  /** Null when the request is accepted, otherwise the milliseconds until a place frees up. */
  admit(now = Date.now()): number | null {
    while (this.accepted.length > 0 && this.accepted[0]! <= now - WINDOW_MS) this.accepted.shift();
    const limit = this.settings.requestsPerSecond;
    if (limit !== null && this.accepted.length >= limit) {
      return this.accepted[this.accepted.length - limit]! + WINDOW_MS - now;
    }
    this.accepted.push(now);
    return null;
  }
}

/**
 * Answers a request over the limit with 429 `Too Many Requests` or 403
 * `Rate Limit Exceeded`, with Retry-After in whole seconds (at least 1) unless
 * turned off.
 */
export function rateLimit(limiter: RateLimiter, meter: RequestMeter): Middleware {
  return async (ctx, next) => {
    const now = Date.now();
    const waitMs = limiter.admit(now);
    if (waitMs === null) {
      await next();
      return;
    }
    meter.throttled(now);
    const { status, retryAfter } = limiter.current;
    const headers: Record<string, string> = retryAfter
      ? { 'Retry-After': String(Math.max(1, Math.ceil(waitMs / 1000))) }
      : {};
    throw new HttpError(status, status === 429 ? 'Too Many Requests' : 'Rate Limit Exceeded', {
      headers,
    });
  };
}
