import type { Statement, Database } from 'better-sqlite3';
import { dbClient, type Trx } from './knex.js';
import { isWellFormed } from './text.js';

export type Row = Record<string, unknown>;

export interface InsertOptions {
  /** ON CONFLICT target; with `merge` the listed columns are updated, otherwise the row is skipped. */
  conflict?: { columns: string[]; merge?: string[] };
  returning?: string[];
  /**
   * PostgreSQL: send the rows as one JSON parameter, read back with
   * json_populate_recordset over the table's own row type, instead of one
   * parameter per value (a batch of 500 versions is 9,000 parameters that
   * the driver serialises and the server parses and plans one by one). Used
   * when every row has the same columns and every value is a string, a
   * finite number, a boolean or null; otherwise the plain multi-row INSERT.
   */
  asJson?: boolean;
}

const statements = new WeakMap<Database, Map<string, Statement>>();

export function sqliteValue(value: unknown): unknown {
  if (value === undefined) return null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value instanceof Date) return value.toISOString();
  return value;
}

export const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * A prepared statement on the SQLite connection of a transaction, prepared
 * once per connection and reused. Values must be SQLite-ready (see sqliteValue).
 */
export async function sqliteStatement(trx: Trx, sql: string): Promise<Statement> {
  // Inside a transaction knex hands back the transaction's own connection.
  const connection = (await (
    trx.client as { acquireConnection(): Promise<Database> }
  ).acquireConnection()) as Database;
  let cache = statements.get(connection);
  if (!cache) statements.set(connection, (cache = new Map()));
  let statement = cache.get(sql);
  if (!statement) cache.set(sql, (statement = connection.prepare(sql)));
  return statement;
}

/**
 * Inserts many rows inside a transaction. On SQLite it runs one cached
 * prepared statement per row on the transaction's connection: knex writes a
 * multi-row SQLite insert as a compound SELECT that SQLite must re-plan on
 * every call, which costs several times the insert itself. On PostgreSQL it
 * is knex's multi-row INSERT, in chunks.
 */
export async function insertRows(
  trx: Trx,
  table: string,
  rows: Row[],
  options: InsertOptions = {},
): Promise<Row[]> {
  if (rows.length === 0) return [];
  const columns = Object.keys(rows[0]!);
  if (dbClient(trx) === 'postgres') {
    if (options.asJson && jsonSafe(rows, columns))
      return insertJson(trx, table, columns, rows, options);
    const out: Row[] = [];
    for (let i = 0; i < rows.length; i += 1000) {
      let query = trx(table).insert(rows.slice(i, i + 1000));
      if (options.conflict) {
        const target = query.onConflict(options.conflict.columns);
        query = options.conflict.merge ? target.merge(options.conflict.merge) : target.ignore();
      }
      if (options.returning) out.push(...((await query.returning(options.returning)) as Row[]));
      else await query;
    }
    return out;
  }
  let sql = `insert into ${quote(table)} (${columns.map(quote).join(', ')}) values (${columns.map(() => '?').join(', ')})`;
  if (options.conflict) {
    sql += ` on conflict (${options.conflict.columns.map(quote).join(', ')}) do `;
    sql += options.conflict.merge
      ? `update set ${options.conflict.merge.map((c) => `${quote(c)} = excluded.${quote(c)}`).join(', ')}`
      : 'nothing';
  }
  if (options.returning) sql += ` returning ${options.returning.map(quote).join(', ')}`;
  const statement = await sqliteStatement(trx, sql);
  const out: Row[] = [];
  const values: unknown[] = new Array(columns.length);
  for (const row of rows) {
    for (let i = 0; i < columns.length; i++) values[i] = sqliteValue(row[columns[i]!]);
    if (options.returning) {
      const returned = statement.get(values) as Row | undefined;
      if (returned) out.push(returned);
    } else {
      statement.run(values);
    }
  }
  return out;
}

/**
 * Whether rows can travel as JSON and come back as the same values: every
 * row with the given columns, every value a string (no NUL, no lone
 * surrogate), a finite number, a boolean or null (see InsertOptions.asJson).
 */
export function jsonSafe(rows: Row[], columns: string[]): boolean {
  for (const row of rows) {
    let n = 0;
    for (const key in row) {
      n++;
      const value = row[key];
      if (value === null || typeof value === 'boolean') continue;
      if (typeof value === 'number') {
        if (!Number.isFinite(value)) return false;
      } else if (typeof value !== 'string' || value.includes('\u0000') || !isWellFormed(value)) {
        return false;
      }
    }
    if (n !== columns.length) return false;
  }
  return true;
}

/**
 * One INSERT ... SELECT over json_populate_recordset(null::table, $1): the
 * rows in the order given (so ids follow it), one parameter for the batch.
 */
export function recordsetInsert(table: string, columns: string[], options: InsertOptions): string {
  const list = columns.map(quote).join(', ');
  let sql = `insert into ${quote(table)} (${list}) select ${list} from json_populate_recordset(null::${quote(table)}, ?::json)`;
  if (options.conflict) {
    sql += ` on conflict (${options.conflict.columns.map(quote).join(', ')}) do `;
    sql += options.conflict.merge
      ? `update set ${options.conflict.merge.map((c) => `${quote(c)} = excluded.${quote(c)}`).join(', ')}`
      : 'nothing';
  }
  if (options.returning) sql += ` returning ${options.returning.map(quote).join(', ')}`;
  return sql;
}

async function insertJson(
  trx: Trx,
  table: string,
  columns: string[],
  rows: Row[],
  options: InsertOptions,
): Promise<Row[]> {
  const sql = recordsetInsert(table, columns, options);
  const result = (await trx.raw(sql, [JSON.stringify(rows)])) as { rows: Row[] };
  return options.returning ? result.rows : [];
}

/**
 * A list parameter whose statement text does not depend on the list's
 * length: `col ${inList(trx, 'int')}` binds one JSON text on SQLite
 * (json_each) and one array on PostgreSQL. Pair it with listParam().
 */
export function inList(trx: Trx, type: 'int' | 'text'): string {
  return dbClient(trx) === 'postgres'
    ? `= any(?::${type}[])`
    : 'in (select value from json_each(?))';
}

export function listParam(trx: Trx, values: readonly unknown[]): unknown {
  return dbClient(trx) === 'postgres' ? values : JSON.stringify(values);
}

/** A raw read; on SQLite through a cached prepared statement. */
export async function readRows<T = Row>(trx: Trx, sql: string, params: unknown[]): Promise<T[]> {
  if (dbClient(trx) === 'postgres') {
    const result = await trx.raw(sql, params as readonly unknown[] as never);
    return (result as { rows: T[] }).rows;
  }
  const statement = await sqliteStatement(trx, sql);
  return statement.all(params.map(sqliteValue)) as T[];
}

/** A raw write; on SQLite through a cached prepared statement. Returns the rows changed. */
export async function writeRows(trx: Trx, sql: string, params: unknown[]): Promise<number> {
  if (dbClient(trx) === 'postgres') {
    const result = await trx.raw(sql, params as readonly unknown[] as never);
    return (result as { rowCount: number }).rowCount;
  }
  const statement = await sqliteStatement(trx, sql);
  return statement.run(params.map(sqliteValue)).changes;
}
