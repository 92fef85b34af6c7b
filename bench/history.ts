/**
 * Gradebook History at scale: 1,000,000 versions over 100 courses (20 columns,
 * 50 learners, 10 versions per grade, 180 days, 3 graders and "Graded on
 * submission"), on SQLite and on PostgreSQL. Median and 99th-percentile
 * latency over HTTP of feed (first and a deep page), days and one day's
 * details, next to plain queries through the driver in the same run.
 */
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createDb, dbClient, type Db } from '../src/db/knex.js';
import { inTransaction } from '../src/db/transaction.js';
import { rebuildVersionDays } from '../src/history/days.js';
import { runPlan } from './http-client.js';
import {
  benchDatabases,
  freshPostgres,
  fmt,
  machine,
  saveResult,
  startServer,
  stats,
  tenantToken,
  type Measured,
} from './lib.js';

const COURSES = 100;
const COLUMNS = 20;
const LEARNERS = 50;
const VERSIONS_PER_GRADE = 10;
const DAYS = 180;
const REQUESTS = 400;
const START = Date.parse('2026-01-05T12:00:00.000Z');

/** Writes the tenant's courses, columns, learners, grades and versions straight into the store. */
async function seed(
  db: Db,
  tenantId: number,
  graderIds: number[],
  databaseUrl?: string,
): Promise<void> {
  const now = new Date().toISOString();
  const client = dbClient(db);
  const courseIds: number[] = [];
  const learnerIds: number[] = [];
  await inTransaction(db, async (trx) => {
    for (let c = 0; c < COURSES; c++) {
      const [course] = await trx('courses')
        .insert({
          tenant_id: tenantId,
          uuid: randomUUID(),
          batch_uid: `H-${c}`,
          title: `History ${c}`,
          source: 'bench',
          created_at: now,
          updated_at: now,
        })
        .returning('id');
      courseIds.push(course.id);
      await trx('gradebooks').insert({
        uuid: randomUUID(),
        tenant_id: tenantId,
        course_id: course.id,
        title: `History ${c}`,
        is_locked: false,
        last_change_time: now,
        created_at: now,
        updated_at: now,
      });
      const columns = Array.from({ length: COLUMNS }, (_, k) => ({
        tenant_id: tenantId,
        course_id: course.id,
        name: `Item ${k + 1}`,
        item_type: 'ASSIGNMENT',
        points: 100,
        source: 'bench',
        created_at: now,
        updated_at: now,
      }));
      await trx('grade_columns').insert(columns);
    }
    for (let l = 0; l < COURSES * LEARNERS; l += 250) {
      const rows = Array.from({ length: Math.min(250, COURSES * LEARNERS - l) }, (_, i) => ({
        tenant_id: tenantId,
        uuid: randomUUID(),
        batch_uid: `hl-${l + i}`,
        name: `Learner ${l + i}`,
        kind: 'person',
        created_at: now,
        updated_at: now,
      }));
      const ids = await trx('users').insert(rows).returning('id');
      learnerIds.push(...ids.map((r: { id: number }) => r.id));
    }
  });
  const columns = await db('grade_columns')
    .where({ tenant_id: tenantId })
    .orderBy('id')
    .select('id', 'course_id');
  const byCourse = new Map<number, number[]>();
  for (const col of columns)
    byCourse.set(col.course_id, [...(byCourse.get(col.course_id) ?? []), col.id]);

  // Submissions: every learner of a course in every column, with its final grade.
  const versionTime = (sub: number, n: number) =>
    new Date(START + ((sub * 7919 + n * 104729) % (DAYS * 24)) * 3600_000 + n).toISOString();
  const scoreOf = (sub: number, n: number) => (sub * 31 + n * 17) % 101;
  const graderOf = (sub: number, n: number) => {
    const g = (sub + n) % (graderIds.length + 1);
    return g === graderIds.length ? null : graderIds[g]!;
  };
  const subRows: unknown[][] = [];
  let sub = 0;
  for (const [ci, courseId] of courseIds.entries()) {
    for (const columnId of byCourse.get(courseId)!) {
      for (let l = 0; l < LEARNERS; l++) {
        const userId = learnerIds[ci * LEARNERS + l]!;
        const last = VERSIONS_PER_GRADE - 1;
        const score = scoreOf(sub, last);
        subRows.push([
          tenantId,
          courseId,
          columnId,
          userId,
          score,
          String(score),
          versionTime(sub, last),
          graderOf(sub, last),
          'graded',
          now,
          now,
        ]);
        sub++;
      }
    }
  }
  const subCols = [
    'tenant_id',
    'course_id',
    'column_id',
    'user_id',
    'score',
    'grade',
    'graded_at',
    'grader_id',
    'workflow_state',
    'created_at',
    'updated_at',
  ];
  const verCols = [
    'tenant_id',
    'course_id',
    'column_id',
    'user_id',
    'submission_id',
    'score',
    'grade',
    'points_possible',
    'workflow_state',
    'graded_at',
    'recorded_at',
    'grader_id',
    'source',
    'idempotency_key',
  ];
  const versionRows = function* (firstSubmissionId: number) {
    // Versions in time order within each grade, interleaved across grades as a real term would write them.
    for (let n = 0; n < VERSIONS_PER_GRADE; n++) {
      for (let s = 0; s < subRows.length; s++) {
        const [, courseId, columnId, userId] = subRows[s] as number[];
        const score = scoreOf(s, n);
        yield [
          tenantId,
          courseId,
          columnId,
          userId,
          firstSubmissionId + s,
          score,
          String(score),
          100,
          'graded',
          versionTime(s, n),
          now,
          graderOf(s, n),
          'journey',
          `b:${s}:${n}`,
        ];
      }
    }
  };

  if (client === 'sqlite') {
    const file = (db.client.config.connection as { filename: string }).filename;
    await db.destroy();
    const raw = new Database(file);
    raw.pragma('journal_mode = WAL');
    raw.pragma('synchronous = NORMAL');
    const insSub = raw.prepare(
      `insert into submissions (${subCols.join(', ')}) values (${subCols.map(() => '?').join(', ')})`,
    );
    const insVer = raw.prepare(
      `insert into grade_versions (${verCols.join(', ')}) values (${verCols.map(() => '?').join(', ')})`,
    );
    raw.transaction(() => {
      for (const r of subRows) insSub.run(r);
    })();
    const first = (
      raw.prepare('select min(id) as id from submissions where tenant_id = ?').get(tenantId) as {
        id: number;
      }
    ).id;
    let batch: unknown[][] = [];
    const flush = raw.transaction((rows: unknown[][]) => {
      for (const r of rows) insVer.run(r);
    });
    for (const row of versionRows(first)) {
      batch.push(row);
      if (batch.length === 50000) {
        flush(batch);
        batch = [];
      }
    }
    flush(batch);
    raw.close();
  } else {
    const cast = (cols: string[], types: Record<string, string>) =>
      cols.map((c, i) => `$${i + 1}::${types[c] ?? 'text'}[]`).join(', ');
    const types: Record<string, string> = {
      tenant_id: 'int',
      course_id: 'int',
      column_id: 'int',
      user_id: 'int',
      submission_id: 'int',
      grader_id: 'int',
      score: 'float8',
      points_possible: 'float8',
      graded_at: 'timestamptz',
      recorded_at: 'timestamptz',
      created_at: 'timestamptz',
      updated_at: 'timestamptz',
    };
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    const insertArrays = async (table: string, cols: string[], rows: unknown[][]) => {
      const arrays = cols.map((_, i) => rows.map((r) => r[i]));
      await pool.query(
        `insert into ${table} (${cols.join(', ')}) select * from unnest(${cast(cols, types)})`,
        arrays,
      );
    };
    for (let i = 0; i < subRows.length; i += 20000)
      await insertArrays('submissions', subCols, subRows.slice(i, i + 20000));
    const first = (
      await pool.query('select min(id) as id from submissions where tenant_id = $1', [tenantId])
    ).rows[0].id as number;
    let batch: unknown[][] = [];
    for (const row of versionRows(Number(first))) {
      batch.push(row);
      if (batch.length === 20000) {
        await insertArrays('grade_versions', verCols, batch);
        batch = [];
      }
    }
    await insertArrays('grade_versions', verCols, batch);
    await pool.query('vacuum analyze');
    await pool.end();
  }
}

