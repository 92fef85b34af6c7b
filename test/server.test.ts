import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';

interface Running {
  child: ChildProcess;
  stdout: () => string;
  baseUrl: string;
}

/** Starts `tsx src/server.ts` on a free port and waits until it listens. */
async function start(database: TestDatabase): Promise<Running> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      DEMO_LMS_PORT: '0',
      DEMO_DATASYNC_PORT: '0',
      DATA_DIR: database.dataDir,
      ...(database.url ? { DATABASE_URL: database.url } : {}),
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const deadline = Date.now() + 30000;
  while (!/running at \S+/.test(out) || !/"port":\d+/.test(out)) {
    if (child.exitCode !== null) throw new Error(`server exited: ${out}`);
    if (Date.now() > deadline) throw new Error(`server did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const port = /"port":(\d+)/.exec(out)![1];
  return { child, stdout: () => out, baseUrl: `http://127.0.0.1:${port}` };
}

describe('the server process: first start, demo, graceful shutdown', function () {
  this.timeout(90000);
  let database: TestDatabase;

  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => {
    await database.drop();
  });

  it('creates a demo tenant on first start with curl examples that work, and stops cleanly on SIGTERM', async () => {
    const first = await start(database);
    const out = first.stdout();
    const clientId = /client_id:\s+(\S+)/.exec(out)![1]!;
    const secret = /client_secret:\s+(\S+)/.exec(out)![1]!;
    expect(out).to.include("TOKEN=$(curl -s -u '");
    const tokenRes = await fetch(`${first.baseUrl}/oauth2/token`, {
      method: 'POST',
      headers: {
        Authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
        'Content-Type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials',
    });
    expect(tokenRes.status).to.equal(200);
    const { access_token: token } = (await tokenRes.json()) as { access_token: string };
    // The demo course is there: a value for it recalculates its weighted final grade.
    const res = await fetch(`${first.baseUrl}/learn/api/v2/cc/gradejourney/gradeValueAPI`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify([
        { courseId: 'DEMO-100', userId: 'learner1', name: 'Quiz 1', value: '10' },
      ]),
    });
    expect(await res.json()).to.deep.equal([
      {
        courseId: 'DEMO-100',
        name: 'Quiz 1',
        status: 'OK',
        message: 'Grade value successfully added',
      },
    ]);
    // The demo's Data Sync: an exchange created there for the demo course goes through (notice, job, upload).
    const dataSync = /Data Sync emulator: (http:\/\/\S+?)\/ /.exec(out)![1]!;
    const created = await fetch(`${dataSync}/_emulator/exchanges`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        courseSourceId: 'DEMO-100',
        type: 'assignment_scores',
        courseAppId: 'gradebridge-demo',
      }),
    });
    expect(created.status).to.equal(201);
    const { id } = (await created.json()) as { id: string };
    let exchange: { state: string; scores: number } | undefined;
    for (const deadline = Date.now() + 20000; Date.now() < deadline;) {
      const state = (await (await fetch(`${dataSync}/_emulator/state`)).json()) as {
        exchanges: Array<{ id: string; state: string; scores: number }>;
      };
      exchange = state.exchanges.find((e) => e.id === id);
      if (exchange?.state === 'completed') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(exchange).to.include({ state: 'completed' });
    expect(exchange!.scores).to.be.greaterThan(0);
    // Secrets are printed for the operator, never logged.
    const logLines = out.split('\n').filter((l) => l.startsWith('{'));
    expect(logLines.length).to.be.greaterThan(0);
    expect(logLines.join('\n')).not.to.include(secret);

    first.child.kill('SIGTERM');
    const [code] = await once(first.child, 'exit');
    expect(code).to.equal(0);
    expect(first.stdout()).to.include('"msg":"stopped"');

    const second = await start(database);
    expect(second.stdout()).not.to.include('client_secret');
    // On another port, the demo Data Sync is still the demo tenant's.
    expect(second.stdout()).to.match(/Data Sync emulator: http:\/\/\S+/);
    expect(second.stdout()).to.include('gradebridge is running at');
    second.child.kill('SIGINT');
    const [code2] = await once(second.child, 'exit');
    expect(code2).to.equal(0);
  });
});
