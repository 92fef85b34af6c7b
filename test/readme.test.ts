import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { Browser } from './helpers/browser.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import {
  buildProject,
  processEnv,
  projectRoot,
  shell,
  startServer,
  type ServerProcess,
} from './helpers/server-process.js';

const README = fs.readFileSync(path.join(projectRoot, 'README.md'), 'utf8');
/** Where the README's examples expect the service. */
const README_BASE_URL = 'http://localhost:3000';

/** The first ```sh block of a README section that contains `marker`. */
function shellBlock(section: string, marker: string): string {
  const heading = new RegExp(`\\n(#{2,3}) ${section.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`).exec(
    README,
  );
  expect(heading, `README section "${section}"`).to.not.equal(null);
  const start = heading!.index;
  const end = README.indexOf(`\n${heading![1]} `, start + 4);
  const body = README.slice(start, end === -1 ? undefined : end);
  const blocks = [...body.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const block = blocks.find((b) => b.includes(marker));
  expect(block, `a sh block with "${marker}" in "${section}"`).to.be.a('string');
  return block!;
}

interface Step {
  command: string;
  /** The JSON the README shows under the command, when it shows one. */
  example?: Record<string, unknown>;
}

/** The commands of a block (continued lines joined, trailing comments cut), each with its example output. */
function steps(block: string): Step[] {
  const lines = block.replace(/\\\n\s*/g, '').split('\n');
  const out: Step[] = [];
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('# {')) {
      out[out.length - 1]!.example = JSON.parse(line.slice(2));
      continue;
    }
    if (line.startsWith('#')) continue;
    out.push({ command: line.replace(/\s+#\s.*$/, '') });
  }
  return out;
}

/** The README's output shown under a command: the same fields, and the same values where it shows one. */
function expectLike(actual: Record<string, unknown>, example: Record<string, unknown>): void {
  expect(Object.keys(actual).sort()).to.deep.equal(Object.keys(example).sort());
  for (const [key, value] of Object.entries(example)) {
    if (typeof value === 'string' && value !== '…') expect(actual[key], key).to.equal(value);
  }
}

describe('the README, as printed, beside the built server (npm start)', function () {
  this.timeout(300000);

  before(async () => {
    await buildProject();
  });

  describe('a newcomer: npm start, then the quick start and the command line in a second terminal', () => {
    let database: TestDatabase;
    let server: ServerProcess;
    const env = () => processEnv(database);
    const local = (text: string) => text.replaceAll(README_BASE_URL, server.baseUrl);

    before(async () => {
      database = await createTestDatabase();
      server = await startServer(database, { from: 'built' });
    });
    after(async () => {
      if (server) expect(await server.stop()).to.equal(0);
      await database?.drop();
    });

    it("runs the quick start's curl example as printed", async () => {
      const block = shellBlock('Quick start', 'gradeValueAPI');
      const expected = /^# (\[.*\])$/m.exec(block)![1]!;
      const result = await shell(`set -euo pipefail\n${local(block)}`, env());
      expect(result.code, result.stderr).to.equal(0);
      expect(JSON.parse(result.stdout.trim().split('\n').pop()!)).to.deep.equal(
        JSON.parse(expected),
      );
    });

    it('runs every command of the operator command line as printed, each printing one JSON object', async () => {
      // The demo LMS's course is known to gradebridge once it was launched there.
      const lms = /LMS emulator: (http:\/\/\S+?)\/? /.exec(server.output())![1]!;
      const teacher = new Browser();
      const page = await teacher.open(
        `${lms}/launch?client_id=gradebridge-demo&user_id=instructor-1&context_id=DEMO-LTI-101&resource_link_id=demo-link-week-1`,
        { submitForms: true },
      );
      expect(page.status, page.html).to.equal(200);

      const block = shellBlock('Operator command line', 'tenant create');
      const commands = steps(block);
      expect(commands.length).to.be.greaterThan(15);
      let clientId: string | undefined;
      for (const step of commands) {
        const command = local(step.command).replace(/\bCLIENT_ID\b/, clientId ?? 'CLIENT_ID');
        const result = await shell(command, env());
        expect(result.code, `${command}\n${result.stderr}`).to.equal(0);
        expect(result.stderr, command).not.to.match(/corrupt|error/i);
        const printed = JSON.parse(result.stdout) as Record<string, unknown>;
        if (step.example) expectLike(printed, step.example);
        if (typeof printed.clientId === 'string') clientId = printed.clientId;
      }
      expect(clientId).to.be.a('string');
    });

    it('follows the final-grade worked example on the demo course, to grades the SIS received', async () => {
      const block = shellBlock(
        'Final grades: review, submit, approve, send',
        'final-grades submit',
      );
      for (const step of steps(block)) {
        const result = await shell(local(step.command), env());
        expect(result.code, `${step.command}\n${result.stderr}`).to.equal(0);
        const printed = JSON.parse(result.stdout) as Record<string, unknown>;
        if (step.example) expectLike(printed, step.example);
      }
      // The approval asked the running service to send the approved values: they arrive.
      let states: string[] = [];
      for (const deadline = Date.now() + 30000; Date.now() < deadline;) {
        const status = await shell(
          'npm run --silent cli -- final-grades status --tenant 1 --course DEMO-100 --json',
          env(),
        );
        states = (JSON.parse(status.stdout) as { learners: Array<{ state: string }> }).learners.map(
          (l) => l.state,
        );
        if (states.length > 0 && states.every((s) => s === 'sent')) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      expect(states).to.deep.equal(['sent', 'sent', 'sent', 'sent']);
    });

    it('runs the reconciliation commands as printed', async () => {
      const block = shellBlock('Reconciliation: every grade accounted for', 'reconcile --tenant');
      for (const step of steps(block)) {
        const result = await shell(local(step.command), env());
        expect(result.code, `${step.command}\n${result.stderr}`).to.equal(0);
        const printed = JSON.parse(result.stdout) as { counts: Record<string, number> };
        expect(printed.counts).to.have.keys(
          'in_sync',
          'lms_differs',
          'sis_differs',
          'waiting',
          'failed',
          'unknown',
        );
      }
    });
  });

  describe('the other way round: the command line first, then npm start on the same data', () => {
    let database: TestDatabase;

    before(async () => {
      database = await createTestDatabase();
    });
    after(async () => {
      await database?.drop();
    });

    it('starts the built server on a database the command line created from source', async () => {
      const created = await shell(
        'npm run --silent cli -- tenant create --name "North High" --json',
        processEnv(database),
      );
      expect(created.code, created.stderr).to.equal(0);
      const server = await startServer(database, { from: 'built' });
      try {
        const ready = await fetch(`${server.baseUrl}/readyz`);
        expect(ready.status).to.equal(200);
        const listed = await shell(
          'npm run --silent cli -- tenant list --json',
          processEnv(database),
        );
        expect(listed.code, listed.stderr).to.equal(0);
        expect(JSON.parse(listed.stdout).tenants).to.have.length(1);
      } finally {
        expect(await server.stop()).to.equal(0);
      }
    });
  });
});