interface PlainQueries {
  feedFirst(courseId: number): void | Promise<unknown>;
  feedDeep(courseId: number): void | Promise<unknown>;
  daysGroupBy(courseId: number): void | Promise<unknown>;
  daysSummary(courseId: number): void | Promise<unknown>;
  dayDetails(courseId: number, start: string, end: string): void | Promise<unknown>;
  close(): Promise<void>;
}

const SQL = {
  feedFirst: 'select * from grade_versions where course_id = $1 order by id desc limit 10',
  feedDeep:
    'select * from grade_versions where course_id = $1 order by id desc limit 10 offset 4990',
  feedCount: 'select count(*) from grade_versions where course_id = $1',
  daysGroupByPg:
    "select (graded_at at time zone 'America/New_York')::date as day, grader_id, column_id, count(*) from grade_versions where course_id = $1 group by 1, 2, 3",
  daysGroupBySqlite:
    'select date(graded_at) as day, grader_id, column_id, count(*) from grade_versions where course_id = $1 group by 1, 2, 3',
  daysSummary:
    'select day, grader_id, column_id from grade_history_days where course_id = $1 and day in (select distinct day from grade_history_days where course_id = $1 order by day desc limit 10)',
  dayDetails:
    'select distinct grader_id, column_id from grade_versions where course_id = $1 and graded_at >= $2 and graded_at < $3',
};

