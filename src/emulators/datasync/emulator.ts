import type http from 'node:http';
import { checkNumberOption, closeServer, listen } from '../shared/server.js';
import { AccessTokens } from './access-tokens.js';
import { createApp } from './app.js';
import { BatchStore } from './batch-store.js';
import { ClientRegistry } from './client-registry.js';
import type { EmulatorCore } from './core.js';
import { API_PREFIX } from './exchange-routes.js';
import { ExchangeStore } from './exchange-store.js';
import { FaultInjector } from './fault-injector.js';
import { NoticeSender } from './notice-sender.js';
import { RateLimiter, type RateLimitSettings } from './rate-limiter.js';
import { receivedGrades } from './received-grades.js';
import { RequestMeter } from './request-meter.js';
import { ScheduleStore } from './schedule-store.js';
import { TOKEN_PATH } from './token-endpoint.js';
import type {
  BatchRecord,
  ClientInput,
  ClientRecord,
  ConsumerDetails,
  DataSyncEmulatorOptions,
  DataSyncStats,
  EmulatorEndpoints,
  ExchangeInput,
  ExchangeRecord,
  FaultSpec,
  NoticeDelivery,
  NoticeTarget,
  RateLimitOptions,
  ReceivedGrades,
  ScheduleInput,
  ScheduleRecord,
} from './types.js';
import { QUERY_TYPES, SUMMARY_TYPES } from './vocabulary.js';

/** What GET /consumer answers until setConsumer changes it. */
export const SAMPLE_CONSUMER: ConsumerDetails = {
  id: 'sample-sis-consumer',
  connector_type: 'sample_sis',
  supported_exchange_query_type: 'assignment_scores',
  summary_score_type: 'final',
};

function checkConsumer(consumer: ConsumerDetails | null): ConsumerDetails | null {
  if (consumer === null) return null;
  const { id, connector_type, supported_exchange_query_type, summary_score_type } = consumer;
  if (typeof id !== 'string' || typeof connector_type !== 'string') {
    throw new Error('consumer.id and consumer.connector_type must be strings.');
  }
  if (!QUERY_TYPES.includes(supported_exchange_query_type)) {
    throw new Error(
      `consumer.supported_exchange_query_type must be one of ${QUERY_TYPES.join(', ')}.`,
    );
  }
  if (!SUMMARY_TYPES.includes(summary_score_type)) {
    throw new Error(`consumer.summary_score_type must be one of ${SUMMARY_TYPES.join(', ')}.`);
  }
  return { ...consumer };
}

const copy = <T>(value: T): T => structuredClone(value);

/**
 * A stand-in for Instructure Data Sync's Grades Exchange API (`/v2/grades`)
 * and its OAuth2 token endpoint, on loopback, with knobs for tests: rate
 * limits, injected faults, signed notices, and a record of everything received.
 */
export class DataSyncEmulator {
  readonly url: string;
  readonly endpoints: EmulatorEndpoints;

  private constructor(
    private readonly core: EmulatorCore,
    private readonly server: http.Server,
    private readonly abort: AbortController,
  ) {
    this.url = core.url;
    this.endpoints = { token: `${core.url}${TOKEN_PATH}`, api: `${core.url}${API_PREFIX}` };
  }

  static async start(options: DataSyncEmulatorOptions = {}): Promise<DataSyncEmulator> {
    checkNumberOption('port', options.port, 0);
    checkNumberOption('tokenTtlSeconds', options.tokenTtlSeconds, Number.MIN_VALUE, {
      integer: false,
    });
    checkNumberOption('maxPageSize', options.maxPageSize, 1);
    checkNumberOption('scheduleRunCooldownSeconds', options.scheduleRunCooldownSeconds, 0, {
      integer: false,
    });
    const abort = new AbortController();
    const limiter = new RateLimiter();
    if (options.rateLimit) limiter.configure(options.rateLimit);
    const notices = new NoticeSender(abort.signal);
    notices.setTarget(options.notice ?? null);

    const { server, url } = await listen(options.host ?? '127.0.0.1', options.port ?? 0);
    const meter = new RequestMeter();
    const personFailures = new Map<string, string>();
    const core: EmulatorCore = {
      url,
      settings: {
        tokenTtlSeconds: options.tokenTtlSeconds ?? 3600,
        maxPageSize: options.maxPageSize ?? 100,
        scheduleRunCooldownMs: (options.scheduleRunCooldownSeconds ?? 5) * 1000,
      },
      clients: new ClientRegistry(),
      accessTokens: new AccessTokens(),
      exchanges: new ExchangeStore({
        onCreated: (record) => notices.exchangeCreated(record),
        onDuplicate: () => meter.duplicateChunk(),
        personFailures,
        consumerId: () => core.consumer?.id ?? null,
      }),
      schedules: new ScheduleStore(),
      batches: new BatchStore(),
      notices,
      meter,
      limiter,
      faults: new FaultInjector(),
      consumer: { ...SAMPLE_CONSUMER },
      sections: new Map(),
      personFailures,
      closing: abort.signal,
    };
    server.on('request', createApp(core).callback());
    return new DataSyncEmulator(core, server, abort);
  }

