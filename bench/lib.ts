import fs from 'node:fs';
import http from 'node:http';
import knexFactory from 'knex';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../config/index.js';
import { createApp } from '../src/app.js';
import { buildDeps } from '../src/bootstrap.js';
import type { AppDeps } from '../src/deps.js';
import { createDb, dbOptionsFromConfig } from '../src/db/knex.js';
import { migrateLatest } from '../src/db/migrate.js';
import { isoNow, systemClock } from '../src/db/time.js';
import { inTransaction } from '../src/db/transaction.js';
import { createLogger } from '../src/logger.js';
import { createApiClient, createTenant } from '../src/tenants/service.js';

export interface BenchServer {
  deps: AppDeps;
  config: Config;
  baseUrl: string;
  dataDir: string;
  close(): Promise<void>;
}

/** The service as it runs in production, listening on loopback, on a fresh database. */
export async function startServer(
  options: { databaseUrl?: string; env?: Record<string, string> } = {},
): Promise<BenchServer> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradebridge-bench-'));
  const config = loadConfig({
    NODE_ENV: 'production',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    JOURNEY_MAX_ITEMS: '5000',
    ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
    ...options.env,
  });
  const db = createDb(dbOptionsFromConfig(config));
  await migrateLatest(db);
  const deps: AppDeps = await buildDeps(config, db, createLogger({ level: 'warn' }), systemClock);
  const { koa } = createApp(deps);
  const server = http.createServer(koa.callback());
  server.keepAliveTimeout = 60000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    deps,
    config,
    baseUrl: `http://127.0.0.1:${port}`,
    dataDir,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await db.destroy();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function tenantToken(
  deps: AppDeps,
  scopes: string[],
): Promise<{ tenantId: number; token: string }> {
  return inTransaction(deps.db, async (trx) => {
    const now = isoNow(deps.clock);
    const tenant = await createTenant(trx, { name: 'Bench' }, now);
    const { client } = await createApiClient(
      trx,
      { tenantId: tenant.id, scopes, name: 'Bench client' },
      now,
    );
    const { token } = deps.tokens.issue({
      clientId: client.clientId,
      tenantId: tenant.id,
      apiClientId: client.id,
      scopes,
    });
    return { tenantId: tenant.id, token };
  });
}

export async function postJson(url: string, token: string, body: unknown): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return res.json();
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

export interface Measured {
  median: number;
  p99: number;
}

/** Median and 99th percentile of samples, rounded to `digits` decimals. */
export function stats(samples: number[], digits: number): Measured {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    median: Number(percentile(sorted, 50).toFixed(digits)),
    p99: Number(percentile(sorted, 99).toFixed(digits)),
  };
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', {
    maximumFractionDigits: digits,
    minimumFractionDigits: digits,
  });
}

export function saveResult(name: string, result: unknown): void {
  const dir = path.resolve(import.meta.dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
}

export function machine(): string {
  return `${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'cpu'}), Node ${process.version}`;
}

/**
 * Which databases a benchmark that runs on both should measure:
 * BENCH_DB=sqlite, BENCH_DB=postgres, or both (the default).
 */
export function benchDatabases(): { sqlite: boolean; postgres: boolean } {
  const only = process.env.BENCH_DB;
  return { sqlite: only !== 'postgres', postgres: only !== 'sqlite' };
}

/**
 * A fresh PostgreSQL database for one benchmark (BENCH_DATABASE_URL names
 * the server, default postgres://postgres@127.0.0.1:5432/test), or null with
 * the reason printed when the server cannot be reached. drop() removes it.
 */
export async function freshPostgres(
  label: string,
): Promise<{ url: string; drop(): Promise<void> } | null> {
  const admin = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const name = `gradebridge_bench_${label}_${process.pid}`;
  const adminDb = knexFactory({ client: 'pg', connection: admin, pool: { min: 0, max: 1 } });
  try {
    await adminDb.raw(`create database ${name}`);
  } catch (err) {
    await adminDb.destroy();
    console.log(`\nPostgreSQL skipped: ${(err as Error).message} (set BENCH_DATABASE_URL)`);
    return null;
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      try {
        await adminDb.raw(`drop database if exists ${name} with (force)`);
      } finally {
        await adminDb.destroy();
      }
    },
  };
}