function plainSqlite(file: string): PlainQueries {
  const raw = new Database(file, { readonly: true });
  const q = (sql: string) => raw.prepare(sql.replace(/\$\d/g, '?'));
  const feedFirst = q(SQL.feedFirst);
  const feedDeep = q(SQL.feedDeep);
  const groupBy = q(SQL.daysGroupBySqlite);
  const summary = raw.prepare(SQL.daysSummary.replace(/\$1/g, '@c'));
  const details = q(SQL.dayDetails);
  return {
    feedFirst: (c) => void feedFirst.all(c),
    feedDeep: (c) => void feedDeep.all(c),
    daysGroupBy: (c) => void groupBy.all(c),
    daysSummary: (c) => void summary.all({ c }),
    dayDetails: (c, s, e) => void details.all(c, s, e),
    close: async () => {
      raw.close();
    },
  };
}

function plainPostgres(url: string): PlainQueries {
  const client = new pg.Client({ connectionString: url });
  const ready = client.connect();
  const run = async (name: string, sql: string, params: unknown[]) => {
    await ready;
    return client.query({ name, text: sql, values: params });
  };
  return {
    feedFirst: (c) => run('ff', SQL.feedFirst, [c]),
    feedDeep: (c) => run('fd', SQL.feedDeep, [c]),
    daysGroupBy: (c) => run('dg', SQL.daysGroupByPg, [c]),
    daysSummary: (c) => run('ds', SQL.daysSummary, [c]),
    dayDetails: (c, s, e) => run('dd', SQL.dayDetails, [c, s, e]),
    close: async () => {
      await ready;
      await client.end();
    },
  };
}

async function timeIt(n: number, fn: (i: number) => void | Promise<unknown>): Promise<Measured> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    samples.push(performance.now() - t);
  }
  return stats(samples, 3);
}

