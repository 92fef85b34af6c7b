import { expect } from 'chai';
import { generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { tenantWithClient, type TenantFixture } from '../factories/index.js';
import { sharedContext, type TestContext } from '../helpers/context.js';
import { JOURNEY } from '../helpers/journey.js';

/** The signing secret the service uses, read the way the service reads it. */
async function signingSecret(ctx: TestContext): Promise<string> {
  const row = await ctx.db('signing_keys').where({ purpose: 'api-tokens' }).first();
  return row.secret;
}

describe('bearer token verification', () => {
  let ctx: TestContext;
  let t: TenantFixture;
  const url = `${JOURNEY}/gradeSchemasAPI`;
  const claims = () => ({ tid: t.tenantId, cid: t.apiClientId, scope: 'journey', jti: 'x' });
  const options = (): jwt.SignOptions => ({
    issuer: 'gradebridge',
    audience: 'gradebridge-api',
    subject: t.clientId,
    expiresIn: 600,
  });

  const call = (token: string) =>
    ctx.http.post(url).set('Authorization', `Bearer ${token}`).send([]);

  before(async () => {
    ctx = await sharedContext();
    t = await tenantWithClient(ctx, { scopes: ['journey'] });
  });

  it('accepts a token signed by the service', async () => {
    const token = jwt.sign(claims(), await signingSecret(ctx), {
      ...options(),
      algorithm: 'HS256',
    });
    await call(token).expect(200);
  });

  it('refuses a missing token with 401 and a Bearer challenge in the surface format', async () => {
    const res = await ctx.http.post(url).send([]).expect(401);
    expect(res.headers['www-authenticate']).to.equal('Bearer realm="gradebridge"');
    expect(res.body).to.deep.equal({ status: 401, message: 'An access token is required.' });
  });

  it('refuses an expired token', async () => {
    const token = jwt.sign(
      { ...claims(), exp: Math.floor(Date.now() / 1000) - 60 },
      await signingSecret(ctx),
      {
        issuer: 'gradebridge',
        audience: 'gradebridge-api',
        subject: t.clientId,
        algorithm: 'HS256',
      },
    );
    const res = await call(token).expect(401);
    expect(res.body.message).to.equal('The access token has expired.');
    expect(res.headers['www-authenticate']).to.include('error="invalid_token"');
  });

  it('refuses a tampered token', async () => {
    const token = jwt.sign(claims(), await signingSecret(ctx), {
      ...options(),
      algorithm: 'HS256',
    });
    const [header, payload, signature] = token.split('.');
    const forged = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    forged.scope = 'journey history admin';
    const tampered = `${header}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${signature}`;
    await call(tampered).expect(401);
  });

  it('refuses tokens with another algorithm: none, HS512, RS256', async () => {
    const secret = await signingSecret(ctx);
    const none = jwt.sign(claims(), '', { ...options(), algorithm: 'none' });
    await call(none).expect(401);
    const hs512 = jwt.sign(claims(), secret, { ...options(), algorithm: 'HS512' });
    await call(hs512).expect(401);
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rs256 = jwt.sign(claims(), privateKey, { ...options(), algorithm: 'RS256' });
    await call(rs256).expect(401);
  });

  it('refuses a token signed with another secret, or for another audience', async () => {
    await call(
      jwt.sign(claims(), 'another-secret-another-secret-another', {
        ...options(),
        algorithm: 'HS256',
      }),
    ).expect(401);
    const secret = await signingSecret(ctx);
    await call(
      jwt.sign(claims(), secret, { ...options(), audience: 'other', algorithm: 'HS256' }),
    ).expect(401);
  });

  it('refuses a token whose tenant does not match its client', async () => {
    const secret = await signingSecret(ctx);
    const other = await tenantWithClient(ctx);
    await call(
      jwt.sign({ ...claims(), tid: other.tenantId }, secret, { ...options(), algorithm: 'HS256' }),
    ).expect(401);
  });

  it("answers 403 when the token lacks the surface's scope", async () => {
    const historyOnly = await tenantWithClient(ctx, { scopes: ['history'] });
    const res = await call(historyOnly.token).expect(403);
    expect(res.body).to.deep.equal({
      status: 403,
      message: 'The access token lacks the "journey" scope.',
    });
  });

  it('refuses a malformed Authorization header', async () => {
    await ctx.http.post(url).set('Authorization', 'Token abc').send([]).expect(401);
    await ctx.http.post(url).set('Authorization', 'Bearer a b c').send([]).expect(401);
  });
});
