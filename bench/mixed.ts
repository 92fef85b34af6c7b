/**
 * Mixed load: Grades Journey posts of 500 values, Gradebook History feed and
 * days, Progress collect and count, token requests and teacher course pages,
 * from 20 connections at once for 60 s (MIXED_SECONDS for a shorter try),
 * against the service as it runs in production (its own processes, started
 * as `npm start` and `npm run worker` start them). Set-ups:
 *
 *   sqlite     one web process on the embedded SQLite store (worker inside)
 *   pg         one web process on PostgreSQL (worker inside)
 *   pg-1web    one web process and two `npm run worker` processes, Redis
 *   pg-2web    two web processes (WEB_PROCESSES=2) behind one port, two workers, Redis
 *
 * MIXED_SETUPS picks some (comma-separated; all by default). Each set-up is
 * measured next to its ceiling in the same run: /healthz from the same 20
 * connections (the most requests the processes and the load generator can
 * turn around on this machine). Prints requests/s and p50/p99 per kind and
 * the errors (there must be none); writes bench/results/mixed.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { loadConfig } from '../config/index.js';
import { buildDeps } from '../src/bootstrap.js';
import { insertRows } from '../src/db/bulk.js';
import { createDb, dbOptionsFromConfig } from '../src/db/knex.js';
import { migrateLatest } from '../src/db/migrate.js';
import { isoNow, systemClock } from '../src/db/time.js';
import { inTransaction } from '../src/db/transaction.js';
import { createLogger } from '../src/logger.js';
import { createApiClient, createTenant } from '../src/tenants/service.js';
import { bigCourse } from '../test/factories/course-page.js';
import { runPlan } from './http-client.js';
import { fmt, freshPostgres, machine, percentile, postJson, saveResult } from './lib.js';

const SECONDS = Number(process.env.MIXED_SECONDS ?? 60);
const WARMUP_SECONDS = Number(process.env.MIXED_WARMUP_SECONDS ?? Math.min(10, SECONDS / 4));
const CEILING_SECONDS = Math.min(10, SECONDS / 3);
const CONNECTIONS = Number(process.env.MIXED_CONNECTIONS ?? 20);
/**
 * After the run at full speed, the same mix paced at this share of the
 * requests per second it reached (0.5 by default; 0 leaves it out): each
 * request's time then counts from when it was due, waiting included.
 */
const PACED = Number(process.env.MIXED_PACED ?? 0.5);
const SETUPS = ['sqlite', 'pg', 'pg-1web', 'pg-2web'] as const;
type SetupName = (typeof SETUPS)[number];

/** Journey: 20 courses x 4 columns x 500 learners; a post is one column of one course. */
const JOURNEY_COURSES = 20;
const JOURNEY_COLUMNS = 4;
const LEARNERS = 500;
/** Progress: this many gradebooks besides the Journey courses', one subject in ten. */
const GRADEBOOKS = 10_000;
const SUBJECTS = ['Biology', 'Chemistry', 'Physics', 'History', 'Literature'];
const MORE_SUBJECTS = ['Mathematics', 'Art', 'Music', 'Economics', 'Geography'];
/** The teacher's course page: one page of 100 learners x 30 columns. */
const PAGE_LEARNERS = 100;
const PAGE_COLUMNS = 30;

/**
 * The fixed mix, as each connection walks it (every connection starts at a
 * different place): of every 12 requests, 2 Journey posts, 2 history feeds,
 * 2 history days, 1 Progress collect, 2 Progress counts, 1 token request and
 * 2 course pages.
 */
const SEQUENCE = [
  'journey',
  'feed',
  'count',
  'page',
  'days',
  'token',
  'journey',
  'feed',
  'collect',
  'page',
  'days',
  'count',
] as const;
type KindName = (typeof SEQUENCE)[number];

interface Kind {
  name: string;
  method: 'GET' | 'POST';
  urls: string[];
  headers: Record<string, string>;
  bodies?: string[];
  journey?: {
    courses: string[];
    columns: string[];
    learners: number;
    firstPass: number;
  };
  failOn?: string;
}

interface KindResult {
  name: string;
  requests: number;
  perSecond: number;
  p50: number;
  p99: number;
  errors: number;
  samples: string[];
}

interface LoadResult {
  seconds: number;
  kinds: KindResult[];
}

