import { bigCourse } from '../test/factories/course-page.js';
import {
  fmt,
  freshPostgres,
  machine,
  saveResult,
  startServer,
  stats,
  type Measured,
} from './lib.js';

/**
 * The teacher's course page for 30, 300 and 1,000 learners x 30 columns
 * (every grade sent to the SIS, one in a hundred refused, one in fifty
 * changed since), over HTTP from the service as it runs in production: the
 * HTML's size (the first page of 100 learners, and the "needs attention"
 * filter) and the server's time, one request at a time.
 */

const SIZES = [30, 300, 1000];
const COLUMNS = 30;
const ROUNDS = 40;
const WARMUP = 5;

interface SizeResult {
  learners: number;
  columns: number;
  bytes: number;
  attentionBytes: number;
  tokenOccurrences: number;
  page: Measured;
  attention: Measured;
}

async function timed(url: string): Promise<{ ms: number; text: string }> {
  const start = performance.now();
  const res = await fetch(url);
  const text = await res.text();
  const ms = performance.now() - start;
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${text.slice(0, 200)}`);
  return { ms, text };
}

async function measure(url: string): Promise<{ stats: Measured; text: string }> {
  let text = '';
  for (let i = 0; i < WARMUP; i++) text = (await timed(url)).text;
  const samples: number[] = [];
  for (let i = 0; i < ROUNDS; i++) samples.push((await timed(url)).ms);
  return { stats: stats(samples, 1), text };
}

async function runOn(
  kind: 'sqlite' | 'postgres',
  databaseUrl?: string,
): Promise<{ database: string; sizes: SizeResult[] }> {
  const server = await startServer(databaseUrl ? { databaseUrl } : {});
  const sizes: SizeResult[] = [];
  try {
    for (const learners of SIZES) {
      const course = await bigCourse(server.deps, { learners, columns: COLUMNS });
      const url = `${server.baseUrl}/lti/s/${course.token}/app`;
      const page = await measure(url);
      const attention = await measure(`${url}?attention=1`);
      sizes.push({
        learners,
        columns: COLUMNS,
        bytes: Buffer.byteLength(page.text),
        attentionBytes: Buffer.byteLength(attention.text),
        tokenOccurrences: page.text.split(course.token).length - 1,
        page: page.stats,
        attention: attention.stats,
      });
    }
  } finally {
    await server.close();
  }
  return { database: kind, sizes };
}

function print(r: { database: string; sizes: SizeResult[] }): void {
  console.log(`\nCourse page on ${r.database} (${ROUNDS} requests each, one at a time)`);
  console.log(
    '| learners x columns | HTML (first page) | token in the page | server median | p99 | "needs attention" median |',
  );
  for (const s of r.sizes)
    console.log(
      `| ${fmt(s.learners)} x ${s.columns} | ${fmt(s.bytes / 1024, 0)} KB | ${s.tokenOccurrences} | ${s.page.median} ms | ${s.page.p99} ms | ${s.attention.median} ms |`,
    );
}

export async function run(): Promise<Record<string, unknown>> {
  const results: Array<{ database: string; sizes: SizeResult[] }> = [];
  const sqlite = await runOn('sqlite');
  print(sqlite);
  results.push(sqlite);
  const pg = await freshPostgres('page');
  if (pg) {
    try {
      const postgres = await runOn('postgres', pg.url);
      print(postgres);
      results.push(postgres);
    } finally {
      await pg.drop();
    }
  }
  const result = { benchmark: 'course-page', machine: machine(), results };
  saveResult('course-page', result);
  return result;
}
