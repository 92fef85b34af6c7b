import type Bottleneck from 'bottleneck';
import type { Logger } from '../logger.js';
import type {
  Consumer,
  Exchange,
  ExchangeError,
  ExchangeErrorCode,
  ExchangeQuery,
  Page,
  Schedule,
} from './types.js';

/** The Data Sync API answered with an error that retrying will not fix (a 4xx other than a rate limit). */
export class ExchangeApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    readonly operation: string,
  ) {
    super(`Data Sync refused ${operation}: ${status} ${body.slice(0, 300)}`);
    this.name = 'ExchangeApiError';
  }
}

/** Data Sync could not be reached or kept failing (5xx, timeouts, dropped connections) after the client's retries. */
export class ExchangeUnavailableError extends Error {
  constructor(
    readonly operation: string,
    readonly reason: unknown,
    /** True when the last attempt got no answer at all (a timeout or a dropped connection): it may have arrived. */
    readonly unanswered = false,
  ) {
    super(
      `Data Sync is unavailable for ${operation}: ${reason instanceof Error ? reason.message : String(reason)}`,
    );
    this.name = 'ExchangeUnavailableError';
  }
}

export interface ExchangeClientOptions {
  baseUrl: string;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  /** Sent as course_app_id on the calls that take it. */
  courseAppId?: string | null;
  limiter: Bottleneck;
  /** Least time between two requests when the quota is not being hit; the client slows down from there on 429. */
  baseMinTimeMs: number;
  timeoutMs: number;
  /** Retries of a 5xx, a timeout or a dropped connection before giving up (429s are always retried). */
  retries: number;
  logger: Logger;
  /** Called with every throttled answer (for metrics and tests). */
  onThrottled?: (retryAfterMs: number | null) => void;
  /** Longest a single call keeps retrying rate-limit answers before it gives up to the job's own backoff. */
  throttleBudgetMs?: number;
}

interface Attempt {
  method: 'GET' | 'POST' | 'PATCH';
  path: string;
  query?: Record<string, string | number | undefined | null>;
  body?: string;
  operation: string;
  /** Answers (besides 2xx) that are results, not errors. */
  accept?: number[];
  /** False for uploads: a request that got no answer is not retried here (it may have arrived); the caller decides. */
  retryUnanswered?: boolean;
}

interface Answer {
  status: number;
  body: Buffer;
  retryAfter: string | null;
}

const MAX_BACKOFF_MS = 30_000;
const MIN_THROTTLE_WAIT_MS = 100;
/** Stands for the token endpoint in an Attempt (its URL is the token URL, not under the API). */
const TOKEN_PATH = '(token)';

