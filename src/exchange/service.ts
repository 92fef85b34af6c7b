import { createHash, randomBytes } from 'node:crypto';
import type Bottleneck from 'bottleneck';
import type { Config } from '../../config/index.js';
import type { SecretBox } from '../auth/secret-box.js';
import type { Db, Executor, Trx } from '../db/knex.js';
import type { Clock } from '../db/time.js';
import type { Logger } from '../logger.js';
import { ExchangeClient } from './client.js';
import { LimiterFactory, minTimeFor } from './limiter.js';

/** The largest id an `increments()` column holds on PostgreSQL (a 32-bit integer). */
const MAX_ROW_ID = 2_147_483_647;

export interface ConnectionRow {
  id: number;
  tenant_id: number;
  base_url: string;
  token_url: string;
  client_id: string;
  client_secret: string;
  course_app_id: string | null;
  rate_per_second: number;
  concurrency: number;
  notice_secret: string;
  /** During a rotation's overlap: the previous notice secret (sealed) and until when it is accepted. */
  previous_notice_secret?: string | null;
  previous_notice_secret_until?: string | null;
  last_polled_at: string | null;
  updated_at: string;
}

export interface ConnectionInput {
  tenantId: number;
  baseUrl: string;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  courseAppId?: string | null;
  ratePerSecond: number;
  concurrency: number;
}

export interface ConnectionSummary {
  tenantId: number;
  connectionId: number;
  baseUrl: string;
  tokenUrl: string;
  clientId: string;
  courseAppId: string | null;
  ratePerSecond: number;
  concurrency: number;
  noticeUrl: string;
  /** Shown once, when the connection is made or the secret rotated. */
  noticeSecret?: string;
}

/**
 * A tenant's Data Sync connection and the clients built from it: one client
 * (and one limiter) per connection, rebuilt when the connection changes.
 * Secrets are stored sealed and opened only to make a client.
 */
export class ExchangeService {
  private readonly limiters: LimiterFactory;
  private readonly clients = new Map<
    number,
    { version: string; client: ExchangeClient; limiter: Bottleneck }
  >();
  /** Rate-limit answers seen by this process's clients (reported by `datasync poll` and the benchmark). */
  throttled = 0;

  constructor(
    private readonly o: {
      config: Config;
      db: Db;
      logger: Logger;
      clock: Clock;
      secrets: SecretBox;
    },
  ) {
    this.limiters = new LimiterFactory(o.config.REDIS_URL, o.logger);
  }

  get clustered(): boolean {
    return this.limiters.clustered;
  }

  /** A connection by its id, or null (an id no row can have, such as one beyond 32 bits, is none). */
  async connectionById(db: Executor, id: number): Promise<ConnectionRow | null> {
    if (!Number.isSafeInteger(id) || id < 1 || id > MAX_ROW_ID) return null;
    return ((await db('datasync_connections').where({ id }).first()) ??
      null) as ConnectionRow | null;
  }

  async connection(db: Executor, tenantId: number): Promise<ConnectionRow | null> {
    return ((await db('datasync_connections').where({ tenant_id: tenantId }).first()) ??
      null) as ConnectionRow | null;
  }

  /** Creates or updates the tenant's connection. A new connection gets a notice secret (returned once). */
  async connect(trx: Trx, input: ConnectionInput, now: string): Promise<ConnectionSummary> {
    const existing = await this.connection(trx, input.tenantId);
    const values = {
      base_url: input.baseUrl.replace(/\/+$/, ''),
      token_url: input.tokenUrl,
      client_id: input.clientId,
      client_secret: this.o.secrets.seal(input.clientSecret),
      course_app_id: input.courseAppId ?? null,
      rate_per_second: input.ratePerSecond,
      concurrency: input.concurrency,
      updated_at: now,
    };
    let noticeSecret: string | undefined;
    let id: number;
    if (existing) {
      await trx('datasync_connections').where({ id: existing.id }).update(values);
      id = existing.id;
    } else {
      noticeSecret = randomBytes(32).toString('base64url');
      const [row] = await trx('datasync_connections')
        .insert({
          tenant_id: input.tenantId,
          ...values,
          notice_secret: this.o.secrets.seal(noticeSecret),
          created_at: now,
        })
        .returning('id');
      id = row.id;
    }
    return {
      ...this.summary({
        id,
        tenant_id: input.tenantId,
        ...values,
        notice_secret: '',
        last_polled_at: null,
      }),
      ...(noticeSecret ? { noticeSecret } : {}),
    };
  }

  summary(row: ConnectionRow): ConnectionSummary {
    return {
      tenantId: row.tenant_id,
      connectionId: row.id,
      baseUrl: row.base_url,
      tokenUrl: row.token_url,
      clientId: row.client_id,
      courseAppId: row.course_app_id,
      ratePerSecond: row.rate_per_second,
      concurrency: row.concurrency,
      noticeUrl: `${this.o.config.publicUrl}/webhooks/datasync/${row.id}`,
    };
  }

  /** The secret Data Sync's notices to this connection are signed with. */
  noticeSecret(row: ConnectionRow): string {
    return this.o.secrets.open(row.notice_secret);
  }

  /** The connection's client; every request of every client of this connection shares its limiter. */
  client(row: ConnectionRow): ExchangeClient {
    const version = `${row.updated_at}`;
    const cached = this.clients.get(row.id);
    if (cached && cached.version === version) return cached.client;
    if (cached) cached.limiter.disconnect().catch(() => undefined);
    // The quota belongs to the Data Sync client: every connection (and process) using it shares one limiter.
    const quotaId = createHash('sha256')
      .update(`${row.base_url}\n${row.client_id}`)
      .digest('hex')
      .slice(0, 24);
    const limiter = this.limiters.create(
      `gradebridge-datasync-${quotaId}`,
      row.rate_per_second,
      row.concurrency,
    );
    const client = new ExchangeClient({
      baseUrl: row.base_url,
      tokenUrl: row.token_url,
      clientId: row.client_id,
      clientSecret: this.o.secrets.open(row.client_secret),
      courseAppId: row.course_app_id,
      limiter,
      baseMinTimeMs: minTimeFor(row.rate_per_second),
      timeoutMs: this.o.config.DATASYNC_TIMEOUT_MS,
      retries: this.o.config.DATASYNC_RETRIES,
      logger: this.o.logger.child({ datasyncConnection: row.id }),
      onThrottled: () => {
        this.throttled++;
      },
    });
    this.clients.set(row.id, { version, client, limiter });
    return client;
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.clients.values()].map((c) => c.limiter.disconnect(false).catch(() => undefined)),
    );
    this.clients.clear();
    await this.limiters.close();
  }
}
