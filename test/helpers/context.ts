import { Writable } from 'node:stream';
import supertest from 'supertest';
import { loadConfig, type Config } from '../../config/index.js';
import { createApp, type App } from '../../src/app.js';
import { buildDeps } from '../../src/bootstrap.js';
import type { AppDeps } from '../../src/deps.js';
import type { Db } from '../../src/db/knex.js';
import { migrateLatest } from '../../src/db/migrate.js';
import type { Clock } from '../../src/db/time.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from './database.js';

/** A clock tests can stop and move; it runs with real time until set. */
export class TestClock implements Clock {
  private fixed: number | null = null;
  now(): number {
    return this.fixed ?? Date.now();
  }
  set(iso: string | number): void {
    this.fixed = typeof iso === 'number' ? iso : Date.parse(iso);
  }
  advance(ms: number): void {
    this.fixed = this.now() + ms;
  }
  release(): void {
    this.fixed = null;
  }
}

/** Captures log lines so tests can check what reaches the log. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.lines.push(chunk.toString('utf8'));
    done();
  }
  text(): string {
    return this.lines.join('');
  }
}

export interface TestContext {
  database: TestDatabase;
  db: Db;
  config: Config;
  deps: AppDeps;
  app: App;
  clock: TestClock;
  logs: LogCapture;
  http: ReturnType<typeof supertest>;
}

export interface BuildOptions {
  env?: Record<string, string>;
  database?: TestDatabase;
}

/** Builds an app on its own database. */
export async function buildContext(options: BuildOptions = {}): Promise<TestContext> {
  const database = options.database ?? (await createTestDatabase());
  const config = loadConfig({
    NODE_ENV: 'test',
    DATA_DIR: database.dataDir,
    ...(database.url ? { DATABASE_URL: database.url } : {}),
    LOG_LEVEL: 'info',
    ...options.env,
  });
  const db = database.open();
  await migrateLatest(db);
  const clock = new TestClock();
  const logs = new LogCapture();
  const logger = createLogger({ level: config.LOG_LEVEL }, logs);
  const deps: AppDeps = await buildDeps(config, db, logger, clock);
  const app = createApp(deps);
  return { database, db, config, deps, app, clock, logs, http: supertest(app.koa.callback()) };
}

let shared: Promise<TestContext> | null = null;

/** The run's shared app and database; tests keep apart by creating tenants of their own. */
export function sharedContext(): Promise<TestContext> {
  shared ??= buildContext();
  return shared;
}

export async function closeSharedContext(): Promise<void> {
  if (!shared) return;
  const ctx = await shared;
  shared = null;
  await ctx.deps.exchange.close();
  await ctx.db.destroy();
  await ctx.database.drop();
}
