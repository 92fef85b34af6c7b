/**
 * 100,000 grade values through gradeValueAPI in batches of 500 over HTTP, on
 * the embedded default (SQLite, WAL) and on PostgreSQL, each next to the
 * same version rows written without the service into the same schema with
 * its indexes, measured in the same run: on SQLite plain better-sqlite3
 * prepared inserts, on PostgreSQL plain multi-row INSERTs and COPY, in
 * transactions of 500. BENCH_DB=sqlite or BENCH_DB=postgres runs one.
 */
import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createDb } from '../src/db/knex.js';
import { migrateLatest } from '../src/db/migrate.js';
import { runPlan } from './http-client.js';
import {
  benchDatabases,
  fmt,
  freshPostgres,
  machine,
  postJson,
  saveResult,
  startServer,
  tenantToken,
  type BenchServer,
} from './lib.js';

const COURSES = 50;
const COLUMNS = 4;
const LEARNERS = 500;
const BATCH = 500;
const TOTAL = COURSES * COLUMNS * LEARNERS;

type VersionRow = Record<string, unknown>;

const median = (samples: number[]) =>
  [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;

interface ServiceFigures {
  requests: number;
  seconds: number;
  valuesPerSecond: number;
  sequentialValuesPerSecond: number;
  twoClientsValuesPerSecond: number;
  /** Median time of one request of 500, one client. */
  sequentialMedianMs: number;
}

/** Sets up 50 courses and sends the 100,000 values: half from one client, half from two. */
export async function measureService(
  server: BenchServer,
): Promise<{ figures: ServiceFigures; versions: VersionRow[] }> {
  const { token, tenantId } = await tenantToken(server.deps, ['journey']);
  const journey = `${server.baseUrl}/learn/api/v2/cc/gradejourney`;
  await postJson(`${journey}/gradeSchemasAPI`, token, [
    { title: 'Letter', symbols: 'A=90:B=80:C=70:D=60:F=0' },
  ]);
  const courses = Array.from({ length: COURSES }, (_, c) => `BENCH-${c + 1}`);
  const columns = Array.from({ length: COLUMNS }, (_, k) => `Assignment ${k + 1}`);
  for (const courseId of courses) {
    await postJson(
      `${journey}/gradableItemsAPI`,
      token,
      columns.map((name) => ({
        courseId,
        name,
        itemType: 'ASSIGNMENT',
        points: 100,
        gradeSchema: 'Letter',
      })),
    );
    await postJson(
      `${journey}/userMetadataAPI`,
      token,
      Array.from({ length: LEARNERS }, (_, l) => ({
        courseId,
        userId: `learner-${l + 1}`,
        optionalData: 'EnrollType=LetterGrade',
      })),
    );
  }
  const batches: unknown[][] = [];
  for (const courseId of courses) {
    for (const name of columns) {
      const items = Array.from({ length: LEARNERS }, (_, l) => ({
        courseId,
        userId: `learner-${l + 1}`,
        name,
        value: String(50 + ((l * 7 + name.length) % 51)),
      }));
      for (let i = 0; i < items.length; i += BATCH) batches.push(items.slice(i, i + BATCH));
    }
  }
  // Warm-up on a throwaway course so JIT, caches and the pool are hot before timing.
  await postJson(`${journey}/gradableItemsAPI`, token, [
    { courseId: 'WARM', name: 'W', itemType: 'ASSIGNMENT' },
  ]);
  for (let i = 0; i < 10; i++) {
    await postJson(
      `${journey}/gradeValueAPI`,
      token,
      Array.from({ length: BATCH }, (_, l) => ({
        courseId: 'WARM',
        userId: `w-${l}`,
        name: 'W',
        value: String(i + (l % 90)),
      })),
    );
  }

  const bodies = batches.map((b) => JSON.stringify(b));
  const half = bodies.length / 2;
  // One client sending batch after batch, then two clients at once (on the other half of the values).
  const sequential = await runPlan({
    url: `${journey}/gradeValueAPI`,
    token,
    bodies: bodies.slice(0, half),
    failOn: '"status":"ERROR"',
  });
  const parallel = await runPlan({
    url: `${journey}/gradeValueAPI`,
    token,
    bodies: bodies.slice(half),
    concurrency: 2,
    failOn: '"status":"ERROR"',
  });
  const seconds = sequential.seconds + parallel.seconds;
  const latencies = [...sequential.latenciesMs].sort((a, b) => a - b);

  const versions = (await server.deps
    .db('grade_versions')
    .join('courses', 'courses.id', 'grade_versions.course_id')
    .where('grade_versions.tenant_id', tenantId)
    .whereNot('courses.batch_uid', 'WARM')
    .orderBy('grade_versions.id')
    .select('grade_versions.*')) as VersionRow[];
  if (versions.length !== TOTAL)
    throw new Error(`expected ${TOTAL} versions, found ${versions.length}`);
  return {
    figures: {
      requests: batches.length,
      seconds: Number(seconds.toFixed(2)),
      valuesPerSecond: Math.round(TOTAL / seconds),
      sequentialValuesPerSecond: Math.round(TOTAL / 2 / sequential.seconds),
      twoClientsValuesPerSecond: Math.round(TOTAL / 2 / parallel.seconds),
      sequentialMedianMs: Number(median(latencies).toFixed(2)),
    },
    versions,
  };
}

/**
 * SQLite's ceiling: the same version rows, inserted with a prepared statement
 * in transactions of 500 into a fresh copy of the schema (WAL, synchronous=NORMAL).
 */
async function sqliteCeiling(
  server: BenchServer,
  versions: VersionRow[],
): Promise<{ rate: number; medianMs: number }> {
  const baseDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradebridge-bench-base-'));
  const baseFile = path.join(baseDir, 'base.sqlite');
  const knex = createDb({ sqliteFile: baseFile });
  await migrateLatest(knex);
  await knex.destroy();
  const base = new Database(baseFile);
  try {
    base.pragma('journal_mode = WAL');
    base.pragma('synchronous = NORMAL');
    base.pragma('foreign_keys = ON');
    base.exec(`attach database '${server.config.sqliteFile}' as svc`);
    for (const table of [
      'tenants',
      'users',
      'api_clients',
      'grade_schemas',
      'courses',
      'grade_columns',
      'submissions',
    ]) {
      base.exec(`insert into main.${table} select * from svc.${table}`);
    }
    base.exec('detach database svc');
    const cols = Object.keys(versions[0]!).filter((c) => c !== 'id');
    const insert = base.prepare(
      `insert into grade_versions (${cols.join(', ')}) values (${cols.map(() => '?').join(', ')})`,
    );
    const rows = versions.map((v) => cols.map((c) => v[c] as unknown));
    const insertMany = base.transaction((part: unknown[][]) => {
      for (const r of part) insert.run(...r);
    });
    const started = process.hrtime.bigint();
    const batchMs: number[] = [];
    for (let i = 0; i < rows.length; i += BATCH) {
      const t = performance.now();
      insertMany(rows.slice(i, i + BATCH));
      batchMs.push(performance.now() - t);
    }
    return {
      rate: TOTAL / (Number(process.hrtime.bigint() - started) / 1e9),
      medianMs: median(batchMs),
    };
  } finally {
    base.close();
    fs.rmSync(baseDir, { recursive: true, force: true });
  }
}

/** COPY ... FROM STDIN of one text-format payload, on a plain pg client (no extra package). */
function copyIn(client: pg.Client, sql: string, data: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let failure: Error | null = null;
    const noop = () => {};
    const query = {
      submit: (connection: { query(text: string): void }) => connection.query(sql),
      handleCopyInResponse: (connection: {
        sendCopyFromChunk(b: Buffer): void;
        endCopyFrom(): void;
      }) => {
        connection.sendCopyFromChunk(Buffer.from(data));
        connection.endCopyFrom();
      },
      handleError: (err: Error) => (failure = err),
      handleReadyForQuery: () => (failure ? reject(failure) : resolve()),
      handleCommandComplete: noop,
      handleRowDescription: noop,
      handleDataRow: noop,
      handleEmptyQuery: noop,
      handlePortalSuspended: noop,
      handleCopyData: noop,
      callback: noop,
    };
    (client as unknown as { query(q: unknown): void }).query(query);
  });
}

