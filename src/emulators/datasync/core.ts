import type { AccessTokens } from './access-tokens.js';
import type { BatchStore } from './batch-store.js';
import type { ClientRegistry } from './client-registry.js';
import type { ExchangeStore } from './exchange-store.js';
import type { FaultInjector } from './fault-injector.js';
import type { NoticeSender } from './notice-sender.js';
import type { RateLimiter } from './rate-limiter.js';
import type { RequestMeter } from './request-meter.js';
import type { ScheduleStore } from './schedule-store.js';
import type { ConsumerDetails } from './types.js';

export interface EmulatorSettings {
  tokenTtlSeconds: number;
  maxPageSize: number;
  scheduleRunCooldownMs: number;
}

/** Everything the routes share: the emulator's state and settings. */
export interface EmulatorCore {
  url: string;
  settings: EmulatorSettings;
  clients: ClientRegistry;
  accessTokens: AccessTokens;
  exchanges: ExchangeStore;
  schedules: ScheduleStore;
  batches: BatchStore;
  notices: NoticeSender;
  meter: RequestMeter;
  limiter: RateLimiter;
  faults: FaultInjector;
  /** What GET /consumer answers; null answers 400. */
  consumer: ConsumerDetails | null;
  /** Data Sync section id to the consumer's source id. */
  sections: Map<string, string>;
  /** Person ids the SIS refuses, with the error code. */
  personFailures: Map<string, string>;
  /** Aborted by close(). */
  closing: AbortSignal;
}
