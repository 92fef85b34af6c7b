import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { until } from '../helpers/worker-process.js';

const unescape = (s: string) =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

const attr = (tag: string, name: string): string | undefined => {
  const m = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  return m ? unescape(m[1]!) : undefined;
};

/**
 * The home page's form as a browser would submit it untouched: its action,
 * and each field with the value it starts with (an input's value, a select's
 * selected option, or its first).
 */
function formOf(html: string): { action: string; fields: Record<string, string> } {
  const form = /<form\b[^>]*method="post"[^>]*>([\s\S]*?)<\/form>/.exec(html);
  if (!form) throw new Error(`no form on the page:\n${html}`);
  const action = attr(form[0].slice(0, form[0].indexOf('>') + 1), 'action')!;
  const fields: Record<string, string> = {};
  for (const [tag] of form[1]!.matchAll(/<input\b[^>]*>/g)) {
    const name = attr(tag, 'name');
    if (name) fields[name] = attr(tag, 'value') ?? '';
  }
  for (const [, open, body] of form[1]!.matchAll(/(<select\b[^>]*>)([\s\S]*?)<\/select>/g)) {
    const name = attr(open!, 'name');
    const options = [...body!.matchAll(/(<option\b[^>]*>)([\s\S]*?)<\/option>/g)].map(
      ([, tag, text]) => ({
        value: attr(tag!, 'value') ?? unescape(text!),
        selected: /\sselected\b/.test(tag!),
      }),
    );
    const chosen = options.find((o) => o.selected) ?? options[0];
    if (name && chosen) fields[name] = chosen.value;
  }
  return { action, fields };
}

interface ExchangeState {
  id: string;
  scope: string;
  state: string;
  scores: number;
  summaries: number;
}

/**
 * The demo as the quick start prints it: `npm start` (the service, its worker
 * and the demo's Data Sync emulator), then a person opens the emulator's page
 * and asks for the grades of DEMO-100 with its form.
 */
describe('the demo: an exchange asked for on the Data Sync emulator page goes through', function () {
  this.timeout(90000);
  let database: TestDatabase;
  let child: ChildProcess | undefined;
  let out = '';

  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    await database.drop();
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.error(out);
  });

  it('completes an exchange for DEMO-100 created with the page form as it stands', async () => {
    child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      env: {
        ...process.env,
        PORT: '0',
        HOST: '127.0.0.1',
        DEMO_LMS: 'false',
        DEMO_DATASYNC_PORT: '0',
        DATA_DIR: database.dataDir,
        ...(database.url ? { DATABASE_URL: database.url } : {}),
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const running = () => child!.exitCode === null && child!.signalCode === null;
    await until('the server is running', () => {
      if (!running()) throw new Error(`the server exited:\n${out}`);
      return /gradebridge is running at/.test(out);
    });
    const emulator = /Data Sync emulator: (http:\/\/\S+?)\/ /.exec(out)![1]!;

    const page = await fetch(`${emulator}/`);
    expect(page.status).to.equal(200);
    const { action, fields } = formOf(await page.text());
    expect(fields).to.have.property('courseSourceId');
    const submitted = await fetch(new URL(action, emulator), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...fields, courseSourceId: 'DEMO-100' }).toString(),
      redirect: 'manual',
    });
    expect(submitted.status).to.equal(303);

    const exchanges = async () =>
      (
        (await (await fetch(`${emulator}/_emulator/state`)).json()) as {
          exchanges: ExchangeState[];
        }
      ).exchanges;
    const [created] = await exchanges();
    expect(created).to.include({ scope: 'DEMO-100' });
    let seen: ExchangeState | undefined;
    await until(
      'the exchange is answered',
      async () => {
        if (!running()) throw new Error(`the server exited:\n${out}`);
        seen = (await exchanges()).find((e) => e.id === created!.id);
        return seen?.state !== 'created' && seen?.state !== 'in_progress';
      },
      20000,
      100,
    ).catch(() => undefined);
    expect(seen, 'the exchange after 20 s').to.include({ state: 'completed' });
    expect(seen!.scores).to.be.greaterThan(0);
    // The page shows it done, as the person watching it sees it.
    const after = await (await fetch(`${emulator}/`)).text();
    expect(after).to.match(new RegExp(`${created!.id}[\\s\\S]*?state-completed`));
  });
});