const copyText = (v: unknown): string => {
  if (v === null || v === undefined) return '\\N';
  if (typeof v === 'boolean') return v ? 't' : 'f';
  return String(v).replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n');
};

interface PostgresCeilings {
  /** Multi-row INSERTs into a copy of grade_versions with its indexes and foreign keys. */
  insert: number;
  /** COPY into the same copy. */
  copy: number;
  /** Multi-row INSERTs into a copy with its indexes but no foreign keys. */
  insertIndexesOnly: number;
  /** COPY into the copy without foreign keys. */
  copyIndexesOnly: number;
  /** The median time of one transaction of 500 rows, per ceiling above (less moved by other work than a rate). */
  medianMs: { insert: number; copy: number; insertIndexesOnly: number; copyIndexesOnly: number };
}

/**
 * PostgreSQL's ceilings: the same version rows into copies of grade_versions
 * in the service's database (its indexes and defaults, with and without its
 * seven foreign keys), in transactions of 500 from one client: one
 * multi-row INSERT each, then one COPY each. Rows per second.
 */
async function postgresCeilings(url: string, versions: VersionRow[]): Promise<PostgresCeilings> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const cols = Object.keys(versions[0]!).filter((c) => c !== 'id');
    const rows = versions.map((v) => cols.map((c) => v[c] as unknown));
    const valuesSql = Array.from(
      { length: BATCH },
      (_, r) => `(${cols.map((_c, k) => `$${r * cols.length + k + 1}`).join(', ')})`,
    ).join(', ');
    const payloads: string[] = [];
    for (let i = 0; i < rows.length; i += BATCH)
      payloads.push(
        rows
          .slice(i, i + BATCH)
          .map((r) => `${r.map(copyText).join('\t')}\n`)
          .join(''),
      );
    const medians: number[] = [];
    const timed = async (table: string, write: (i: number) => Promise<void>) => {
      await client.query(`truncate ${table}`);
      await client.query('checkpoint');
      const started = process.hrtime.bigint();
      const batchMs: number[] = [];
      for (let i = 0; i < rows.length; i += BATCH) {
        const t = performance.now();
        await client.query('begin');
        await write(i);
        await client.query('commit');
        batchMs.push(performance.now() - t);
      }
      const rate = TOTAL / (Number(process.hrtime.bigint() - started) / 1e9);
      medians.push(median(batchMs));
      const [{ n }] = (await client.query(`select count(*)::int as n from ${table}`))
        .rows as Array<{
        n: number;
      }>;
      if (n !== TOTAL) throw new Error(`${table}: ${n} rows written, expected ${TOTAL}`);
      return rate;
    };
    const measure = async (table: string) => ({
      insert: await timed(table, async (i) => {
        await client.query(
          `insert into ${table} (${cols.join(', ')}) values ${valuesSql}`,
          rows.slice(i, i + BATCH).flat(),
        );
      }),
      copy: await timed(table, (i) =>
        copyIn(client, `copy ${table} (${cols.join(', ')}) from stdin`, payloads[i / BATCH]!),
      ),
    });
    await client.query('drop table if exists ceiling_versions');
    await client.query('create table ceiling_versions (like grade_versions including all)');
    const indexesOnly = await measure('ceiling_versions');
    for (const [col, target] of [
      ['tenant_id', 'tenants'],
      ['course_id', 'courses'],
      ['column_id', 'grade_columns'],
      ['user_id', 'users'],
      ['submission_id', 'submissions'],
      ['grader_id', 'users'],
      ['api_client_id', 'api_clients'],
    ]) {
      await client.query(
        `alter table ceiling_versions add foreign key (${col}) references ${target}(id)`,
      );
    }
    const full = await measure('ceiling_versions');
    await client.query('drop table ceiling_versions');
    return {
      insert: full.insert,
      copy: full.copy,
      insertIndexesOnly: indexesOnly.insert,
      copyIndexesOnly: indexesOnly.copy,
      // Measured in this order: indexes only (INSERT, COPY), then with foreign keys.
      medianMs: {
        insertIndexesOnly: medians[0]!,
        copyIndexesOnly: medians[1]!,
        insert: medians[2]!,
        copy: medians[3]!,
      },
    };
  } finally {
    await client.end();
  }
}

