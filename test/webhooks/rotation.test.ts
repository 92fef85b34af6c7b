import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { isoNow } from '../../src/db/time.js';
import { inTransaction } from '../../src/db/transaction.js';
import { createWorker } from '../../src/job-registry.js';
import { enqueue } from '../../src/jobs/queue.js';
import { rotateSecret, type RotatedSecret } from '../../src/webhooks/rotate-secret.js';
import { addSender } from '../../src/webhooks/senders.js';
import { signBody } from '../../src/webhooks/signature.js';
import { tenantWithClient, uniqueId, type TenantFixture } from '../factories/index.js';
import { buildContext, type TestContext } from '../helpers/context.js';
import { journey } from '../helpers/journey.js';

const run = promisify(execFile);
const HOUR = 3_600_000;

/** A new signing secret, and the previous one still accepted for a stated overlap, then refused. */
describe('webhooks: signing secret rotation', function () {
  this.timeout(60000);
  let ctx: TestContext;
  let t: TenantFixture;
  let course: string;

  before(async () => {
    ctx = await buildContext();
    t = await tenantWithClient(ctx, { scopes: ['journey'] });
    course = uniqueId('ROT');
    await journey(ctx, t.token, 'gradableItemsAPI', [
      { courseId: course, name: 'Quiz', itemType: 'TEST', points: 10 },
    ]);
  });
  beforeEach(() => ctx.clock.set('2026-12-01T08:00:00.000Z'));
  afterEach(() => ctx.clock.release());
  after(async () => {
    await ctx.deps.exchange.close();
    await ctx.db.destroy();
    await ctx.database.drop();
  });

  const newSender = () =>
    inTransaction(ctx.db, (trx) =>
      addSender(
        trx,
        ctx.deps.secrets,
        ctx.config.publicUrl,
        { tenantId: t.tenantId, kind: 'hmac', name: uniqueId('sender') },
        isoNow(ctx.clock),
      ),
    );
  const rotate = (target: { senderId: number } | 'datasync', overlapHours: number) =>
    inTransaction(ctx.db, (trx) =>
      rotateSecret(
        trx,
        ctx.deps.secrets,
        ctx.config.publicUrl,
        { tenantId: t.tenantId, target, overlapHours },
        isoNow(ctx.clock),
      ),
    );
  /** Posts a grade signed with `secret` at the test clock's time; the status code. */
  const post = async (senderId: number, secret: string) => {
    const body = JSON.stringify({
      id: uniqueId('evt'),
      type: 'grade.changed',
      occurred_at: isoNow(ctx.clock),
      data: { course, column: 'Quiz', user: 'rot-s1', score: 5 },
    });
    const res = await ctx.http
      .post(`/webhooks/grades/${senderId}`)
      .set('Content-Type', 'application/json')
      .set('X-Gradebridge-Signature', signBody(secret, body, Math.floor(ctx.clock.now() / 1000)))
      .send(body);
    return res.status;
  };

  it('accepts the new and the previous secret during the overlap, and refuses the previous one after it', async () => {
    const sender = await newSender();
    const old = sender.secret!;
    const rotated = await rotate({ senderId: sender.senderId }, 24);
    expect(rotated).to.deep.equal({
      tenantId: t.tenantId,
      kind: 'hmac',
      senderId: sender.senderId,
      url: `${ctx.config.publicUrl}/webhooks/grades/${sender.senderId}`,
      secret: rotated.secret,
      previousAcceptedUntil: '2026-12-02T08:00:00.000Z',
    });
    expect(rotated.secret).to.have.length.greaterThan(40).and.not.equal(old);

    expect(await post(sender.senderId, rotated.secret)).to.equal(202);
    expect(await post(sender.senderId, old)).to.equal(202);
    ctx.clock.advance(23 * HOUR);
    expect(await post(sender.senderId, old)).to.equal(202);
    ctx.clock.advance(HOUR);
    // The overlap has ended: refused from its last millisecond on, whether or not the clean-up has run.
    expect(await post(sender.senderId, old)).to.equal(401);
    expect(await post(sender.senderId, rotated.secret)).to.equal(202);

    // The clean-up job drops it.
    const row = () =>
      ctx
        .db('webhook_senders')
        .where({ id: sender.senderId })
        .first('previous_secret', 'previous_secret_until');
    expect((await row()).previous_secret).to.be.a('string');
    await enqueue(ctx.db, 'webhooks.secret-cleanup', {}, isoNow(ctx.clock));
    await createWorker(ctx.deps).drain();
    expect(await row()).to.deep.equal({ previous_secret: null, previous_secret_until: null });
    expect(await post(sender.senderId, old)).to.equal(401);
  });

  it('refuses the previous secret at once with no overlap, and keeps only one previous secret', async () => {
    const sender = await newSender();
    const first = sender.secret!;
    const none = await rotate({ senderId: sender.senderId }, 0);
    expect(none.previousAcceptedUntil).to.equal(null);
    expect(await post(sender.senderId, first)).to.equal(401);
    expect(await post(sender.senderId, none.secret)).to.equal(202);

    const second = await rotate({ senderId: sender.senderId }, 2);
    const third = await rotate({ senderId: sender.senderId }, 2);
    // The second rotation during the overlap ends the first one's: only its predecessor is still accepted.
    expect(await post(sender.senderId, none.secret)).to.equal(401);
    expect(await post(sender.senderId, second.secret)).to.equal(202);
    expect(await post(sender.senderId, third.secret)).to.equal(202);
  });

  it('refuses to rotate what has no secret, an unknown sender, or an overlap out of range', async () => {
    const canvas = await inTransaction(ctx.db, (trx) =>
      addSender(
        trx,
        ctx.deps.secrets,
        ctx.config.publicUrl,
        {
          tenantId: t.tenantId,
          kind: 'canvas',
          name: uniqueId('canvas'),
          jwksUrl: 'http://127.0.0.1:9/jwks',
          account: 'a',
        },
        isoNow(ctx.clock),
      ),
    );
    const refusal = async (target: { senderId: number } | 'datasync', hours = 24) =>
      rotate(target, hours).then(
        () => 'rotated',
        (err: Error) => err.message,
      );
    expect(await refusal({ senderId: canvas.senderId })).to.match(/signs with its own keys/);
    expect(await refusal({ senderId: 999999 })).to.match(/has no webhook sender 999999/);
    expect(await refusal('datasync')).to.match(/has no Data Sync connection/);
    const sender = await newSender();
    expect(await refusal({ senderId: sender.senderId }, -1)).to.match(/between 0 and 168 hours/);
    expect(await refusal({ senderId: sender.senderId }, 169)).to.match(/between 0 and 168 hours/);
  });

  it('rotates the Data Sync notice secret the same way', async () => {
    const conn = await inTransaction(ctx.db, (trx) =>
      ctx.deps.exchange.connect(
        trx,
        {
          tenantId: t.tenantId,
          baseUrl: 'http://127.0.0.1:9/v2/grades',
          tokenUrl: 'http://127.0.0.1:9/oauth2/token',
          clientId: 'ds',
          clientSecret: 'ds-secret',
          ratePerSecond: 10,
          concurrency: 1,
        },
        isoNow(ctx.clock),
      ),
    );
    const old = conn.noticeSecret!;
    const notice = async (secret: string) => {
      const body = JSON.stringify({
        id: uniqueId('n'),
        type: 'grades.exchange.created',
        data: { exchange_id: 'x' },
      });
      return (
        await ctx.http
          .post(`/webhooks/datasync/${conn.connectionId}`)
          .set('Content-Type', 'application/json')
          .set('X-DataSync-Signature', signBody(secret, body, Math.floor(ctx.clock.now() / 1000)))
          .send(body)
      ).status;
    };
    const rotated: RotatedSecret = await rotate('datasync', 12);
    expect(rotated).to.include({
      kind: 'datasync',
      senderId: conn.connectionId,
      url: conn.noticeUrl,
      previousAcceptedUntil: '2026-12-01T20:00:00.000Z',
    });
    expect(await notice(rotated.secret)).to.equal(202);
    expect(await notice(old)).to.equal(202);
    ctx.clock.advance(12 * HOUR);
    expect(await notice(old)).to.equal(401);
    expect(await notice(rotated.secret)).to.equal(202);
  });

  it('is a command that shows the new secret once and states until when the previous one is accepted', async () => {
    const sender = await newSender();
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
    const base = ['webhook', 'rotate-secret', '--tenant', String(t.tenantId)];
    const started = Date.now();
    const json = await cli(
      ...base,
      '--sender',
      String(sender.senderId),
      '--overlap-hours',
      '24',
      '--json',
    );
    expect(json.code, json.stderr).to.equal(0);
    const out = JSON.parse(json.stdout) as RotatedSecret;
    expect(Object.keys(out).sort()).to.deep.equal(
      ['kind', 'previousAcceptedUntil', 'secret', 'senderId', 'tenantId', 'url'].sort(),
    );
    expect(out).to.include({ tenantId: t.tenantId, kind: 'hmac', senderId: sender.senderId });
    const until = Date.parse(out.previousAcceptedUntil!);
    expect(until).to.be.within(started + 24 * HOUR - 1000, Date.now() + 24 * HOUR + 1000);
    ctx.clock.release();
    expect(await post(sender.senderId, out.secret)).to.equal(202);
    expect(await post(sender.senderId, sender.secret!)).to.equal(202);

    const human = await cli(...base, '--sender', String(sender.senderId));
    expect(human.code, human.stderr).to.equal(0);
    expect(human.stdout).to.match(/^New signing secret for \S+ \(shown once\): \S{40,}\n/);
    expect(human.stdout).to.match(
      /The previous secret is still accepted until \S+Z, then refused\./,
    );
    const listed = await cli('webhook', 'list', '--tenant', String(t.tenantId), '--json');
    const senders = (JSON.parse(listed.stdout) as { senders: Array<Record<string, unknown>> })
      .senders;
    expect(senders.find((s) => s.senderId === sender.senderId)).to.have.property(
      'previousSecretAcceptedUntil',
    );
    expect(listed.stdout).not.to.include(out.secret);

    for (const [args, message] of [
      [[...base], /either --sender ID or --datasync/],
      [[...base, '--sender', '1', '--datasync'], /either --sender ID or --datasync/],
      [
        [...base, '--sender', String(sender.senderId), '--overlap-hours', '-2'],
        /--overlap-hours must be/,
      ],
    ] as Array<[string[], RegExp]>) {
      const bad = await cli(...args);
      expect(bad.code, args.join(' ')).to.equal(1);
      expect(bad.stderr).to.match(message);
    }
  });
});
