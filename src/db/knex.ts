import fs from 'node:fs';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import type { Config } from '../../config/index.js';

// PostgreSQL hands back bigint and timestamps in shapes that differ from
// SQLite's; normalise them once so the rest of the code sees one shape:
// numbers for ids and counts, ISO-8601 UTC strings for times.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (v) => Number(v));
pg.types.setTypeParser(pg.types.builtins.TIMESTAMPTZ, (v) => new Date(v).toISOString());
pg.types.setTypeParser(pg.types.builtins.TIMESTAMP, (v) => new Date(`${v}Z`).toISOString());

export type Db = Knex;
export type Trx = Knex.Transaction;
/** Either the database or an open transaction: what services take. */
export type Executor = Knex | Knex.Transaction;

export type DbClient = 'sqlite' | 'postgres';

export interface DbOptions {
  databaseUrl?: string | undefined;
  sqliteFile?: string;
  poolMax?: number;
}

export function dbOptionsFromConfig(config: Config): DbOptions {
  return {
    databaseUrl: config.DATABASE_URL,
    sqliteFile: config.sqliteFile,
    poolMax: config.DATABASE_POOL_MAX,
  };
}

export function knexConfig(options: DbOptions): Knex.Config {
  if (options.databaseUrl) {
    return {
      client: 'pg',
      connection: options.databaseUrl,
      pool: { min: 0, max: options.poolMax ?? 10 },
    };
  }
  const file = options.sqliteFile ?? path.resolve('data', 'gradebridge.sqlite');
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
  return {
    client: 'better-sqlite3',
    connection: { filename: file },
    useNullAsDefault: true,
    pool: {
      min: 1,
      max: 1,
      afterCreate(
        conn: { pragma: (s: string) => unknown },
        done: (err: Error | null, c: unknown) => void,
      ) {
        try {
          conn.pragma('journal_mode = WAL');
          conn.pragma('synchronous = NORMAL');
          conn.pragma('foreign_keys = ON');
          conn.pragma('busy_timeout = 5000');
          // 64 MiB of page cache: the version indexes stay in memory as the store grows.
          conn.pragma('cache_size = -65536');
          done(null, conn);
        } catch (err) {
          done(err as Error, conn);
        }
      },
    },
  };
}

export function createDb(options: DbOptions): Db {
  return knexFactory(knexConfig(options));
}

export function dbClient(db: Executor): DbClient {
  const name = db.client.config.client as string;
  return name === 'pg' || name === 'postgres' || name === 'postgresql' ? 'postgres' : 'sqlite';
}

/** Checks that the database answers; used by /readyz. */
export async function ping(db: Db, timeoutMs = 2000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      db.raw('select 1'),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('database did not answer in time')), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