const pct = (rate: number, ceiling: number) => `${fmt((rate / ceiling) * 100, 1)} %`;

function printService(label: string, f: ServiceFigures, ceiling: number, ceilingName: string) {
  console.log(`\nGrades Journey gradeValueAPI, ${label}`);
  console.log(
    `  ${fmt(TOTAL)} values in ${f.requests} requests of ${BATCH}: ${fmt(f.seconds, 2)} s; one request of 500, one client: ${fmt(f.sequentialMedianMs, 1)} ms at the median`,
  );
  console.log(
    `  one client, batch after batch: ${fmt(f.sequentialValuesPerSecond)} values/s (${pct(f.sequentialValuesPerSecond, ceiling)} of ${ceilingName})`,
  );
  console.log(
    `  two clients at once:           ${fmt(f.twoClientsValuesPerSecond)} values/s (${pct(f.twoClientsValuesPerSecond, ceiling)})`,
  );
  console.log(
    `  all 100,000:                   ${fmt(f.valuesPerSecond)} values/s (${pct(f.valuesPerSecond, ceiling)})`,
  );
}

async function runSqlite(): Promise<Record<string, unknown>> {
  const server = await startServer();
  try {
    const { figures, versions } = await measureService(server);
    const ceiling = await sqliteCeiling(server, versions);
    const plain = ceiling.rate;
    printService('SQLite (embedded default)', figures, plain, 'plain prepared inserts');
    console.log(`  plain better-sqlite3 inserts:  ${fmt(plain)} rows/s`);
    console.log(
      `  one transaction of 500 at the median: the service ${fmt(figures.sequentialMedianMs, 1)} ms (one client, over HTTP), plain inserts ${fmt(ceiling.medianMs, 2)} ms: ${pct(ceiling.medianMs, figures.sequentialMedianMs)} by medians`,
    );
    return {
      database: 'sqlite',
      ...figures,
      plainInsertsPerSecond: Math.round(plain),
      ceilingMedianMs: Number(ceiling.medianMs.toFixed(2)),
      ratio: Number((figures.valuesPerSecond / plain).toFixed(3)),
      sequentialRatio: Number((figures.sequentialValuesPerSecond / plain).toFixed(3)),
      twoClientsRatio: Number((figures.twoClientsValuesPerSecond / plain).toFixed(3)),
    };
  } finally {
    await server.close();
  }
}

