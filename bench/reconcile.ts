/**
 * The reconciliation report for a tenant of 200 courses x 40 learners x 10
 * columns (80,000 grades), every column linked to an LMS line item and sent
 * to the SIS: its time and the memory it takes, on SQLite and PostgreSQL.
 */
import { randomUUID } from 'node:crypto';
import { insertRows } from '../src/db/bulk.js';
import type { Db } from '../src/db/knex.js';
import { isoNow } from '../src/db/time.js';
import { inTransaction } from '../src/db/transaction.js';
import { reconcileReport } from '../src/reconcile/report.js';
import { reconcile } from '../src/reconcile/service.js';
import {
  fmt,
  freshPostgres,
  machine,
  saveResult,
  startServer,
  tenantToken,
  type BenchServer,
} from './lib.js';

const COURSES = 200;
const LEARNERS = 40;
const COLUMNS = 10;

async function seed(db: Db, tenantId: number): Promise<void> {
  const now = new Date().toISOString();
  await inTransaction(db, async (trx) => {
    const [conn] = await trx('datasync_connections')
      .insert({
        tenant_id: tenantId,
        base_url: 'http://127.0.0.1:9/v2/grades',
        token_url: 'http://127.0.0.1:9/oauth2/token',
        client_id: 'bench',
        client_secret: 'x',
        rate_per_second: 20,
        concurrency: 4,
        notice_secret: 'x',
        created_at: now,
        updated_at: now,
      })
      .returning('id');
    const [exchange] = await trx('exchanges')
      .insert({
        tenant_id: tenantId,
        connection_id: conn.id ?? conn,
        remote_id: randomUUID(),
        state: 'completed',
        trigger: 'schedule',
        query: '{}',
        max_data_content_length: 1000000,
        created_at: now,
        updated_at: now,
      })
      .returning('id');
    const exchangeId = exchange.id ?? exchange;
    const users = await trx('users')
      .insert(
        Array.from({ length: LEARNERS }, (_, i) => ({
          tenant_id: tenantId,
          uuid: randomUUID(),
          batch_uid: `bench-l${i}`,
          name: `Learner ${i}`,
          kind: 'person',
          created_at: now,
          updated_at: now,
        })),
      )
      .returning('id');
    const userIds = users.map((u: { id: number } | number) => (typeof u === 'number' ? u : u.id));
    for (let c = 0; c < COURSES; c++) {
      const [course] = await trx('courses')
        .insert({
          tenant_id: tenantId,
          uuid: randomUUID(),
          batch_uid: `bench-c${c}`,
          title: `Course ${c}`,
          source: 'bench',
          created_at: now,
          updated_at: now,
        })
        .returning('id');
      const courseId = course.id ?? course;
      await trx('gradebooks').insert({
        tenant_id: tenantId,
        course_id: courseId,
        uuid: randomUUID(),
        last_change_time: now,
        created_at: now,
        updated_at: now,
      });
      await insertRows(
        trx,
        'enrollments',
        userIds.map((u: number) => ({
          tenant_id: tenantId,
          course_id: courseId,
          user_id: u,
          role: 'Learner',
          source: 'bench',
          created_at: now,
          updated_at: now,
        })),
      );
      for (let k = 0; k < COLUMNS; k++) {
        const [column] = await trx('grade_columns')
          .insert({
            tenant_id: tenantId,
            course_id: courseId,
            name: `Column ${k}`,
            item_type: 'TEST',
            points: 10,
            is_external: k === COLUMNS - 1,
            source: 'bench',
            created_at: now,
            updated_at: now,
          })
          .returning('id');
        const columnId = column.id ?? column;
        const lineItem = `http://lms.example/api/lti/courses/${c}/line_items/${columnId}`;
        await trx('external_ids').insert({
          tenant_id: tenantId,
          kind: 'lineitem',
          system: 'http://lms.example',
          external_id: lineItem,
          local_id: columnId,
          created_at: now,
        });
        const subs = await trx('submissions')
          .insert(
            userIds.map((u: number, i: number) => ({
              tenant_id: tenantId,
              course_id: courseId,
              column_id: columnId,
              user_id: u,
              score: (i + k) % 11,
              grade: String((i + k) % 11),
              workflow_state: 'graded',
              graded_at: now,
              created_at: now,
              updated_at: now,
            })),
          )
          .returning(['id', 'user_id']);
        const versions = await trx('grade_versions')
          .insert(
            subs.map((s: { id: number; user_id: number }, i: number) => ({
              tenant_id: tenantId,
              course_id: courseId,
              column_id: columnId,
              user_id: s.user_id,
              submission_id: s.id,
              score: (i + k) % 11,
              grade: String((i + k) % 11),
              workflow_state: 'graded',
              graded_at: now,
              recorded_at: now,
              source: 'journey',
              idempotency_key: `bench-${columnId}-${s.user_id}`,
            })),
          )
          .returning(['id', 'user_id']);
        // One learner in 40 differs in the LMS, one in 40 was refused by the SIS.
        await insertRows(
          trx,
          'lms_grades',
          userIds.map((u: number, i: number) => ({
            tenant_id: tenantId,
            course_id: courseId,
            column_id: columnId,
            user_id: u,
            line_item: lineItem,
            sent_score: (i + k) % 11,
            sent_at: now,
            send_status: 'sent',
            lms_score: i === 0 ? 99 : (i + k) % 11,
            lms_has_score: true,
            lms_read_at: now,
            updated_at: now,
          })),
        );
        await insertRows(
          trx,
          'exchange_sends',
          versions.map((v: { id: number; user_id: number }, i: number) => ({
            exchange_id: exchangeId,
            column_id: columnId,
            user_id: v.user_id,
            kind: k === COLUMNS - 1 ? 'summary' : 'score',
            version_id: v.id,
            score: (i + k) % 11,
            grade: String((i + k) % 11),
            status: i === 1 ? 'failed' : 'sent',
            sis_outcome: i === 1 ? 'refused' : 'accepted',
            outcome_at: now,
            created_at: now,
            updated_at: now,
          })),
        );
      }
    }
  });
}

