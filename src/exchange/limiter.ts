import Bottleneck from 'bottleneck';
import { Redis } from 'ioredis';
import type { Logger } from '../logger.js';

/**
 * Headroom under the quota. The limiter spaces the moments requests leave;
 * a process held up by other work (or the network) can make one leave late
 * and the next on time, so arrivals bunch: at 5 % under, 11 arrivals landed in
 * one second of a quota of 10 on a busy machine. 20 % under leaves 200 ms of
 * such bunching per second before a quota of 10 (or 20) is crossed.
 */
const HEADROOM = 1.2;

/** The least time between two requests for a quota in requests per second. */
export function minTimeFor(requestsPerSecond: number): number {
  return Math.ceil((1000 / requestsPerSecond) * HEADROOM);
}

/**
 * Makes the bottleneck limiters that Data Sync calls go through: in-process
 * by default; with a Redis URL, clustered, so every worker process sharing a
 * connection's id shares one quota (bottleneck keeps the schedule in Redis).
 */
export class LimiterFactory {
  private connection: Bottleneck.IORedisConnection | null = null;

  constructor(
    private readonly redisUrl: string | undefined,
    private readonly logger: Logger,
  ) {}

  get clustered(): boolean {
    return !!this.redisUrl;
  }

  create(id: string, requestsPerSecond: number, concurrency: number): Bottleneck {
    const settings: Bottleneck.ConstructorOptions = {
      id,
      maxConcurrent: concurrency,
      minTime: minTimeFor(requestsPerSecond),
    };
    if (!this.redisUrl) return new Bottleneck(settings);
    this.connection ??= this.connect(this.redisUrl);
    const limiter = new Bottleneck({
      ...settings,
      datastore: 'ioredis',
      connection: this.connection,
      clearDatastore: false,
      // Keys of a limiter nobody used for a day are removed from Redis.
      timeout: 24 * 3600 * 1000,
    });
    limiter.on('error', (err: unknown) => this.logger.error({ err }, 'rate limiter error'));
    // A limiter that already exists in Redis keeps its stored settings: bring them to this quota.
    limiter.updateSettings({ maxConcurrent: concurrency, minTime: minTimeFor(requestsPerSecond) });
    return limiter;
  }

  private connect(url: string): Bottleneck.IORedisConnection {
    const client = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: false });
    const connection = new Bottleneck.IORedisConnection({ client, Redis } as never);
    connection.on('error', (err: unknown) => this.logger.error({ err }, 'Redis error'));
    return connection;
  }

  async close(): Promise<void> {
    if (this.connection) await this.connection.disconnect(true);
    this.connection = null;
  }
}