async function runPostgres(): Promise<Record<string, unknown> | null> {
  const database = await freshPostgres('journey');
  if (!database) return null;
  try {
    const server = await startServer({ databaseUrl: database.url });
    try {
      const { figures, versions } = await measureService(server);
      const ceilings = await postgresCeilings(database.url, versions);
      printService('PostgreSQL', figures, ceilings.insert, 'plain multi-row INSERTs');
      const line = (label: string, rate: number) =>
        console.log(
          `  ${label.padEnd(52)} ${fmt(rate).padStart(7)} rows/s; the service (all 100,000) at ${pct(figures.valuesPerSecond, rate)}`,
        );
      line('plain multi-row INSERTs (indexes, foreign keys):', ceilings.insert);
      line('COPY FROM STDIN (indexes, foreign keys):', ceilings.copy);
      line('plain multi-row INSERTs (indexes only):', ceilings.insertIndexesOnly);
      line('COPY FROM STDIN (indexes only):', ceilings.copyIndexesOnly);
      const m = ceilings.medianMs;
      console.log(
        `  one transaction of 500 at the median: the service ${fmt(figures.sequentialMedianMs, 1)} ms (one client, over HTTP); INSERT ${fmt(m.insert, 1)} ms, COPY ${fmt(m.copy, 1)} ms with foreign keys; INSERT ${fmt(m.insertIndexesOnly, 1)} ms, COPY ${fmt(m.copyIndexesOnly, 1)} ms indexes only`,
      );
      console.log(
        `  the service's share by medians: ${pct(m.insert, figures.sequentialMedianMs)} of INSERT, ${pct(m.copy, figures.sequentialMedianMs)} of COPY with foreign keys; ${pct(m.insertIndexesOnly, figures.sequentialMedianMs)} of INSERT, ${pct(m.copyIndexesOnly, figures.sequentialMedianMs)} of COPY indexes only`,
      );
      const ratio = (rate: number) => Number((figures.valuesPerSecond / rate).toFixed(3));
      return {
        database: 'postgres',
        ...figures,
        multiRowInsertsPerSecond: Math.round(ceilings.insert),
        copyRowsPerSecond: Math.round(ceilings.copy),
        multiRowInsertsIndexesOnlyPerSecond: Math.round(ceilings.insertIndexesOnly),
        copyIndexesOnlyRowsPerSecond: Math.round(ceilings.copyIndexesOnly),
        ratio: ratio(ceilings.insert),
        sequentialRatio: Number((figures.sequentialValuesPerSecond / ceilings.insert).toFixed(3)),
        twoClientsRatio: Number((figures.twoClientsValuesPerSecond / ceilings.insert).toFixed(3)),
        copyRatio: ratio(ceilings.copy),
        indexesOnlyRatio: ratio(ceilings.insertIndexesOnly),
        copyIndexesOnlyRatio: ratio(ceilings.copyIndexesOnly),
        ceilingMedianMs: ceilings.medianMs,
      };
    } finally {
      await server.close();
    }
  } finally {
    await database.drop();
  }
}

/** The machine's 1-minute load average around a measurement (other work skews both sides of a ratio differently). */
async function withLoad(
  measure: () => Promise<Record<string, unknown> | null>,
): Promise<Record<string, unknown> | null> {
  const before = os.loadavg()[0]!;
  const result = await measure();
  const after = os.loadavg()[0]!;
  console.log(
    `  load average (1 min) ${fmt(before, 2)} before, ${fmt(after, 2)} after, on ${os.cpus().length} cores`,
  );
  return (
    result && { ...result, loadAverage: [Number(before.toFixed(2)), Number(after.toFixed(2))] }
  );
}

export async function run(): Promise<Record<string, unknown>> {
  const wanted = benchDatabases();
  const results: Record<string, unknown>[] = [];
  if (wanted.sqlite) results.push((await withLoad(runSqlite))!);
  if (wanted.postgres) {
    const postgres = await withLoad(runPostgres);
    if (postgres) results.push(postgres);
  }
  const result = {
    benchmark: 'journey-grade-values',
    machine: machine(),
    values: TOTAL,
    batchSize: BATCH,
    results,
  };
  saveResult('journey-grade-values', result);
  return result;
}
