import Database from 'better-sqlite3';
import type { Knex } from 'knex';
import { sqliteValue } from './bulk.js';
import { dbClient, type Db } from './knex.js';

/**
 * Rows of a query, one at a time, without holding the result in memory.
 * PostgreSQL: a server-side cursor (pg-query-stream) on a pooled connection.
 * SQLite: a read-only connection of its own iterating the statement, so the
 * shared connection stays free for other requests while a large result is
 * read; WAL lets it read a consistent snapshot beside the writer.
 */
export async function* streamRows<T = Record<string, unknown>>(
  db: Db,
  query: Knex.QueryBuilder,
): AsyncGenerator<T> {
  if (dbClient(db) === 'postgres') {
    const stream = query.stream({ highWaterMark: 500 });
    try {
      for await (const row of stream) yield row as T;
    } finally {
      stream.destroy();
    }
    return;
  }
  const file = (db.client.config.connection as { filename: string }).filename;
  const { sql, bindings } = query.toSQL().toNative();
  const connection = new Database(file, { readonly: true, fileMustExist: true });
  try {
    connection.pragma('busy_timeout = 5000');
    const statement = connection.prepare(sql);
    for (const row of statement.iterate(...bindings.map(sqliteValue))) yield row as T;
  } finally {
    connection.close();
  }
}