  /** Stops listening, ends every connection (held "timeout" ones too) and cancels notice retries. */
  async close(): Promise<void> {
    if (!this.server.listening) return;
    this.abort.abort();
    await closeServer(this.server);
    await this.core.notices.settled();
  }

  // --- clients ---

  /** Adds an OAuth2 client (or replaces one with the same id); its courseAppId scopes what it sees. */
  addClient(input: ClientInput): ClientRecord {
    return this.core.clients.add(input);
  }

  /** Makes every token issued so far expired (the next API call with one is a 401). */
  expireTokens(): void {
    this.core.accessTokens.expireAll();
  }

  // --- exchanges ---

  /**
   * Creates an exchange as if the SIS side asked for grades, and sends its
   * notice. The query is checked as POST /exchanges checks it, unless
   * `strict` is false: then any query object goes (say, a query type newer
   * than the producer), to test how a producer refuses what it cannot serve.
   */
  createExchange(input: ExchangeInput, options: { strict?: boolean } = {}): ExchangeRecord {
    return copy(this.core.exchanges.create(input, 'emulator', { strict: options.strict ?? true }));
  }

  exchange(id: string): ExchangeRecord | undefined {
    const found = this.core.exchanges.get(id);
    return found && copy(found.record);
  }

  exchanges(): ExchangeRecord[] {
    return this.core.exchanges.all().map((e) => copy(e.record));
  }

  /** What the exchange's accepted chunks carried, flattened in arrival order. */
  received(exchangeId: string): ReceivedGrades {
    const found = this.core.exchanges.get(exchangeId);
    if (!found) throw new Error(`Unknown exchange ${exchangeId}.`);
    return receivedGrades(found.record.chunks);
  }

  /** Makes the SIS refuse the scores and summaries of this person (by `$sys.id` or a source id). */
  failPerson(sourceIdOrSysId: string, errorCode: string): void {
    this.core.personFailures.set(sourceIdOrSysId, errorCode);
  }

  /** The SIS takes this person's grades again. */
  acceptPerson(sourceIdOrSysId: string): void {
    this.core.personFailures.delete(sourceIdOrSysId);
  }

  // --- traffic ---

  /** A snapshot of the request counters. */
  get stats(): DataSyncStats {
    return this.core.meter.snapshot();
  }

  resetStats(): void {
    this.core.meter.reset();
  }

  get rateLimit(): RateLimitSettings {
    return this.core.limiter.current;
  }

  setRateLimit(options: RateLimitOptions): void {
    this.core.limiter.configure(options);
  }

  /** Adds faults for the requests they match (checked first: none is added when one is wrong). */
  injectFaults(faults: FaultSpec[]): void {
    this.core.faults.add(faults);
  }

  /** The faults still waiting, with the count each has left. */
  pendingFaults(): FaultSpec[] {
    return this.core.faults.pending();
  }

  clearFaults(): void {
    this.core.faults.clear();
  }

  // --- paging ---

  /** The largest page a list answers, and its default page_size. */
  get maxPageSize(): number {
    return this.core.settings.maxPageSize;
  }

  setMaxPageSize(maxPageSize: number): void {
    checkNumberOption('maxPageSize', maxPageSize, 1);
    this.core.settings.maxPageSize = maxPageSize;
  }

  // --- notices ---

  setNotice(notice: NoticeTarget | null): void {
    this.core.notices.setTarget(notice);
  }

  /** Every notice sent or being sent, oldest first. */
  get notices(): NoticeDelivery[] {
    return this.core.notices.deliveries;
  }

  /** Resolves when every notice started so far was delivered or given up. */
  noticesSettled(): Promise<void> {
    return this.core.notices.settled();
  }

  // --- consumer, sections, batches, schedules ---

  /** What GET /consumer answers; null makes it a 400 ("Consumer is not configured"). */
  setConsumer(consumer: ConsumerDetails | null): void {
    this.core.consumer = checkConsumer(consumer);
  }

  addSection(dataSyncId: string, consumerSourceId: string): void {
    if (typeof dataSyncId !== 'string' || typeof consumerSourceId !== 'string') {
      throw new Error('dataSyncId and consumerSourceId must be strings.');
    }
    this.core.sections.set(dataSyncId, consumerSourceId);
  }

  createBatch(): { id: string } {
    return { id: this.core.batches.create().id };
  }

  batch(id: string): BatchRecord | undefined {
    const found = this.core.batches.get(id);
    return found && copy(found);
  }

  addSchedule(input: ScheduleInput = {}): ScheduleRecord {
    return copy(this.core.schedules.add(input));
  }

  schedule(id: string): ScheduleRecord | undefined {
    const found = this.core.schedules.get(id);
    return found && copy(found);
  }
}
