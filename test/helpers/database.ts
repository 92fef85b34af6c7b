import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knexFactory from 'knex';
import { createDb, type Db } from '../../src/db/knex.js';

/**
 * Test databases. SQLite is the default; with TEST_DB=postgres the whole
 * suite runs on PostgreSQL (TEST_DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/test). Each run gets a database of its own,
 * dropped at the end.
 */
export const testDbKind: 'sqlite' | 'postgres' =
  process.env.TEST_DB === 'postgres' ? 'postgres' : 'sqlite';

/** Where PostgreSQL-only suites connect; unset means they are skipped. */
export const postgresAdminUrl: string | undefined =
  process.env.TEST_DATABASE_URL ||
  (testDbKind === 'postgres' ? 'postgres://postgres@127.0.0.1:5432/test' : undefined);

export interface TestDatabase {
  kind: 'sqlite' | 'postgres';
  /** DATABASE_URL for PostgreSQL; undefined for SQLite. */
  url: string | undefined;
  /** SQLite file (and DATA_DIR) for SQLite. */
  dataDir: string;
  sqliteFile: string;
  open(): Db;
  drop(): Promise<void>;
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function createTestDatabase(
  kind: 'sqlite' | 'postgres' = testDbKind,
): Promise<TestDatabase> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradebridge-test-'));
  const sqliteFile = path.join(dataDir, 'gradebridge.sqlite');
  if (kind === 'sqlite') {
    return {
      kind,
      url: undefined,
      dataDir,
      sqliteFile,
      open: () => createDb({ sqliteFile }),
      drop: async () => fs.rmSync(dataDir, { recursive: true, force: true }),
    };
  }
  if (!postgresAdminUrl) throw new Error('TEST_DATABASE_URL is not set');
  const name = `gradebridge_test_${process.pid}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
  const admin = knexFactory({
    client: 'pg',
    connection: postgresAdminUrl,
    pool: { min: 0, max: 1 },
  });
  try {
    await admin.raw(`create database ${name}`);
  } finally {
    await admin.destroy();
  }
  const url = withDatabase(postgresAdminUrl, name);
  return {
    kind,
    url,
    dataDir,
    sqliteFile,
    open: () => createDb({ databaseUrl: url, poolMax: 10 }),
    drop: async () => {
      const adm = knexFactory({
        client: 'pg',
        connection: postgresAdminUrl,
        pool: { min: 0, max: 1 },
      });
      try {
        await adm.raw(`drop database if exists ${name} with (force)`);
      } finally {
        await adm.destroy();
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Whether PostgreSQL can be reached for PostgreSQL-only suites, with the reason when not. */
export function postgresSkipReason(): string | null {
  return postgresAdminUrl
    ? null
    : 'TEST_DATABASE_URL is not set (CI sets it to run the PostgreSQL suites)';
}
