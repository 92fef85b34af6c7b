import { expect } from 'chai';
import { isoNow } from '../../src/db/time.js';
import { inTransaction } from '../../src/db/transaction.js';
import { revokeApiClient } from '../../src/tenants/service.js';
import { tenantWithClient, type TenantFixture } from '../factories/index.js';
import { sharedContext, type TestContext } from '../helpers/context.js';

describe('POST /oauth2/token', () => {
  let ctx: TestContext;
  let t: TenantFixture;

  before(async () => {
    ctx = await sharedContext();
    t = await tenantWithClient(ctx, { scopes: ['journey', 'history'] });
  });

  it('issues a bearer token to a client authenticated by HTTP Basic', async () => {
    const res = await ctx.http
      .post('/oauth2/token')
      .auth(t.clientId, t.clientSecret)
      .type('form')
      .send({ grant_type: 'client_credentials' })
      .expect(200);
    expect(res.body).to.include({
      token_type: 'bearer',
      expires_in: 3600,
      scope: 'journey history',
    });
    expect(res.headers['cache-control']).to.equal('no-store');
    const claims = ctx.deps.tokens.verify(res.body.access_token);
    expect(claims).to.deep.equal({
      clientId: t.clientId,
      tenantId: t.tenantId,
      apiClientId: t.apiClientId,
      scopes: ['journey', 'history'],
    });
  });

  it("accepts client_id and client_secret as form fields, and at Learn's path with grant_type in the query", async () => {
    await ctx.http
      .post('/oauth2/token')
      .type('form')
      .send({
        grant_type: 'client_credentials',
        client_id: t.clientId,
        client_secret: t.clientSecret,
      })
      .expect(200);
    const res = await ctx.http
      .post('/learn/api/public/v1/oauth2/token?grant_type=client_credentials')
      .auth(t.clientId, t.clientSecret)
      .expect(200);
    expect(res.body.access_token).to.be.a('string');
  });

  it('narrows the scopes to those requested, and refuses scopes the client lacks', async () => {
    const narrow = await ctx.http
      .post('/oauth2/token')
      .auth(t.clientId, t.clientSecret)
      .type('form')
      .send({ grant_type: 'client_credentials', scope: 'history' })
      .expect(200);
    expect(narrow.body.scope).to.equal('history');
    const wide = await ctx.http
      .post('/oauth2/token')
      .auth(t.clientId, t.clientSecret)
      .type('form')
      .send({ grant_type: 'client_credentials', scope: 'history progress' })
      .expect(400);
    expect(wide.body).to.deep.equal({
      error: 'invalid_scope',
      error_description: 'The client is not allowed the scope(s): progress.',
    });
  });

  it('refuses a wrong secret or an unknown client with invalid_client', async () => {
    const res = await ctx.http
      .post('/oauth2/token')
      .auth(t.clientId, 'not-the-secret')
      .type('form')
      .send({ grant_type: 'client_credentials' })
      .expect(401);
    expect(res.body.error).to.equal('invalid_client');
    expect(res.headers['www-authenticate']).to.equal('Basic realm="gradebridge"');
    await ctx.http
      .post('/oauth2/token')
      .type('form')
      .send({ grant_type: 'client_credentials', client_id: 'nobody', client_secret: 'x' })
      .expect(401);
    await ctx.http
      .post('/oauth2/token')
      .type('form')
      .send({ grant_type: 'client_credentials' })
      .expect(401);
  });

  it('refuses a missing or unsupported grant type', async () => {
    const missing = await ctx.http
      .post('/oauth2/token')
      .auth(t.clientId, t.clientSecret)
      .expect(400);
    expect(missing.body).to.deep.equal({
      error: 'invalid_request',
      error_description: 'grant_type is required.',
    });
    const password = await ctx.http
      .post('/oauth2/token')
      .auth(t.clientId, t.clientSecret)
      .type('form')
      .send({ grant_type: 'password' })
      .expect(400);
    expect(password.body.error).to.equal('unsupported_grant_type');
  });

  it('refuses credentials sent two ways at once', async () => {
    const res = await ctx.http
      .post('/oauth2/token')
      .auth(t.clientId, t.clientSecret)
      .type('form')
      .send({
        grant_type: 'client_credentials',
        client_id: t.clientId,
        client_secret: t.clientSecret,
      })
      .expect(400);
    expect(res.body.error).to.equal('invalid_request');
  });

  it('refuses a revoked client, and its tokens stop working at once', async () => {
    const other = await tenantWithClient(ctx, { scopes: ['journey'] });
    await ctx.http
      .post('/learn/api/v2/cc/gradejourney/gradeSchemasAPI')
      .set('Authorization', `Bearer ${other.token}`)
      .send([])
      .expect(200);
    await inTransaction(ctx.db, (trx) => revokeApiClient(trx, other.clientId, isoNow(ctx.clock)));
    await ctx.http
      .post('/oauth2/token')
      .auth(other.clientId, other.clientSecret)
      .type('form')
      .send({ grant_type: 'client_credentials' })
      .expect(401);
    await ctx.http
      .post('/learn/api/v2/cc/gradejourney/gradeSchemasAPI')
      .set('Authorization', `Bearer ${other.token}`)
      .send([])
      .expect(401);
  });

  it('stores only a hash of the secret', async () => {
    const row = await ctx.db('api_clients').where({ id: t.apiClientId }).first();
    expect(JSON.stringify(row)).not.to.include(t.clientSecret);
    expect(row.secret_hash).to.match(/^[0-9a-f]{64}$/);
  });
});