async function runOn(
  kind: 'sqlite' | 'postgres',
  databaseUrl?: string,
): Promise<Record<string, unknown>> {
  // Build and seed the store first, then start the service on it.
  const bootstrap = await startServer({ databaseUrl });
  const { deps, config } = bootstrap;
  const { tenantId, token } = await tenantToken(deps, ['history']);
  await deps.db('tenants').where({ id: tenantId }).update({ time_zone: 'America/New_York' });
  const graderIds: number[] = [];
  for (const name of ['Registrar', 'Teacher Sync', 'Dean']) {
    const [row] = await deps
      .db('users')
      .insert({
        tenant_id: tenantId,
        uuid: randomUUID(),
        name,
        kind: 'service',
        created_at: new Date().toISOString(),
        updated_at: new Date().toISOString(),
      })
      .returning('id');
    graderIds.push(row.id);
  }
  const seedStarted = performance.now();
  const seedDb = createDb({ databaseUrl: config.DATABASE_URL, sqliteFile: config.sqliteFile });
  await seed(seedDb, tenantId, graderIds, config.DATABASE_URL);
  if (kind === 'postgres') await seedDb.destroy();
  const summaryDb = createDb({ databaseUrl: config.DATABASE_URL, sqliteFile: config.sqliteFile });
  await inTransaction(summaryDb, (trx) => rebuildVersionDays(trx, tenantId));
  await summaryDb.destroy();
  const seedSeconds = (performance.now() - seedStarted) / 1000;
  const total = Number(
    (await deps.db('grade_versions').where({ tenant_id: tenantId }).count({ n: '*' }))[0]!.n,
  );
  const courses = (
    await deps.db('courses').where({ tenant_id: tenantId }).orderBy('id').select('id')
  ).map((r) => r.id as number);
  const days = (
    await deps.db('grade_history_days').where({ tenant_id: tenantId }).distinct('day')
  ).map((r) => r.day as string);

  const base = (c: number) => `${bootstrap.baseUrl}/api/v1/courses/${c}/gradebook_history`;
  const pick = <T>(list: T[], i: number) => list[(i * 7919) % list.length]!;
  const http = async (urls: string[]) => {
    // A warm-up pass, then the measured one.
    await runPlan({
      urls: urls.slice(0, 50),
      token,
      bodies: urls.slice(0, 50).map(() => ''),
      method: 'GET',
    });
    const { latenciesMs } = await runPlan({
      urls,
      token,
      bodies: urls.map(() => ''),
      method: 'GET',
    });
    return stats(latenciesMs, 3);
  };
  const idx = Array.from({ length: REQUESTS }, (_, i) => i);
  const service = {
    healthz: await http(idx.map(() => `${bootstrap.baseUrl}/healthz`)),
    feedFirst: await http(idx.map((i) => `${base(pick(courses, i))}/feed`)),
    feedDeep: await http(idx.map((i) => `${base(pick(courses, i))}/feed?page=500`)),
    days: await http(idx.map((i) => `${base(pick(courses, i))}/days`)),
    dayDetails: await http(idx.map((i) => `${base(pick(courses, i))}/${pick(days, i + 3)}`)),
  };
  const plain =
    kind === 'sqlite' ? plainSqlite(config.sqliteFile) : plainPostgres(config.DATABASE_URL!);
  const bounds = (day: string) => {
    const start = new Date(`${day}T05:00:00.000Z`).toISOString();
    return [start, new Date(Date.parse(start) + 86400_000).toISOString()] as const;
  };
  const driver = {
    feedFirst: await timeIt(REQUESTS, (i) => plain.feedFirst(pick(courses, i))),
    feedDeep: await timeIt(REQUESTS, (i) => plain.feedDeep(pick(courses, i))),
    daysSummary: await timeIt(REQUESTS, (i) => plain.daysSummary(pick(courses, i))),
    daysGroupBy: await timeIt(40, (i) => plain.daysGroupBy(pick(courses, i))),
    dayDetails: await timeIt(REQUESTS, (i) =>
      plain.dayDetails(pick(courses, i), ...bounds(pick(days, i + 3))),
    ),
  };
  await plain.close();
  await bootstrap.close();
  return {
    database: kind,
    versions: total,
    courses: courses.length,
    seedSeconds: Number(seedSeconds.toFixed(1)),
    service,
    driver,
  };
}

function print(result: Record<string, unknown>): void {
  const r = result as {
    database: string;
    versions: number;
    service: Record<string, Measured>;
    driver: Record<string, Measured>;
  };
  const row = (label: string, m: Measured) =>
    `  ${label.padEnd(42)} ${fmt(m.median, 2).padStart(8)} ms ${fmt(m.p99, 2).padStart(9)} ms`;
  console.log(
    `\nGradebook History, ${r.database}, ${fmt(r.versions)} versions in 100 courses   median       p99`,
  );
  console.log(row('HTTP /healthz (the floor of a request)', r.service.healthz!));
  console.log(row('HTTP feed, first page', r.service.feedFirst!));
  console.log(row('HTTP feed, page 500 (offset 4,990)', r.service.feedDeep!));
  console.log(row('HTTP days', r.service.days!));
  console.log(row("HTTP one day's details", r.service.dayDetails!));
  console.log(row('driver: feed page (versions only)', r.driver.feedFirst!));
  console.log(row('driver: feed page at offset 4,990', r.driver.feedDeep!));
  console.log(row('driver: days from the summary', r.driver.daysSummary!));
  console.log(row('driver: days as a GROUP BY over versions', r.driver.daysGroupBy!));
  console.log(row("driver: one day's graders by graded_at range", r.driver.dayDetails!));
}

export async function run(): Promise<Record<string, unknown>> {
  const results: Record<string, unknown>[] = [];
  const wanted = benchDatabases();
  if (wanted.sqlite) {
    const sqlite = await runOn('sqlite');
    print(sqlite);
    results.push(sqlite);
  }
  if (!wanted.postgres) {
    saveResult('history', { benchmark: 'history', machine: machine(), results });
    return { results };
  }
  const pg = await freshPostgres('history');
  if (pg) {
    try {
      const postgres = await runOn('postgres', pg.url);
      print(postgres);
      results.push(postgres);
    } finally {
      await pg.drop();
    }
  }
  const result = { benchmark: 'history', machine: machine(), results };
  saveResult('history', result);
  return result;
}
