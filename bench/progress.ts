/**
 * Progress gradebooks at 100,000: median and 99th-percentile latency over HTTP
 * of count, collect and search with a title filter and a sort, on SQLite and
 * PostgreSQL, and the server's peak memory while downloading every gradebook
 * as CSV at 25,000, 50,000 and 100,000 gradebooks.
 */
import Database from 'better-sqlite3';
import knexFactory from 'knex';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Config } from '../config/index.js';
import { runPlan } from './http-client.js';
import { fmt, machine, saveResult, startServer, stats, tenantToken, type Measured } from './lib.js';

const SUBJECTS = [
  'Biology',
  'Chemistry',
  'Physics',
  'History',
  'Literature',
  'Mathematics',
  'Art',
  'Music',
  'Economics',
  'Geography',
];
const REQUESTS = 300;
const P = '/v2/e01/api/progress/gradebooks';

/** Adds gradebooks `from`..`to`-1 (each course with one of 500 instructors and 3 learners). */
async function seed(
  config: Config,
  tenantId: number,
  from: number,
  to: number,
  instructorIds: number[],
): Promise<void> {
  const now = Date.parse('2026-01-01T00:00:00.000Z');
  const iso = (ms: number) => new Date(ms).toISOString();
  const courseCols = [
    'tenant_id',
    'uuid',
    'batch_uid',
    'title',
    'starts_at',
    'ends_at',
    'source',
    'created_at',
    'updated_at',
  ];
  const gbCols = [
    'uuid',
    'tenant_id',
    'course_id',
    'title',
    'type',
    'reference',
    'is_locked',
    'period_id',
    'last_change_type',
    'last_change_user',
    'last_change_time',
    'created_at',
    'updated_at',
  ];
  const enrollCols = [
    'tenant_id',
    'course_id',
    'user_id',
    'role',
    'source',
    'created_at',
    'updated_at',
  ];
  const course = (i: number) => [
    tenantId,
    randomUUID(),
    `PB-${i}`,
    `${SUBJECTS[i % SUBJECTS.length]} ${100 + (i % 400)} section ${i}`,
    iso(now + (i % 365) * 86400_000),
    iso(now + ((i % 365) + 120) * 86400_000),
    'bench',
    iso(now - (i % 1000) * 3600_000),
    iso(now),
  ];
  /** Course i's enrollments: one of the first 250 people as instructor, three of the rest as learners. */
  const enrollments = (i: number, courseId: number) => [
    [tenantId, courseId, instructorIds[i % 250], 'Instructor', 'bench', iso(now), iso(now)],
    ...[0, 1, 2].map((l) => [
      tenantId,
      courseId,
      instructorIds[250 + ((i * 3 + l) % 250)],
      'Learner',
      'bench',
      iso(now),
      iso(now),
    ]),
  ];
  const gradebook = (i: number, courseId: number) => [
    randomUUID(),
    tenantId,
    courseId,
    `${SUBJECTS[i % SUBJECTS.length]} ${100 + (i % 400)} section ${i}`,
    i % 7 === 0 ? 'Section' : 'Course',
    `PB-${i}`,
    i % 13 === 0,
    null,
    i % 3 === 0 ? 'GradeChanged' : 'ColumnChanged',
    `Client ${i % 20}`,
    iso(now + (i % 5000) * 60_000),
    iso(now - (i % 1000) * 3600_000),
    iso(now),
  ];
  if (!config.DATABASE_URL) {
    const raw = new Database(config.sqliteFile);
    raw.pragma('journal_mode = WAL');
    const insCourse = raw.prepare(
      `insert into courses (${courseCols.join(', ')}) values (${courseCols.map(() => '?').join(', ')})`,
    );
    const insGb = raw.prepare(
      `insert into gradebooks (${gbCols.join(', ')}) values (${gbCols.map(() => '?').join(', ')})`,
    );
    const insEnroll = raw.prepare(
      `insert into enrollments (${enrollCols.join(', ')}) values (${enrollCols.map(() => '?').join(', ')})`,
    );
    raw.transaction(() => {
      for (let i = from; i < to; i++) {
        const courseId = Number(insCourse.run(course(i)).lastInsertRowid);
        insGb.run(gradebook(i, courseId).map((v) => (typeof v === 'boolean' ? Number(v) : v)));
        for (const row of enrollments(i, courseId)) insEnroll.run(row);
      }
    })();
    raw.close();
    return;
  }
  const pool = new pg.Pool({ connectionString: config.DATABASE_URL, max: 1 });
  const types: Record<string, string> = {
    tenant_id: 'int',
    course_id: 'int',
    user_id: 'int',
    is_locked: 'bool',
    starts_at: 'timestamptz',
    ends_at: 'timestamptz',
    created_at: 'timestamptz',
    updated_at: 'timestamptz',
    last_change_time: 'timestamptz',
  };
  const unnest = (cols: string[]) =>
    cols.map((c, i) => `$${i + 1}::${types[c] ?? 'text'}[]`).join(', ');
  for (let start = from; start < to; start += 5000) {
    const end = Math.min(to, start + 5000);
    const rows = Array.from({ length: end - start }, (_, k) => course(start + k));
    const ids = (
      await pool.query(
        `insert into courses (${courseCols.join(', ')}) select * from unnest(${unnest(courseCols)}) returning id, batch_uid`,
        courseCols.map((_, c) => rows.map((r) => r[c])),
      )
    ).rows as Array<{ id: number; batch_uid: string }>;
    const byUid = new Map(ids.map((r) => [r.batch_uid, r.id]));
    const gbs = Array.from({ length: end - start }, (_, k) =>
      gradebook(start + k, byUid.get(`PB-${start + k}`)!),
    );
    await pool.query(
      `insert into gradebooks (${gbCols.join(', ')}) select * from unnest(${unnest(gbCols)})`,
      gbCols.map((_, c) => gbs.map((r) => r[c])),
    );
    const enrolls: unknown[][] = [];
    for (let k = 0; k < end - start; k++) {
      const i = start + k;
      enrolls.push(...enrollments(i, byUid.get(`PB-${i}`)!));
    }
    await pool.query(
      `insert into enrollments (${enrollCols.join(', ')}) select * from unnest(${unnest(enrollCols)})`,
      enrollCols.map((_, c) => enrolls.map((r) => r[c])),
    );
  }
  await pool.query('vacuum analyze');
  await pool.end();
}

