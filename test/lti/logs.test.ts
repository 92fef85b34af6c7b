import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { tenantWithClient, type TenantFixture } from '../factories/index.js';
import { sharedContext, type TestContext } from '../helpers/context.js';
import {
  launchClaims,
  login,
  sign,
  startTestPlatform,
  type TestPlatform,
} from '../helpers/lti-platform.js';

/** LTI errors in the log carry the id of the request they happened in (X-Request-Id). */
describe('LTI error logs', function () {
  this.timeout(30000);
  let ctx: TestContext;
  let t: TenantFixture;
  let platform: TestPlatform;

  before(async () => {
    ctx = await sharedContext();
    t = await tenantWithClient(ctx);
    platform = await startTestPlatform(ctx, t.tenantId);
  });
  after(() => platform.close());

  /** The log lines with this message written for this request id. */
  const logged = (msg: string, reqId: string) =>
    ctx.logs.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === msg && l.reqId === reqId);

  const launchWith = async (reqId: string, change: (c: Record<string, unknown>) => object) => {
    const l = await login(ctx, platform);
    return ctx.http
      .post('/lti/launch')
      .set('Cookie', l.cookie)
      .set('X-Request-Id', reqId)
      .type('form')
      .send({
        id_token: sign(platform, { ...change(launchClaims(platform, l.nonce)) }),
        state: l.state,
      })
      .redirects(0);
  };

  it('logs a refused launch with its request id and reason', async () => {
    const reqId = `launch-${randomUUID()}`;
    const res = await launchWith(reqId, (c) => ({ ...c, aud: 'someone-else' }));
    expect(res.status).to.equal(401);
    expect(res.text).to.include(reqId);
    const lines = logged('LTI launch refused', reqId);
    expect(lines, ctx.logs.text().slice(-1500)).to.have.length(1);
    expect(lines[0]!.reason).to.match(/audience is not this tool/);
  });

  it('logs a refused login with its request id and reason', async () => {
    const reqId = `login-${randomUUID()}`;
    const res = await ctx.http
      .get('/lti/login')
      .set('X-Request-Id', reqId)
      .query({ iss: platform.issuer })
      .redirects(0);
    expect(res.status).to.equal(400);
    const lines = logged('LTI login refused', reqId);
    expect(lines, ctx.logs.text().slice(-1500)).to.have.length(1);
    expect(lines[0]!.reason).to.match(/needs iss, login_hint and target_link_uri/);
  });

  it('logs line items that could not be created with the request id', async () => {
    const launched = await launchWith(`launch-${randomUUID()}`, (c) => c);
    expect(launched.status, launched.text).to.equal(303);
    const session = new URL(launched.headers.location!, 'http://x').searchParams.get('session')!;
    const reqId = `lineitems-${randomUUID()}`;
    const res = await ctx.http
      .post('/lti/app/lineitems')
      .set('X-Request-Id', reqId)
      .type('form')
      .send({ session })
      .redirects(0);
    // The course page again, saying why (no notice in a URL).
    expect(res.status).to.equal(409);
    expect(res.text).to.include('No line items were created.');
    const lines = logged('LTI line items not created', reqId);
    expect(lines, ctx.logs.text().slice(-1500)).to.have.length(1);
    expect(lines[0]!.err).to.deep.include({ message: 'this launch gave no line items endpoint' });
  });

  it('logs a refused dynamic registration with the request id', async () => {
    const reqId = `register-${randomUUID()}`;
    const res = await ctx.http
      .get('/lti/register')
      .set('X-Request-Id', reqId)
      .query({ tenant: 'forged', openid_configuration: 'http://127.0.0.1:9/x' });
    expect(res.status).to.equal(400);
    const lines = logged('LTI dynamic registration refused', reqId);
    expect(lines, ctx.logs.text().slice(-1500)).to.have.length(1);
    expect(lines[0]!.reason).to.match(/registration link is not valid/);
  });
});
