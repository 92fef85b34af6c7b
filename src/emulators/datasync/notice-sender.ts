import crypto from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type {
  ExchangeCreatedNotice,
  ExchangeRecord,
  NoticeDelivery,
  NoticeTarget,
} from './types.js';
import { EXCHANGE_CREATED_EVENT, SIGNATURE_HEADER } from './vocabulary.js';

/** Waits before the retries of a failed delivery (three retries). */
export const NOTICE_RETRY_DELAYS_MS = [50, 100, 200] as const;
/** One delivery attempt gives up after this long. */
const NOTICE_ATTEMPT_TIMEOUT_MS = 5000;

/**
 * `t=<unix seconds>,v1=<hex HMAC-SHA256 with the secret over "<t>.<raw body>">`,
 * the value of the X-DataSync-Signature header.
 */
export function signNotice(secret: string, rawBody: string, t = Math.floor(Date.now() / 1000)) {
  const v1 = crypto.createHmac('sha256', secret).update(`${t}.${rawBody}`).digest('hex');
  return `t=${t},v1=${v1}`;
}

/** Checks a notice target; throws on nonsense. */
function checkNoticeTarget(target: NoticeTarget | null): NoticeTarget | null {
  if (target === null) return null;
  if (typeof target !== 'object') throw new Error('notice must be {url, secret} or null.');
  let url: URL;
  try {
    url = new URL(target.url);
  } catch {
    throw new Error('notice.url must be an absolute URL.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error('notice.url must be an http(s) URL.');
  }
  if (typeof target.secret !== 'string' || target.secret === '') {
    throw new Error('notice.secret must be a non-empty string.');
  }
  return { url: target.url, secret: target.secret };
}

/**
 * Sends a signed `grades.exchange.created` notice for every new exchange,
 * when a target is set: POST JSON, retried up to three times when it fails
 * (no answer, or not a 2xx). Deliveries run in the background and never throw.
 */
export class NoticeSender {
  private target: NoticeTarget | null = null;
  private readonly records: NoticeDelivery[] = [];
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly closing: AbortSignal) {}

  setTarget(target: NoticeTarget | null): void {
    this.target = checkNoticeTarget(target);
  }

  get deliveries(): NoticeDelivery[] {
    return structuredClone(this.records);
  }

  /** Resolves when every delivery started so far has succeeded or given up. */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  exchangeCreated(exchange: ExchangeRecord): void {
    const target = this.target;
    if (!target || this.closing.aborted) return;
    const event: ExchangeCreatedNotice = {
      id: crypto.randomUUID(),
      type: EXCHANGE_CREATED_EVENT,
      created_at: new Date().toISOString(),
      data: { exchange_id: exchange.id, course_app_id: exchange.courseAppId },
    };
    const delivery: NoticeDelivery = {
      event,
      url: target.url,
      status: 'pending',
      attempts: 0,
      responseStatus: null,
      error: null,
    };
    this.records.push(delivery);
    const run = this.deliver(delivery, target).catch((err: unknown) => {
      delivery.status = 'failed';
      delivery.error = String(err);
    });
    this.inFlight.add(run);
    void run.finally(() => this.inFlight.delete(run));
  }

  private async deliver(delivery: NoticeDelivery, target: NoticeTarget): Promise<void> {
    const body = JSON.stringify(delivery.event);
    for (let attempt = 0; attempt <= NOTICE_RETRY_DELAYS_MS.length; attempt += 1) {
      if (attempt > 0) {
        try {
          await delay(NOTICE_RETRY_DELAYS_MS[attempt - 1], undefined, { signal: this.closing });
        } catch {
          break; // closed
        }
      }
      if (this.closing.aborted) break;
      delivery.attempts += 1;
      try {
        const res = await fetch(target.url, {
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            [SIGNATURE_HEADER]: signNotice(target.secret, body),
          },
          body,
          redirect: 'manual',
          signal: AbortSignal.any([this.closing, AbortSignal.timeout(NOTICE_ATTEMPT_TIMEOUT_MS)]),
        });
        await res.arrayBuffer().catch(() => undefined);
        delivery.responseStatus = res.status;
        if (res.ok) {
          delivery.status = 'delivered';
          delivery.error = null;
          return;
        }
        delivery.error = `HTTP ${res.status}`;
      } catch (err) {
        delivery.responseStatus = null;
        delivery.error = err instanceof Error ? err.message : String(err);
      }
    }
    delivery.status = 'failed';
  }
}