async function measure(label: string, server: BenchServer) {
  const { tenantId } = await tenantToken(server.deps, ['reconcile']);
  const seedStarted = Date.now();
  await seed(server.deps.db, tenantId);
  const seedMs = Date.now() - seedStarted;
  const runs: number[] = [];
  let heapDelta = 0;
  let counts: Record<string, number> = {};
  for (let i = 0; i < 3; i++) {
    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    const started = process.hrtime.bigint();
    const report = await reconcileReport(server.deps.db, tenantId, {
      now: isoNow(server.deps.clock),
      unknownAfterMinutes: 60,
    });
    runs.push(Number(process.hrtime.bigint() - started) / 1e6);
    heapDelta = Math.max(heapDelta, process.memoryUsage().heapUsed - heapBefore);
    counts = report.counts;
  }
  const withDrift = process.hrtime.bigint();
  await reconcile(server.deps, tenantId);
  const recordMs = Number(process.hrtime.bigint() - withDrift) / 1e6;
  const result = {
    database: label,
    grades: COURSES * LEARNERS * COLUMNS,
    seedMs,
    reportMs: runs.map((r) => Math.round(r)),
    withDriftRecordedMs: Math.round(recordMs),
    heapMb: Math.round(heapDelta / 1024 / 1024),
    rssMb: Math.round(process.memoryUsage().rss / 1024 / 1024),
    counts,
  };
  console.log(
    `  ${label}: report of ${fmt(result.grades)} grades in ${result.reportMs.map((r) => fmt(r)).join(' / ')} ms (three runs); with drift recorded ${fmt(result.withDriftRecordedMs)} ms; heap +${result.heapMb} MB, RSS ${result.rssMb} MB; states ${JSON.stringify(counts)}`,
  );
  return result;
}

export async function run(): Promise<void> {
  console.log(
    `\nReconciliation report, ${COURSES} courses x ${LEARNERS} learners x ${COLUMNS} columns (${machine()})`,
  );
  const results = [];
  const sqlite = await startServer({ env: { RECONCILE_EVERY_SECONDS: '0' } });
  try {
    results.push(await measure('sqlite', sqlite));
  } finally {
    await sqlite.close();
  }
  const db = await freshPostgres('reconcile');
  if (!db) {
    saveResult('reconcile', results);
    return;
  }
  const pg = await startServer({ databaseUrl: db.url, env: { RECONCILE_EVERY_SECONDS: '0' } });
  try {
    results.push(await measure('postgres', pg));
  } finally {
    await pg.close();
    await db.drop();
  }
  saveResult('reconcile', results);
}
