/**
 * 100,000 grade values through gradeValueAPI in batches of 500 over HTTP on
 * the embedded default (SQLite, WAL), next to plain better-sqlite3 inserts of
 * the same version rows into the same schema, measured in the same run.
 */
import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createDb } from '../src/db/knex.js';
import { migrateLatest } from '../src/db/migrate.js';
import { runPlan } from './http-client.js';
import { fmt, machine, postJson, saveResult, startServer, tenantToken } from './lib.js';

const COURSES = 50;
const COLUMNS = 4;
const LEARNERS = 500;
const BATCH = 500;

export async function run(): Promise<Record<string, unknown>> {
  const server = await startServer();
  const total = COURSES * COLUMNS * LEARNERS;
  try {
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
    // Warm-up on a throwaway course so JIT and caches are hot before timing.
    await postJson(`${journey}/gradableItemsAPI`, token, [
      { courseId: 'WARM', name: 'W', itemType: 'ASSIGNMENT' },
    ]);
    for (let i = 0; i < 5; i++) {
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
    const serviceRate = total / seconds;
    const sequentialRate = total / 2 / sequential.seconds;
    const parallelRate = total / 2 / parallel.seconds;

    // The ceiling: the same version rows, inserted with a prepared statement in
    // transactions of 500 into a fresh copy of the schema (WAL, synchronous=NORMAL).
    const versions = (await server.deps
      .db('grade_versions')
      .join('courses', 'courses.id', 'grade_versions.course_id')
      .where('grade_versions.tenant_id', tenantId)
      .whereNot('courses.batch_uid', 'WARM')
      .orderBy('grade_versions.id')
      .select('grade_versions.*')) as Array<Record<string, unknown>>;
    if (versions.length !== total)
      throw new Error(`expected ${total} versions, found ${versions.length}`);
    const baseDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradebridge-bench-base-'));
    const baseFile = path.join(baseDir, 'base.sqlite');
    const knex = createDb({ sqliteFile: baseFile });
    await migrateLatest(knex);
    await knex.destroy();
    const base = new Database(baseFile);
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
    const baseStarted = process.hrtime.bigint();
    for (let i = 0; i < rows.length; i += BATCH) insertMany(rows.slice(i, i + BATCH));
    const baseSeconds = Number(process.hrtime.bigint() - baseStarted) / 1e9;
    base.close();
    fs.rmSync(baseDir, { recursive: true, force: true });
    const baseRate = total / baseSeconds;

    const result = {
      benchmark: 'journey-grade-values',
      machine: machine(),
      values: total,
      batchSize: BATCH,
      requests: batches.length,
      seconds: Number(seconds.toFixed(2)),
      valuesPerSecond: Math.round(serviceRate),
      sequentialValuesPerSecond: Math.round(sequentialRate),
      twoClientsValuesPerSecond: Math.round(parallelRate),
      plainInsertsPerSecond: Math.round(baseRate),
      ratio: Number((serviceRate / baseRate).toFixed(3)),
      sequentialRatio: Number((sequentialRate / baseRate).toFixed(3)),
      twoClientsRatio: Number((parallelRate / baseRate).toFixed(3)),
    };
    console.log('\nGrades Journey gradeValueAPI, SQLite (embedded default)');
    console.log(
      `  ${fmt(total)} values in ${batches.length} requests of ${BATCH}: ${fmt(seconds, 2)} s`,
    );
    console.log(
      `  one client, batch after batch: ${fmt(sequentialRate)} values/s (${fmt(result.sequentialRatio * 100, 1)} % of the ceiling)`,
    );
    console.log(
      `  two clients at once:           ${fmt(parallelRate)} values/s (${fmt(result.twoClientsRatio * 100, 1)} % of the ceiling)`,
    );
    console.log(
      `  all 100,000:                   ${fmt(serviceRate)} values/s (${fmt(result.ratio * 100, 1)} % of the ceiling)`,
    );
    console.log(`  plain better-sqlite3 inserts:  ${fmt(baseRate)} rows/s`);
    saveResult('journey-grade-values', result);
    return result;
  } finally {
    await server.close();
  }
}
