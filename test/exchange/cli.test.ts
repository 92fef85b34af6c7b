import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { DataSyncEmulator } from '../../src/emulators/datasync/index.js';
import { tenantWithClient, uniqueId, type TenantFixture } from '../factories/index.js';
import { buildContext, type TestContext } from '../helpers/context.js';
import { courseCondition, gradedCourses, type GradedCourse } from '../helpers/exchange.js';

const run = promisify(execFile);

describe('command line: datasync, course final-column, webhook', function () {
  this.timeout(120000);
  let ctx: TestContext;
  let t: TenantFixture;
  let course: GradedCourse;
  let ds: DataSyncEmulator;

  const cli = async (...args: string[]) => {
    const env = {
      ...process.env,
      DATA_DIR: ctx.database.dataDir,
      ...(ctx.database.url ? { DATABASE_URL: ctx.database.url } : {}),
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
    ctx = await buildContext();
    t = await tenantWithClient(ctx, { scopes: ['journey'] });
    [course] = (await gradedCourses(ctx, t, {
      prefix: uniqueId('CLI'),
      courses: 1,
      columns: 2,
      learners: 4,
    })) as [GradedCourse];
    ds = await DataSyncEmulator.start();
    ds.addClient({ clientId: 'cli-client', clientSecret: 'cli-secret', courseAppId: 'app-cli' });
  });
  after(async () => {
    await ds.close();
    await ctx.deps.exchange.close();
    await ctx.db.destroy();
    await ctx.database.drop();
  });

  it('connects a tenant to Data Sync, polls it once to the end and reports the exchanges', async () => {
    const connect = (...extra: string[]) =>
      cli(
        'datasync',
        'connect',
        '--tenant',
        String(t.tenantId),
        '--base-url',
        ds.endpoints.api,
        '--token-url',
        ds.endpoints.token,
        '--client-id',
        'cli-client',
        '--client-secret',
        'cli-secret',
        '--course-app-id',
        'app-cli',
        ...extra,
        '--json',
      );
    const refused = await connect('--rate', 'fast');
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.match(/--rate must be a number/);

    const connected = await connect('--rate', '50');
    expect(connected.code, connected.stderr).to.equal(0);
    const out = JSON.parse(connected.stdout);
    expect(out).to.include({
      tenantId: t.tenantId,
      ratePerSecond: 50,
      concurrency: 4,
      courseAppId: 'app-cli',
    });
    expect(out.noticeUrl).to.match(/\/webhooks\/datasync\/\d+$/);
    expect(out.noticeSecret).to.be.a('string').with.length.above(30);
    expect(connected.stdout).not.to.include('cli-secret');
    // Connecting again updates it and does not show the notice secret again.
    const again = JSON.parse((await connect('--rate', '40')).stdout);
    expect(again).to.include({ connectionId: out.connectionId, ratePerSecond: 40 });
    expect(again).not.to.have.property('noticeSecret');

    const none = JSON.parse(
      (await cli('datasync', 'poll', '--tenant', String(t.tenantId), '--json')).stdout,
    );
    expect(none.exchanges).to.deep.equal([]);
    const remote = ds.createExchange({
      query: { type: 'assignment_scores', conditions: [courseCondition(course.courseId) as never] },
      courseAppId: 'app-cli',
    });
    const polled = await cli('datasync', 'poll', '--tenant', String(t.tenantId), '--json');
    expect(polled.code, polled.stderr).to.equal(0);
    const result = JSON.parse(polled.stdout);
    expect(result.exchanges).to.have.length(1);
    expect(result.exchanges[0]).to.include({ remoteId: remote.id, state: 'completed', chunks: 1 });
    // Two assignments and the final grade, for four learners.
    expect(result.exchanges[0].itemsSent).to.equal(12);
    expect(ds.exchange(remote.id)!.state).to.equal('completed');

    const status = JSON.parse(
      (await cli('datasync', 'status', '--tenant', String(t.tenantId), '--json')).stdout,
    );
    expect(status.connection).to.include({ baseUrl: ds.endpoints.api, ratePerSecond: 40 });
    expect(status.exchanges[0]).to.include({
      remote_id: remote.id,
      state: 'completed',
      trigger: 'cli',
    });

    const unconnected = await cli('datasync', 'poll', '--tenant', '999999', '--json');
    expect(unconnected.code).to.equal(1);
    expect(unconnected.stderr).to.match(/no Data Sync connection/);
  });

  it('marks a calculated column final, and refuses an ordinary one', async () => {
    const ok = await cli(
      'course',
      'final-column',
      '--tenant',
      String(t.tenantId),
      '--course',
      course.courseId,
      '--column',
      'Final',
      '--json',
    );
    expect(ok.code, ok.stderr).to.equal(0);
    expect(JSON.parse(ok.stdout)).to.include({ column: 'Final', isFinal: true });
    const final = await ctx.db('grade_columns').where({ name: 'Final' }).first('is_final');
    expect(!!final.is_final).to.equal(true);
    const refused = await cli(
      'course',
      'final-column',
      '--tenant',
      String(t.tenantId),
      '--course',
      course.courseId,
      '--column',
      course.columns[0]!,
      '--json',
    );
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.match(/not a weighted or total column/);
  });

  it('adds webhook senders: an hmac secret shown once, a canvas sender bound to its account', async () => {
    const hmac = await cli(
      'webhook',
      'add',
      '--tenant',
      String(t.tenantId),
      '--kind',
      'hmac',
      '--name',
      'registrar',
      '--json',
    );
    expect(hmac.code, hmac.stderr).to.equal(0);
    const sender = JSON.parse(hmac.stdout);
    expect(sender.url).to.match(/\/webhooks\/grades\/\d+$/);
    expect(sender.secret).to.be.a('string').with.length.above(30);
    const noAccount = await cli(
      'webhook',
      'add',
      '--tenant',
      String(t.tenantId),
      '--kind',
      'canvas',
      '--name',
      'canvas',
      '--jwks-url',
      'https://canvas.example/jwks',
      '--json',
    );
    expect(noAccount.code).to.equal(1);
    expect(noAccount.stderr).to.match(/--root-account/);
    const canvas = await cli(
      'webhook',
      'add',
      '--tenant',
      String(t.tenantId),
      '--kind',
      'canvas',
      '--name',
      'canvas',
      '--jwks-url',
      'https://canvas.example/jwks',
      '--root-account',
      'root-1',
      '--json',
    );
    expect(JSON.parse(canvas.stdout)).to.include({ kind: 'canvas', account: 'root-1' });
    const list = JSON.parse(
      (await cli('webhook', 'list', '--tenant', String(t.tenantId), '--json')).stdout,
    );
    expect(list.senders.map((s: { kind: string }) => s.kind)).to.deep.equal(['hmac', 'canvas']);
    expect(JSON.stringify(list)).not.to.include(sender.secret);
  });
});