/** Downloads everything as CSV while sampling the server's heap every 5 ms. */
async function downloadPeak(
  baseUrl: string,
  token: string,
): Promise<{ mb: number; rows: number; seconds: number }> {
  global.gc?.();
  const base = process.memoryUsage().heapUsed;
  let peak = base;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  }, 5);
  const t = performance.now();
  const res = await fetch(`${baseUrl}${P}/download`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ filter: { format: 'csv' } }),
  });
  let rows = -1;
  const reader = res.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    for (const byte of value) if (byte === 10) rows++;
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  }
  clearInterval(sampler);
  return {
    mb: Number(((peak - base) / 1024 / 1024).toFixed(1)),
    rows,
    seconds: Number(((performance.now() - t) / 1000).toFixed(2)),
  };
}

async function runOn(
  kind: 'sqlite' | 'postgres',
  databaseUrl?: string,
): Promise<Record<string, unknown>> {
  const server = await startServer({ databaseUrl });
  try {
    const { tenantId, token } = await tenantToken(server.deps, ['progress']);
    const now = new Date().toISOString();
    const instructorIds: number[] = [];
    for (let i = 0; i < 500; i++) {
      const [row] = await server.deps
        .db('users')
        .insert({
          tenant_id: tenantId,
          uuid: randomUUID(),
          batch_uid: `pi-${i}`,
          name: `Instructor ${i}`,
          kind: 'person',
          created_at: now,
          updated_at: now,
        })
        .returning('id');
      instructorIds.push(row.id);
    }
    const memory: Array<{ gradebooks: number; peakHeapMb: number; seconds: number }> = [];
    let seeded = 0;
    for (const target of [25_000, 50_000, 100_000]) {
      await seed(server.config, tenantId, seeded, target, instructorIds);
      seeded = target;
      const m = await downloadPeak(server.baseUrl, token);
      if (m.rows !== target) throw new Error(`downloaded ${m.rows} rows, expected ${target}`);
      memory.push({ gradebooks: target, peakHeapMb: m.mb, seconds: m.seconds });
    }
    const bodies = {
      count: JSON.stringify({ gradebookTitle: 'biology' }),
      collect: JSON.stringify({
        gradebookTitle: 'biology',
        filter: { sort: 'lastChangeTime desc', pageSize: 20 },
      }),
      search: JSON.stringify({
        gradebookTitle: 'biology',
        filter: { sort: 'gradebookTitle asc', pageSize: 20 },
      }),
      countAll: JSON.stringify({}),
    };
    const latency = async (op: string, body: string) => {
      await runPlan({ url: `${server.baseUrl}${P}/${op}`, token, bodies: Array(20).fill(body) });
      const { latenciesMs } = await runPlan({
        url: `${server.baseUrl}${P}/${op}`,
        token,
        bodies: Array(REQUESTS).fill(body),
      });
      return stats(latenciesMs, 2);
    };
    const result = {
      database: kind,
      gradebooks: seeded,
      latency: {
        countTitle: await latency('count', bodies.count),
        countAll: await latency('count', bodies.countAll),
        collectTitleSorted: await latency('collect', bodies.collect),
        searchTitleSorted: await latency('search', bodies.search),
      },
      download: memory,
    };
    const row = (label: string, m: Measured) =>
      `  ${label.padEnd(52)} ${fmt(m.median, 2).padStart(8)} ms ${fmt(m.p99, 2).padStart(9)} ms`;
    console.log(
      `\nProgress gradebooks, ${kind}, ${fmt(seeded)} gradebooks                         median       p99`,
    );
    console.log(row('count, title contains "biology" (10,000 match)', result.latency.countTitle));
    console.log(row('count, no criteria', result.latency.countAll));
    console.log(
      row('collect, title filter, sort lastChangeTime desc, 20', result.latency.collectTitleSorted),
    );
    console.log(
      row('search, title filter, sort gradebookTitle, 20', result.latency.searchTitleSorted),
    );
    for (const m of memory) {
      console.log(
        `  download all as CSV at ${fmt(m.gradebooks).padStart(7)}: peak heap +${fmt(m.peakHeapMb, 1)} MB, ${fmt(m.seconds, 2)} s`,
      );
    }
    return result;
  } finally {
    await server.close();
  }
}

export async function run(): Promise<Record<string, unknown>> {
  const results: Record<string, unknown>[] = [await runOn('sqlite')];
  const admin = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const name = `gradebridge_bench_progress_${process.pid}`;
  const adminDb = knexFactory({ client: 'pg', connection: admin, pool: { min: 0, max: 1 } });
  try {
    await adminDb.raw(`create database ${name}`);
    try {
      const url = new URL(admin);
      url.pathname = `/${name}`;
      results.push(await runOn('postgres', url.toString()));
    } finally {
      await adminDb.raw(`drop database if exists ${name} with (force)`);
    }
  } catch (err) {
    console.log(
      `\nProgress on PostgreSQL skipped: ${(err as Error).message} (set BENCH_DATABASE_URL)`,
    );
  } finally {
    await adminDb.destroy();
  }
  const result = { benchmark: 'progress', machine: machine(), results };
  saveResult('progress', result);
  return result;
}