const MAX_MIN_TIME_MS = 10_000;
/** A list longer than this many pages is taken for a server that ignores `page`. */
const MAX_PAGES = 10_000;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Retry-After in milliseconds: delta seconds or an HTTP date; null when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | null {
  if (!header) return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/**
 * Every page of a list, from page 0 until Data Sync answers an empty page.
 * Pages are as long as Data Sync's maximum page size (the default page_size),
 * which the client does not know: a short page is not the last one.
 */
export async function* everyPage<T>(
  list: (page: number) => Promise<T[]>,
  what = 'a list',
): AsyncGenerator<T[]> {
  for (let page = 0; page < MAX_PAGES; page++) {
    const items = await list(page);
    if (items.length === 0) return;
    yield items;
  }
  throw new Error(`Data Sync answered more than ${MAX_PAGES} pages listing ${what}`);
}

async function collect<T>(pages: AsyncGenerator<T[]>): Promise<T[]> {
  const all: T[] = [];
  for await (const items of pages) all.push(...items);
  return all;
}

/**
 * One client per Data Sync connection: every endpoint of the Grades Exchange
 * API, typed, with an OAuth2 client-credentials token cached until shortly
 * before it expires. Every request, the token request included, goes through
 * the connection's bottleneck limiter (requests per second and concurrency,
 * clustered through Redis when configured). A 429, or a 403 "Rate Limit
 * Exceeded", slows the limiter down, waits for Retry-After (or backs off) and
 * tries again; nothing is dropped. 5xx answers, timeouts and dropped
 * connections are retried with backoff up to `retries` times.
 */
export class ExchangeClient {
  private token: { value: string; expiresAt: number } | null = null;
  private tokenRequest: Promise<string> | null = null;
  private minTimeMs: number;
  private successes = 0;
  private pausedUntil = 0;

  constructor(private readonly o: ExchangeClientOptions) {
    this.minTimeMs = o.baseMinTimeMs;
  }

  // --- Exchanges -----------------------------------------------------------

  async listExchanges(
    filter: Page & { courseAppId?: string | null; state?: string } = {},
  ): Promise<Exchange[]> {
    const res = await this.json<{ data: Exchange[] }>({
      method: 'GET',
      path: '/exchanges',
      query: {
        page: filter.page,
        page_size: filter.pageSize,
        course_app_id: filter.courseAppId ?? this.o.courseAppId,
        state: filter.state,
      },
      operation: 'listing exchanges',
    });
    return (res?.data ?? []).filter((e): e is Exchange => !!e);
  }

  /** The exchanges page by page (each page as long as Data Sync's maximum page size), to the last. */
  exchangePages(
    filter: { courseAppId?: string | null; state?: string } = {},
  ): AsyncGenerator<Exchange[]> {
    return everyPage((page) => this.listExchanges({ ...filter, page }), 'exchanges');
  }

  /** Creates an exchange; the API answers `{"data": null}`, so the new exchange is found by listing. */
  async createExchange(input: {
    query: ExchangeQuery;
    metadata?: Record<string, unknown>;
  }): Promise<void> {
    await this.request({
      method: 'POST',
      path: '/exchanges',
      body: JSON.stringify({ query: input.query, metadata: input.metadata ?? {} }),
      operation: 'creating an exchange',
      // Not repeated blindly: the caller looks for it before asking again.
      retryUnanswered: false,
    });
  }

  async countExchanges(
    filter: { courseAppId?: string | null; state?: string } = {},
  ): Promise<number> {
    const res = await this.json<number>({
      method: 'GET',
      path: '/exchanges/count',
      query: { course_app_id: filter.courseAppId ?? this.o.courseAppId, state: filter.state },
      operation: 'counting exchanges',
    });
    return Number(res ?? 0);
  }

  /** The exchange, or null when Data Sync does not know it. */
  async getExchange(id: string): Promise<Exchange | null> {
    const res = await this.json<{ data: Exchange }>({
      method: 'GET',
      path: `/exchanges/${encodeURIComponent(id)}`,
      query: { course_app_id: this.o.courseAppId },
      operation: `reading exchange ${id}`,
      accept: [404],
    });
    return res?.data ?? null;
  }

  async listErrors(id: string, page: Page = {}): Promise<ExchangeError[]> {
    const res = await this.json<{ data: ExchangeError[] }>({
      method: 'GET',
      path: `/exchanges/${encodeURIComponent(id)}/errors`,
      query: { page: page.page, page_size: page.pageSize },
      operation: `listing the errors of exchange ${id}`,
    });
    return res?.data ?? [];
  }

  /** Every error of an exchange, all pages. */
  allErrors(id: string): Promise<ExchangeError[]> {
    return collect(
      everyPage((page) => this.listErrors(id, { page }), `the errors of exchange ${id}`),
    );
  }

  async createError(id: string, code: ExchangeErrorCode, details: string): Promise<ExchangeError> {
    const res = await this.json<{ data: ExchangeError }>({
      method: 'POST',
      path: `/exchanges/${encodeURIComponent(id)}/errors`,
      body: JSON.stringify({ code, details }),
      operation: `posting an error to exchange ${id}`,
    });
    return res!.data;
  }

  /** Uploads one chunk: a JSON body already serialised (its size was checked against max_data_content_length). */
  async postData(id: string, body: string): Promise<void> {
    await this.request({
      method: 'POST',
      path: `/exchanges/${encodeURIComponent(id)}/data`,
      body,
      operation: `uploading data to exchange ${id}`,
      retryUnanswered: false,
    });
  }

  /** The details artifact as Data Sync sends it (a .json.gz file, still gzipped), or null when there is none. */
  details(id: string): Promise<Buffer | null> {
    return this.artifact(id, 'details');
  }

  /** The consumer logs artifact (a .json.gz file, still gzipped), or null when nothing was sent to the SIS. */
  consumerLogs(id: string): Promise<Buffer | null> {
    return this.artifact(id, 'consumerlogs');
  }

  private async artifact(id: string, kind: 'details' | 'consumerlogs'): Promise<Buffer | null> {
    const res = await this.request({
      method: 'GET',
      path: `/exchanges/${encodeURIComponent(id)}/artifacts/${kind}`,
      query: { course_app_id: this.o.courseAppId },
      operation: `reading the ${kind} of exchange ${id}`,
      accept: [404],
    });
    return res.status === 404 ? null : res.body;
  }

  // --- Consumer, sections, batches, schedules --------------------------------

  /** The consumer of this grades application, or null when none is configured (400). */
  async consumer(): Promise<Consumer | null> {
    const res = await this.json<Consumer>({
      method: 'GET',
      path: '/consumer',
      operation: 'reading the consumer',
      accept: [400],
    });
    return res ?? null;
  }

  /** A Data Sync section id in the consumer's id space, or null when unknown. */
  async resolveSection(id: string): Promise<string | null> {
    const res = await this.json<{ consumerSourceId: string }>({
      method: 'GET',
      path: `/sections/${encodeURIComponent(id)}/resolve`,
      operation: `resolving section ${id}`,
      accept: [404],
    });
    return res?.consumerSourceId ?? null;
  }

  async batchError(id: string, code: string): Promise<void> {
    await this.request({
      method: 'POST',
      path: `/batch/${encodeURIComponent(id)}/error`,
      body: JSON.stringify({ code }),
      operation: `posting an error to batch ${id}`,
    });
  }

  async batchData(id: string, courseIds: string[]): Promise<void> {
    await this.request({
      method: 'POST',
      path: `/batch/${encodeURIComponent(id)}/data`,
      body: JSON.stringify({ course_ids: courseIds }),
      operation: `posting context data to batch ${id}`,
    });
  }

  async listSchedules(page: Page = {}): Promise<Schedule[]> {
    const res = await this.json<{ data: Array<Schedule | null> }>({
      method: 'GET',
      path: '/schedules',
      query: { page: page.page, page_size: page.pageSize },
      operation: 'listing schedules',
    });
    return (res?.data ?? []).filter((s): s is Schedule => !!s);
  }

  /** Every schedule, all pages. */
  allSchedules(): Promise<Schedule[]> {
    return collect(everyPage((page) => this.listSchedules({ page }), 'schedules'));
  }

  async updateSchedule(id: string, enabled: boolean): Promise<void> {
    await this.request({
      method: 'PATCH',
      path: `/schedules/${encodeURIComponent(id)}`,
      body: JSON.stringify({ enabled }),
      operation: `updating schedule ${id}`,
    });
  }

  /** Runs a schedule: 'queued', or 'conflict' when Data Sync rejects the run (409). */
  async runSchedule(id: string): Promise<'queued' | 'conflict'> {
    const res = await this.request({
      method: 'POST',
      path: `/schedules/${encodeURIComponent(id)}/run`,
      body: '{}',
      operation: `running schedule ${id}`,
      accept: [409],
    });
    return res.status === 409 ? 'conflict' : 'queued';
  }

  // --- Transport ---------------------------------------------------------------

  private async json<T>(a: Attempt): Promise<T | null> {
    const res = await this.request(a);
    if (res.status >= 300 || res.body.length === 0) return null;
    try {
      return JSON.parse(res.body.toString('utf8')) as T;
    } catch {
      throw new ExchangeApiError(res.status, 'the answer is not JSON', a.operation);
    }
  }

  private async request(a: Attempt): Promise<Answer> {
    const url = new URL(this.o.baseUrl.replace(/\/+$/, '') + a.path);
    for (const [k, v] of Object.entries(a.query ?? {})) {
      if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
    }
    return this.call(url, a, async () => {
      try {
        return { Authorization: `Bearer ${await this.accessToken()}` };
      } catch (err) {
        // No token, so nothing was sent: not an unanswered request.
        if (err instanceof ExchangeUnavailableError)
          throw new ExchangeUnavailableError(a.operation, err);
        throw err;
      }
    });
  }

  /**
   * One request to Data Sync, through the limiter, until it has an answer
   * that is not a rate limit: throttled answers wait and go again; 5xx,
   * timeouts and dropped connections are retried with backoff (except
   * uploads, which the caller retries and counts); a refused bearer token is
   * renewed once.
   */
  private async call(
    url: URL,
    a: Attempt & { contentType?: string },
    authorization: () => Promise<Record<string, string>>,
  ): Promise<Answer> {
    let failures = 0;
    let tokenRetried = false;
    const deadline = Date.now() + (this.o.throttleBudgetMs ?? 15 * 60_000);
    const retry = async (reason: unknown, unanswered: boolean) => {
      if ((unanswered && a.retryUnanswered === false) || ++failures > this.o.retries)
        throw new ExchangeUnavailableError(a.operation, reason, unanswered);
      await sleep(this.backoff(failures));
    };
    for (;;) {
      let res: Answer;
      try {
        res = await this.send(url, a.method, a.body, a.contentType, await authorization());
      } catch (err) {
        if (err instanceof ExchangeApiError || err instanceof ExchangeUnavailableError) throw err;
        await retry(err, true);
        continue;
      }
      if (isThrottled(res)) {
        if (Date.now() >= deadline)
          throw new ExchangeUnavailableError(a.operation, new Error('rate limited for too long'));
        await this.throttled(res, deadline);
        continue;
      }
      if (res.status === 401 && a.path !== TOKEN_PATH && !tokenRetried) {
        // The token expired or was revoked early: get a new one, once.
        this.token = null;
        tokenRetried = true;
        continue;
      }
      if (res.status >= 500) {
        // An upload answered 5xx may still have been stored: the caller decides, and counts a resend.
        await retry(new Error(`status ${res.status}`), a.retryUnanswered === false);
        continue;
      }
      this.succeeded();
      if (res.status < 300 || a.accept?.includes(res.status)) return res;
      throw new ExchangeApiError(res.status, res.body.toString('utf8'), a.operation);
    }
  }

  /** One HTTP exchange through the limiter; network failures and timeouts throw. */
  private async send(
    url: URL,
    method: string,
    body: string | undefined,
    contentType = 'application/json',
    headers: Record<string, string>,
  ): Promise<Answer> {
    await this.pause();
    return this.o.limiter.schedule(this.jobOptions(), async (): Promise<Answer> => {
      const res = await fetch(url, {
        method,
        headers: {
          Accept: 'application/json, application/octet-stream',
          ...(body !== undefined ? { 'Content-Type': contentType } : {}),
          ...headers,
        },
        body,
        signal: AbortSignal.timeout(this.o.timeoutMs),
      });
      return {
        status: res.status,
        body: Buffer.from(await res.arrayBuffer()),
        retryAfter: res.headers.get('retry-after'),
      };
    });
  }

  private async accessToken(): Promise<string> {
    if (this.token && this.token.expiresAt > Date.now()) return this.token.value;
    this.tokenRequest ??= this.fetchToken().finally(() => {
      this.tokenRequest = null;
    });
    return this.tokenRequest;
  }

  private async fetchToken(): Promise<string> {
    const operation = 'getting an access token';
    const basic = Buffer.from(
      `${encodeURIComponent(this.o.clientId)}:${encodeURIComponent(this.o.clientSecret)}`,
    ).toString('base64');
    const res = await this.call(
      new URL(this.o.tokenUrl),
      {
        method: 'POST',
        path: TOKEN_PATH,
        body: 'grant_type=client_credentials',
        contentType: 'application/x-www-form-urlencoded',
        operation,
      },
      async () => ({ Authorization: `Basic ${basic}` }),
    );
    if (res.status !== 200)
      throw new ExchangeApiError(res.status, res.body.toString('utf8'), operation);
    let parsed: { access_token?: string; expires_in?: number };
    try {
      parsed = JSON.parse(res.body.toString('utf8')) as typeof parsed;
    } catch {
      throw new ExchangeApiError(res.status, 'the answer is not JSON', operation);
    }
    if (!parsed.access_token) throw new ExchangeApiError(res.status, 'no access_token', operation);
    const ttlMs = (Number(parsed.expires_in) || 3600) * 1000;
    // Renewed a minute early (or at half its life when it is short).
    this.token = {
      value: parsed.access_token,
      expiresAt: Date.now() + Math.max(ttlMs - 60_000, ttlMs / 2),
    };
    return parsed.access_token;
  }

  /** Slows the limiter down, and holds this client's requests until Retry-After (or a backoff) has passed. */
  private async throttled(res: Answer, deadline: number): Promise<void> {
    const after = retryAfterMs(res.retryAfter);
    this.o.onThrottled?.(after);
    this.successes = 0;
    const slower = Math.min(MAX_MIN_TIME_MS, Math.max(this.minTimeMs * 2, 50));
    if (slower !== this.minTimeMs) {
      this.minTimeMs = slower;
      this.o.limiter.updateSettings({ minTime: slower });
      this.o.logger.warn(
        { minTimeMs: slower, retryAfterMs: after },
        'Data Sync throttled; slowing down',
      );
    }
    // At least a moment (Retry-After: 0 must not spin), at most what is left of the budget.
    const wanted = Math.max(
      MIN_THROTTLE_WAIT_MS,
      after ?? Math.min(MAX_BACKOFF_MS, this.minTimeMs * 10),
    );
    const wait = Math.min(wanted, Math.max(MIN_THROTTLE_WAIT_MS, deadline - Date.now()));
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + wait);
    await this.pause();
  }

  /** After enough answers in a row without throttling, speeds back up step by step to the quota. */
  private succeeded(): void {
    if (this.minTimeMs <= this.o.baseMinTimeMs) return;
    if (++this.successes < 20) return;
    this.successes = 0;
    this.minTimeMs = Math.max(this.o.baseMinTimeMs, Math.floor(this.minTimeMs / 2));
    this.o.limiter.updateSettings({ minTime: this.minTimeMs });
  }

  /** A request's slot in a clustered limiter is freed after this even if its process dies holding it. */
  private jobOptions(): Bottleneck.JobOptions {
    return { expiration: this.o.timeoutMs + 5000 };
  }

  private async pause(): Promise<void> {
    const wait = this.pausedUntil - Date.now();
    if (wait > 0) await sleep(wait);
  }

  private backoff(failures: number): number {
    const base = Math.min(MAX_BACKOFF_MS, 250 * 2 ** (failures - 1));
    return base / 2 + Math.random() * (base / 2);
  }
}

function isThrottled(res: Answer): boolean {
  if (res.status === 429) return true;
  return res.status === 403 && /rate limit exceeded/i.test(res.body.toString('utf8'));
}
