import { expect } from 'chai';
import { once } from 'node:events';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { startServer } from './helpers/server-process.js';

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
    const first = await startServer(database, { from: 'source' });
    const out = first.output();
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

    expect(await first.stop('SIGTERM')).to.equal(0);
    expect(first.output()).to.include('"msg":"stopped"');

    const second = await startServer(database, { from: 'source' });
    expect(second.output()).not.to.include('client_secret');
    // On another port, the demo Data Sync is still the demo tenant's.
    expect(second.output()).to.match(/Data Sync emulator: http:\/\/\S+/);
    expect(second.output()).to.include('gradebridge is running at');
    expect(await second.stop('SIGINT')).to.equal(0);
  });

  for (const reader of ['stops reading', 'closes the pipe'] as const) {
    it(`ends on SIGTERM when whoever reads its output ${reader}`, async () => {
      const server = await startServer(database, {
        from: 'source',
        env: { SHUTDOWN_TIMEOUT_MS: '1000', DEMO: 'false' },
      });
      server.child.stdout!.removeAllListeners('data');
      if (reader === 'stops reading') server.child.stdout!.pause();
      else server.child.stdout!.destroy();
      // Each request logs a line: more than a pipe holds.
      const query = 'x'.repeat(400);
      for (let i = 0; i < 400; i++) {
        const res = await fetch(`${server.baseUrl}/healthz?${query}`);
        expect(res.status).to.equal(200);
      }
      server.child.kill('SIGTERM');
      const exited = once(server.child, 'exit');
      const deadline = new Promise((r) => setTimeout(() => r('still running'), 20000));
      expect(await Promise.race([exited, deadline])).not.to.equal('still running');
      server.child.kill('SIGKILL');
    });
  }
});
