import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';

const run = promisify(execFile);

describe('command-line tool (npm run --silent cli)', function () {
  this.timeout(60000);
  let database: TestDatabase;

  const cli = async (...args: string[]) => {
    const env = {
      ...process.env,
      DATA_DIR: database.dataDir,
      ...(database.url ? { DATABASE_URL: database.url } : {}),
    };
    try {
      const { stdout, stderr } = await run('npm', ['run', '--silent', 'cli', '--', ...args], {
        env,
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => {
    await database.drop();
  });

  it('creates a tenant and an API client, printing one JSON object each', async () => {
    const tenant = await cli(
      'tenant',
      'create',
      '--name',
      'North High',
      '--time-zone',
      'America/Chicago',
      '--json',
    );
    expect(tenant.code).to.equal(0);
    const t = JSON.parse(tenant.stdout);
    expect(t).to.include({ name: 'North High', timeZone: 'America/Chicago' });
    expect(t.tenantId).to.be.a('number');
    expect(t.uuid).to.match(/^[0-9a-f-]{36}$/);

    const client = await cli(
      'client',
      'create',
      '--tenant',
      String(t.tenantId),
      '--scopes',
      'journey,history',
      '--name',
      'SIS nightly',
      '--json',
    );
    expect(client.code).to.equal(0);
    const c = JSON.parse(client.stdout);
    expect(c).to.include({ tenantId: t.tenantId, name: 'SIS nightly' });
    expect(c.scopes).to.deep.equal(['journey', 'history']);
    expect(c.clientId).to.match(/^[0-9a-f]{24}$/);
    expect(c.clientSecret).to.have.length.greaterThan(40);

    const list = await cli('client', 'list', '--tenant', String(t.tenantId), '--json');
    const listed = JSON.parse(list.stdout);
    expect(listed.clients.map((x: { clientId: string }) => x.clientId)).to.deep.equal([c.clientId]);
    expect(list.stdout).not.to.include(c.clientSecret);
  });

  it('fails with a clear message and a non-zero exit for bad input', async () => {
    const badScope = await cli(
      'client',
      'create',
      '--tenant',
      '1',
      '--scopes',
      'journey,grades',
      '--json',
    );
    expect(badScope.code).to.equal(1);
    expect(badScope.stderr).to.include('unknown scope(s) grades');
    expect(badScope.stdout).to.equal('');
    for (const [args, message] of [
      [['client', 'create', '--tenant', '999', '--scopes', 'journey'], 'tenant 999 does not exist'],
      [
        ['tenant', 'create', '--name', 'X', '--time-zone', 'Nowhere/Town'],
        'time zone "Nowhere/Town" is not an IANA time zone',
      ],
    ] as const) {
      const refused = await cli(...args, '--json');
      expect(refused.code).to.equal(1);
      expect(refused.stderr).to.include(message);
    }
    const usage = await cli('tenant', 'create', '--json');
    expect(usage.code).to.equal(2);
    expect(usage.stderr).to.include("required option '--name <name>' not specified");
  });
});