function runLoad(
  kinds: Kind[],
  sequence: number[],
  warmupSeconds: number,
  seconds: number,
  rate?: number,
): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./mixed-load.mjs', import.meta.url), {
      workerData: {
        kinds,
        sequence,
        connections: CONNECTIONS,
        warmupMs: warmupSeconds * 1000,
        durationMs: seconds * 1000,
        rate,
      },
    });
    worker.once(
      'message',
      (m: {
        seconds: number;
        kinds: Array<{ name: string; latenciesMs: number[]; errors: number; samples: string[] }>;
      }) => {
        void worker.terminate();
        resolve({
          seconds: m.seconds,
          kinds: m.kinds.map((k) => {
            const sorted = k.latenciesMs.sort((a, b) => a - b);
            return {
              name: k.name,
              requests: sorted.length,
              perSecond: Number((sorted.length / m.seconds).toFixed(1)),
              p50: Number(percentile(sorted, 50).toFixed(1)),
              p99: Number(percentile(sorted, 99).toFixed(1)),
              errors: k.errors,
              samples: k.samples,
            };
          }),
        });
      },
    );
    worker.once('error', reject);
  });
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

interface Proc {
  label: string;
  child: ChildProcess;
  output: () => string;
}

const root = path.resolve(import.meta.dirname, '..');
/** Every process started, so that none outlives the benchmark when it is stopped. */
const started = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of started) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => process.exit(130));
}

