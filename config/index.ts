/**
 * The one place that reads the environment. Every setting is parsed and
 * validated here; a bad value stops the process with a message naming it.
 */
import path from 'node:path';
import { z } from 'zod';

const bool = z.stringbool({
  truthy: ['1', 'true', 'yes', 'on'],
  falsy: ['0', 'false', 'no', 'off'],
});

const byteSize = z
  .string()
  .regex(/^\d+(\.\d+)?\s*(b|kb|mb|gb)?$/i, 'must be a size such as 512kb or 5mb')
  .transform((value) => {
    const match = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i.exec(value)!;
    const unit = (match[2] ?? 'b').toLowerCase();
    const factor = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[unit]!;
    return Math.floor(Number(match[1]) * factor);
  });

const timeZone = z
  .string()
  .refine(isTimeZone, 'must be an IANA time zone such as UTC or Europe/Berlin');

export function isTimeZone(value: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

/** Every setting, its default and its rule. The README's table mirrors this list. */
export const settingsSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  PUBLIC_URL: z
    .url({ protocol: /^https?$/ })
    .transform((url) => url.replace(/\/+$/, ''))
    .optional(),
  TRUST_PROXY: bool.default(false),
  DATA_DIR: z.string().min(1).default('data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(100).default(10),
  /** Web processes sharing PORT through node's cluster module (PostgreSQL only). */
  WEB_PROCESSES: z.coerce.number().int().min(1).max(64).default(1),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(86400).default(3600),
  TOKEN_SIGNING_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  JOURNEY_MAX_ITEMS: z.coerce.number().int().min(1).max(100000).default(1000),
  JOURNEY_MAX_BODY: byteSize.default(5 * 1024 * 1024),
  DEFAULT_TIME_ZONE: timeZone.default('UTC'),
  EXPORT_TTL_HOURS: z.coerce.number().int().min(1).max(720).default(24),
  WORKER_IN_PROCESS: bool.default(true),
  JOBS_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  JOBS_POLL_MS: z.coerce.number().int().min(10).max(60000).default(500),
  JOBS_LEASE_MS: z.coerce.number().int().min(1000).max(3600000).default(60000),
  LTI_ENCRYPTION_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
  LTI_COOKIE_SECURE: bool.optional(),
  LTI_CLOCK_TOLERANCE_SECONDS: z.coerce.number().int().min(0).max(300).default(5),
  LTI_TOKEN_MAX_AGE_SECONDS: z.coerce.number().int().min(10).max(3600).default(300),
  LTI_LOGIN_TTL_SECONDS: z.coerce.number().int().min(30).max(3600).default(600),
  LTI_SESSION_TTL_SECONDS: z.coerce.number().int().min(60).max(86400).default(28800),
  LTI_KEYSET_TTL_SECONDS: z.coerce.number().int().min(0).max(86400).default(3600),
  LTI_SCORE_MIN_INTERVAL_MS: z.coerce.number().int().min(0).max(60000).default(0),
  SECRETS_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .optional(),
  DATASYNC_POLL_SECONDS: z.coerce.number().int().min(0).max(86400).default(300),
  /** How long a grade sent to the SIS may wait for its outcome before the report calls it unknown. */
  RECONCILE_UNKNOWN_AFTER_MINUTES: z.coerce.number().int().min(1).max(10080).default(60),
  /** How often the reconciliation report is recomputed for every tenant (0: only on request). */
  RECONCILE_EVERY_SECONDS: z.coerce.number().int().min(0).max(86400).default(900),
  DATASYNC_TIMEOUT_MS: z.coerce.number().int().min(100).max(300000).default(15000),
  DATASYNC_RETRIES: z.coerce.number().int().min(0).max(20).default(5),
  WEBHOOK_MAX_BODY: byteSize.default(1024 * 1024),
  WEBHOOK_TOLERANCE_SECONDS: z.coerce.number().int().min(1).max(3600).default(300),
  DEMO: bool.default(true),
  DEMO_LMS: bool.default(true),
  DEMO_LMS_PORT: z.coerce.number().int().min(0).max(65535).default(4100),
  DEMO_DATASYNC: bool.default(true),
  DEMO_DATASYNC_PORT: z.coerce.number().int().min(0).max(65535).default(4200),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).max(600000).default(10000),
});

export type Settings = z.output<typeof settingsSchema>;

export interface Config extends Settings {
  /** Absolute DATA_DIR. */
  readonly dataDir: string;
  /** The SQLite file used when DATABASE_URL is not set. */
  readonly sqliteFile: string;
  /** Base URL the service is reached at, used in links it prints or returns. */
  readonly publicUrl: string;
  /**
   * Whether LTI cookies are Secure (and SameSite=None, so they come back with
   * a launch posted from an LMS on another site): LTI_COOKIE_SECURE, else an
   * https or loopback (localhost, 127.0.0.1, [::1]) service URL, where
   * browsers keep Secure cookies over plain http.
   */
  readonly cookieSecure: boolean;
}

/** An https URL, or http on a loopback host: browsers treat both as secure contexts. */
function isSecureContextUrl(url: string): boolean {
  const { protocol, hostname } = new URL(url);
  return (
    protocol === 'https:' ||
    hostname === 'localhost' ||
    hostname.endsWith('.localhost') ||
    hostname === '[::1]' ||
    /^127(\.\d{1,3}){3}$/.test(hostname)
  );
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parse settings from an environment (process.env by default). Empty strings
 * count as unset, so `PORT=` falls back to the default.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const input: Record<string, string> = {};
  for (const key of Object.keys(settingsSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value.trim() !== '') input[key] = value.trim();
  }
  const parsed = settingsSchema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? '(settings)');
        const given = input[name];
        const shown = /SECRET|KEY|DATABASE_URL|REDIS_URL/.test(name) ? '(hidden)' : given;
        return `${name}: ${issue.message}${given === undefined ? '' : ` (got ${JSON.stringify(shown)})`}`;
      }),
    );
  }
  const settings = parsed.data;
  if (settings.WEB_PROCESSES > 1 && !settings.DATABASE_URL) {
    throw new ConfigError([
      `WEB_PROCESSES: more than one web process needs DATABASE_URL (PostgreSQL); the embedded SQLite store has one writer (got "${settings.WEB_PROCESSES}")`,
    ]);
  }
  const dataDir = path.resolve(settings.DATA_DIR);
  const publicUrl =
    settings.PUBLIC_URL ??
    `http://${settings.HOST === '0.0.0.0' || settings.HOST === '::' ? 'localhost' : settings.HOST}:${settings.PORT}`;
  const config: Config = {
    ...settings,
    dataDir,
    sqliteFile: path.join(dataDir, 'gradebridge.sqlite'),
    publicUrl,
    cookieSecure: settings.LTI_COOKIE_SECURE ?? isSecureContextUrl(publicUrl),
  };
  return Object.freeze(config);
}