/** `npm start` or `npm run worker` from source (tsx), waiting for `ready` in its output. */
async function startProcess(
  label: string,
  script: string,
  env: Record<string, string>,
  ready: RegExp | null,
): Promise<Proc> {
  // MIXED_NODE_OPTIONS: e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the processes.
  const extra = process.env.MIXED_NODE_OPTIONS?.split(' ').filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...extra, '--import', 'tsx', script], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  child.once('exit', () => started.delete(child));
  let out = '';
  child.stdout!.on('data', (d) => (out = (out + String(d)).slice(-200_000)));
  child.stderr!.on('data', (d) => (out = (out + String(d)).slice(-200_000)));
  const deadline = Date.now() + 120_000;
  while (ready && !ready.test(out)) {
    if (child.exitCode !== null) throw new Error(`${label} ended: ${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${label} did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { label, child, output: () => out };
}

async function stopProcess(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

interface Seeded {
  clientId: string;
  clientSecret: string;
  pageToken: string;
}

/** The tenant, its API client, the Progress gradebooks and the course page's course, straight into the store. */
async function seedStore(env: Record<string, string>): Promise<Seeded> {
  const config = loadConfig({ ...env, LOG_LEVEL: 'warn' });
  const db = createDb(dbOptionsFromConfig(config));
  await migrateLatest(db);
  const deps = await buildDeps(config, db, createLogger({ level: 'warn' }), systemClock);
  try {
    const now = isoNow(systemClock);
    const { tenantId, clientId, clientSecret } = await inTransaction(db, async (trx) => {
      const tenant = await createTenant(trx, { name: 'Mixed load' }, now);
      const created = await createApiClient(
        trx,
        { tenantId: tenant.id, scopes: ['journey', 'history', 'progress'], name: 'SIS' },
        now,
      );
      return {
        tenantId: tenant.id,
        clientId: created.client.clientId,
        clientSecret: created.secret,
      };
    });
    const subjects = [...SUBJECTS, ...MORE_SUBJECTS];
    for (let from = 0; from < GRADEBOOKS; from += 1000) {
      await inTransaction(db, async (trx) => {
        const courses = await insertRows(
          trx,
          'courses',
          Array.from({ length: 1000 }, (_, k) => {
            const i = from + k;
            return {
              tenant_id: tenantId,
              uuid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
              batch_uid: `PG-${i}`,
              title: `${subjects[i % subjects.length]} ${100 + (i % 400)} section ${i}`,
              source: 'bench',
              created_at: now,
              updated_at: now,
            };
          }),
          { returning: ['id', 'batch_uid'] },
        );
        await insertRows(
          trx,
          'gradebooks',
          courses.map((c, k) => {
            const i = from + k;
            return {
              uuid: `00000000-0000-4000-9000-${String(i).padStart(12, '0')}`,
              tenant_id: tenantId,
              course_id: Number(c.id),
              title: `${subjects[i % subjects.length]} ${100 + (i % 400)} section ${i}`,
              type: 'Course',
              reference: `PG-${i}`,
              is_locked: false,
              last_change_type: 'GradeChanged',
              last_change_user: 'Bench',
              last_change_time: new Date(Date.parse(now) - i * 60_000).toISOString(),
              created_at: now,
              updated_at: now,
            };
          }),
        );
      });
    }
    const page = await bigCourse(deps, { learners: PAGE_LEARNERS, columns: PAGE_COLUMNS });
    if (config.DATABASE_URL) await db.raw('analyze');
    return { clientId, clientSecret, pageToken: page.token };
  } finally {
    await deps.lti.close();
    await deps.exchange.close();
    await db.destroy();
  }
}

interface SetupResult {
  setup: SetupName;
  description: string;
  webProcesses: number;
  workerProcesses: number;
  poolMax: number;
  seconds: number;
  totalPerSecond: number;
  errors: number;
  kinds: KindResult[];
  ceiling: KindResult;
  paced: { rate: number; perSecond: number; errors: number; kinds: KindResult[] } | null;
  jobs: { run: number; claimedTwice: number; workers: number; names: Record<string, number> };
}

const DESCRIPTIONS: Record<SetupName, string> = {
  sqlite: 'SQLite, one web process (job worker inside)',
  pg: 'PostgreSQL, one web process (job worker inside)',
  'pg-1web': 'PostgreSQL + Redis, one web process, two worker processes',
  'pg-2web': 'PostgreSQL + Redis, two web processes on one port, two worker processes',
};

async function runSetup(
  setup: SetupName,
  databaseUrl: string | undefined,
  redisUrl: string | undefined,
): Promise<SetupResult> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradebridge-mixed-'));
  const port = await freePort();
  const webProcesses = setup === 'pg-2web' ? 2 : 1;
  const workerProcesses = setup === 'pg-1web' || setup === 'pg-2web' ? 2 : 0;
  const env: Record<string, string> = {
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    DATA_DIR: dataDir,
    DEMO: 'false',
    LOG_LEVEL: 'warn',
    WEB_PROCESSES: String(webProcesses),
    WORKER_IN_PROCESS: workerProcesses > 0 ? 'false' : 'true',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    ...(workerProcesses > 0 && redisUrl ? { REDIS_URL: redisUrl } : {}),
    ...(process.env.DATABASE_POOL_MAX ? { DATABASE_POOL_MAX: process.env.DATABASE_POOL_MAX } : {}),
  };
  const procs: Proc[] = [];
  try {
    const seeded = await seedStore(env);
    procs.push(
      await startProcess(
        'web',
        'src/server.ts',
        env,
        webProcesses > 1 ? /web processes answer at/ : /gradebridge is running at/,
      ),
    );
    for (let w = 0; w < workerProcesses; w++) {
      procs.push(await startProcess(`worker ${w + 1}`, 'src/worker.ts', env, null));
    }
    const base = `http://127.0.0.1:${port}`;
    const basic = `Basic ${Buffer.from(`${seeded.clientId}:${seeded.clientSecret}`).toString('base64')}`;
    const tokenRes = await fetch(`${base}/oauth2/token`, {
      method: 'POST',
      headers: { Authorization: basic, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    const { access_token: token } = (await tokenRes.json()) as { access_token: string };
    if (!token) throw new Error(`no token: ${tokenRes.status}`);

    // The Journey courses, through the API as an SIS would create them, and one pass of grades.
    const journey = `${base}/learn/api/v2/cc/gradejourney`;
    const courses = Array.from({ length: JOURNEY_COURSES }, (_, c) => `MIX-${c + 1}`);
    const columns = Array.from({ length: JOURNEY_COLUMNS }, (_, k) => `Assignment ${k + 1}`);
    for (const courseId of courses) {
      await postJson(
        `${journey}/gradableItemsAPI`,
        token,
        columns.map((name) => ({ courseId, name, itemType: 'ASSIGNMENT', points: 100 })),
      );
      await postJson(
        `${journey}/userMetadataAPI`,
        token,
        Array.from({ length: LEARNERS }, (_, l) => ({ courseId, userId: `learner-${l + 1}` })),
      );
    }
    const journeyKind: Kind = {
      name: 'Journey post (500 values)',
      method: 'POST',
      urls: [`${journey}/gradeValueAPI`],
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      journey: { courses, columns, learners: LEARNERS, firstPass: 0 },
      failOn: '"status":"ERROR"',
    };
    // One pass over every course and column (40,000 versions), so that history has grades.
    const passes = 1;
    await runPlan({
      url: `${journey}/gradeValueAPI`,
      token,
      bodies: courses.flatMap((courseId) =>
        columns.map((name) =>
          JSON.stringify(
            Array.from({ length: LEARNERS }, (_, l) => ({
              courseId,
              userId: `learner-${l + 1}`,
              name,
              value: String((l * 3) % 101),
            })),
          ),
        ),
      ),
      concurrency: 2,
      failOn: '"status":"ERROR"',
    });

    const auth = { Authorization: `Bearer ${token}` };
    const history = (what: string) =>
      courses.map((c) => `${base}/api/v1/courses/sis_course_id:${c}/gradebook_history/${what}`);
    const progress = `${base}/v2/e01/api/progress/gradebooks`;
    const json = { ...auth, 'Content-Type': 'application/json' };
    const kinds: Record<KindName, Kind> = {
      journey: { ...journeyKind, journey: { ...journeyKind.journey!, firstPass: passes } },
      feed: { name: 'History feed', method: 'GET', urls: history('feed'), headers: auth },
      days: { name: 'History days', method: 'GET', urls: history('days'), headers: auth },
      collect: {
        name: 'Progress collect',
        method: 'POST',
        urls: [`${progress}/collect`],
        headers: json,
        bodies: SUBJECTS.map((s) =>
          JSON.stringify({
            gradebookTitle: s.toLowerCase(),
            filter: { sort: 'lastChangeTime desc', pageSize: 20 },
          }),
        ),
      },
      count: {
        name: 'Progress count',
        method: 'POST',
        urls: [`${progress}/count`],
        headers: json,
        bodies: SUBJECTS.map((s) => JSON.stringify({ gradebookTitle: s.toLowerCase() })),
      },
      token: {
        name: 'Token request',
        method: 'POST',
        urls: [`${base}/oauth2/token`],
        headers: { Authorization: basic, 'Content-Type': 'application/x-www-form-urlencoded' },
        bodies: ['grant_type=client_credentials'],
      },
      page: {
        name: `Course page (${PAGE_LEARNERS} x ${PAGE_COLUMNS})`,
        method: 'GET',
        urls: [`${base}/lti/s/${seeded.pageToken}/app`],
        headers: {},
      },
    };
    const order = [...new Set(SEQUENCE)];
    const kindList = order.map((k) => kinds[k]);
    const sequence = SEQUENCE.map((k) => order.indexOf(k));
    const jobsBefore = await jobCount(databaseUrl, dataDir);
    const load = await runLoad(kindList, sequence, WARMUP_SECONDS, SECONDS);
    const totalPerSecond = load.kinds.reduce((n, k) => n + k.perSecond, 0);
    const paced =
      PACED > 0
        ? await runLoad(
            kindList,
            sequence,
            WARMUP_SECONDS,
            SECONDS,
            Number((totalPerSecond * PACED).toFixed(1)),
          )
        : null;
    const jobs = await jobStats(databaseUrl, dataDir, jobsBefore);
    const ceiling = await runLoad(
      [{ name: 'ceiling: GET /healthz', method: 'GET', urls: [`${base}/healthz`], headers: {} }],
      [0],
      Math.min(3, WARMUP_SECONDS),
      CEILING_SECONDS,
    );
    const pacedErrors = paced?.kinds.reduce((n, k) => n + k.errors, 0) ?? 0;
    const errors =
      load.kinds.reduce((n, k) => n + k.errors, 0) + ceiling.kinds[0]!.errors + pacedErrors;
    return {
      setup,
      description: DESCRIPTIONS[setup],
      webProcesses,
      workerProcesses,
      poolMax: databaseUrl ? Number(process.env.DATABASE_POOL_MAX ?? 0) || poolDefault() : 1,
      seconds: Number(load.seconds.toFixed(1)),
      totalPerSecond: Number(totalPerSecond.toFixed(1)),
      errors,
      kinds: load.kinds,
      ceiling: ceiling.kinds[0]!,
      paced: paced
        ? {
            rate: Number((totalPerSecond * PACED).toFixed(1)),
            perSecond: Number(paced.kinds.reduce((n, k) => n + k.perSecond, 0).toFixed(1)),
            errors: pacedErrors,
            kinds: paced.kinds,
          }
        : null,
      jobs,
    };
  } catch (err) {
    for (const p of procs) console.error(`--- ${p.label}\n${p.output().slice(-5000)}`);
    throw err;
  } finally {
    for (const p of procs.reverse()) await stopProcess(p);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

function poolDefault(): number {
  return loadConfig({}).DATABASE_POOL_MAX;
}

function storeOf(databaseUrl: string | undefined, dataDir: string) {
  return databaseUrl
    ? createDb({ databaseUrl, poolMax: 1 })
    : createDb({ sqliteFile: path.join(dataDir, 'gradebridge.sqlite') });
}

async function jobCount(databaseUrl: string | undefined, dataDir: string): Promise<number> {
  const db = storeOf(databaseUrl, dataDir);
  try {
    const row = await db('job_attempts').max('id as id').first();
    return Number(row?.id ?? 0);
  } finally {
    await db.destroy();
  }
}

/** The jobs that ran while the load ran: how many, by how many workers, and any attempt claimed twice. */
async function jobStats(
  databaseUrl: string | undefined,
  dataDir: string,
  afterAttempt: number,
): Promise<{ run: number; claimedTwice: number; workers: number; names: Record<string, number> }> {
  const db = storeOf(databaseUrl, dataDir);
  try {
    const attempts = await db('job_attempts as a')
      .join('jobs as j', 'j.id', 'a.job_id')
      .where('a.id', '>', afterAttempt)
      .select('a.job_id', 'a.attempt', 'a.worker', 'j.name');
    const names: Record<string, number> = {};
    for (const a of attempts) names[a.name] = (names[a.name] ?? 0) + 1;
    const seen = new Set<string>();
    let claimedTwice = 0;
    for (const a of attempts) {
      const key = `${a.job_id}:${a.attempt}`;
      if (seen.has(key)) claimedTwice++;
      seen.add(key);
    }
    return {
      run: attempts.length,
      claimedTwice,
      workers: new Set(attempts.map((a) => a.worker)).size,
      names,
    };
  } finally {
    await db.destroy();
  }
}

function print(r: SetupResult): void {
  console.log(
    `\nMixed load: ${r.description}, ${CONNECTIONS} connections, ${r.seconds} s (${machine()}, shared with other work)`,
  );
  console.log(
    '| request                      | requests/s |   p50 ms |   p99 ms | errors |\n| ---------------------------- | ---------- | -------- | -------- | ------ |',
  );
  const line = (k: KindResult) =>
    console.log(
      `| ${k.name.padEnd(28)} | ${fmt(k.perSecond, 1).padStart(10)} | ${fmt(k.p50, 1).padStart(8)} | ${fmt(k.p99, 1).padStart(8)} | ${String(k.errors).padStart(6)} |`,
    );
  for (const k of r.kinds) line(k);
  console.log(
    `| ${'all of them'.padEnd(28)} | ${fmt(r.totalPerSecond, 1).padStart(10)} |          |          | ${String(r.errors).padStart(6)} |`,
  );
  line(r.ceiling);
  if (r.paced) {
    console.log(
      `paced at ${fmt(r.paced.rate, 1)} requests/s (${PACED * 100} % of the above; times count from when each request was due):`,
    );
    console.log(
      '| request                      | requests/s |   p50 ms |   p99 ms | errors |\n| ---------------------------- | ---------- | -------- | -------- | ------ |',
    );
    for (const k of r.paced.kinds) line(k);
  }
  console.log(
    `jobs run meanwhile: ${r.jobs.run} by ${r.jobs.workers} worker(s) (${Object.entries(
      r.jobs.names,
    )
      .map(([n, c]) => `${n} ${c}`)
      .join(', ')}), attempts claimed twice: ${r.jobs.claimedTwice}`,
  );
  for (const k of [...r.kinds, r.ceiling, ...(r.paced?.kinds ?? [])])
    for (const s of k.samples) console.log(`  error (${k.name}): ${s}`);
}

export async function run(): Promise<Record<string, unknown>> {
  const wanted = (process.env.MIXED_SETUPS ?? SETUPS.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean) as SetupName[];
  for (const s of wanted)
    if (!SETUPS.includes(s)) throw new Error(`unknown set-up ${s}; known: ${SETUPS.join(', ')}`);
  const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const results: SetupResult[] = [];
  for (const setup of wanted) {
    if (setup === 'sqlite') {
      const r = await runSetup(setup, undefined, undefined);
      print(r);
      results.push(r);
      continue;
    }
    const db = await freshPostgres(`mixed_${setup.replace(/-/g, '_')}`);
    if (!db) continue;
    try {
      const r = await runSetup(setup, db.url, redisUrl);
      print(r);
      results.push(r);
    } finally {
      await db.drop();
    }
  }
  const result = {
    benchmark: 'mixed',
    machine: `${machine()}; the load generator runs on the same cores`,
    connections: CONNECTIONS,
    seconds: SECONDS,
    pacedShare: PACED,
    mix: SEQUENCE,
    results,
  };
  const errors = results.reduce((n, r) => n + r.errors, 0);
  if (errors > 0) console.log(`\n${errors} errors: the run does not count`);
  saveResult('mixed', result);
  if (errors > 0) process.exitCode = 1;
  return result;
}
