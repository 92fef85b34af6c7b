import { expect } from 'chai';
import { buildContext, sharedContext, type TestContext } from '../helpers/context.js';
import { tenantWithClient } from '../factories/index.js';
import { JOURNEY } from '../helpers/journey.js';

describe('operations: health, readiness, metrics, OpenAPI, logs', () => {
  let ctx: TestContext;

  before(async () => {
    ctx = await sharedContext();
  });

  it('answers /healthz and /readyz', async () => {
    expect((await ctx.http.get('/healthz').expect(200)).body).to.deep.equal({ status: 'ok' });
    const ready = await ctx.http.get('/readyz').expect(200);
    expect(ready.body.status).to.equal('ready');
  });

  it('says not ready, and refuses writes with 503 without a half-written change, when the database is gone', async () => {
    const lonely = await buildContext();
    const t = await tenantWithClient(lonely);
    await lonely.db.destroy();
    try {
      const ready = await lonely.http.get('/readyz').expect(503);
      expect(ready.body.error.code).to.equal('unavailable');
      const res = await lonely.http
        .post(`${JOURNEY}/gradeSchemasAPI`)
        .set('Authorization', `Bearer ${t.token}`)
        .send([{ title: 'X', symbols: 'A=1' }])
        .expect(503);
      expect(res.headers['retry-after']).to.equal('5');
      expect(res.body).to.deep.equal({
        status: 503,
        message: 'The database is busy or unreachable; nothing was changed. Try again.',
      });
    } finally {
      await lonely.database.drop();
    }
  });

  it('serves an OpenAPI 3.1 document built from the route schemas, and the docs page', async () => {
    const doc = (await ctx.http.get('/openapi.json').expect(200)).body;
    expect(doc.openapi).to.equal('3.1.0');
    const value = doc.paths[`${JOURNEY}/gradeValueAPI`].post;
    expect(value.requestBody.content['application/json'].schema.items.required).to.deep.equal([
      'courseId',
      'userId',
      'name',
      'value',
    ]);
    expect(
      value.requestBody.content['application/json'].schema.items.properties.value.maxLength,
    ).to.equal(333);
    expect(value.security).to.deep.equal([{ bearer: [] }]);
    expect(doc.paths['/oauth2/token'].post.requestBody.content).to.have.property(
      'application/x-www-form-urlencoded',
    );
    expect(Object.keys(doc.paths)).to.include.members([
      `${JOURNEY}/gradeSchemasAPI`,
      `${JOURNEY}/gradableItemsAPI`,
      `${JOURNEY}/gradeColumnDeleteAPI`,
      `${JOURNEY}/externalGradeColumnAPI`,
      `${JOURNEY}/userMetadataAPI`,
      '/learn/api/public/v1/oauth2/token',
      '/healthz',
      '/readyz',
    ]);
    const page = await ctx.http.get('/docs').expect(200);
    expect(page.text).to.include('swagger-ui-bundle.js').and.include('/docs/init.js');
    expect((await ctx.http.get('/docs/init.js').expect(200)).text).to.include('/openapi.json');
    await ctx.http
      .get('/docs/assets/swagger-ui-bundle.js')
      .expect(200)
      .expect('Content-Type', /javascript/);
    await ctx.http.get('/docs/assets/..%2Fpackage.json').expect(400);
  });

  it('guards /metrics with the admin scope', async () => {
    await ctx.http.get('/metrics').expect(401);
    const journeyOnly = await tenantWithClient(ctx, { scopes: ['journey'] });
    await ctx.http.get('/metrics').set('Authorization', `Bearer ${journeyOnly.token}`).expect(403);
    const admin = await tenantWithClient(ctx, { scopes: ['admin'] });
    const res = await ctx.http
      .get('/metrics')
      .set('Authorization', `Bearer ${admin.token}`)
      .expect(200);
    expect(res.text).to.include('gradebridge_http_request_duration_seconds');
  });

  it('gives every response a request id, keeping a sane one the caller sent', async () => {
    const generated = await ctx.http.get('/healthz');
    expect(generated.headers['x-request-id']).to.match(/^[0-9a-f-]{36}$/);
    const kept = await ctx.http.get('/healthz').set('X-Request-Id', 'sis-run-42');
    expect(kept.headers['x-request-id']).to.equal('sis-run-42');
    const replaced = await ctx.http
      .get('/healthz')
      .set('X-Request-Id', 'bad id with spaces <script>');
    expect(replaced.headers['x-request-id']).to.match(/^[0-9a-f-]{36}$/);
  });

  it('writes JSON access logs with the request id and never a secret or token', async () => {
    const t = await tenantWithClient(ctx, { scopes: ['journey'] });
    const token = await ctx.http
      .post('/oauth2/token?client_secret=leaky')
      .type('form')
      .send({
        grant_type: 'client_credentials',
        client_id: t.clientId,
        client_secret: t.clientSecret,
      })
      .set('X-Request-Id', 'log-check-1')
      .expect(200);
    await ctx.http
      .post(`${JOURNEY}/gradeSchemasAPI`)
      .set('Authorization', `Bearer ${token.body.access_token}`)
      .set('X-Request-Id', 'log-check-2')
      .send([{ title: 'Logged', symbols: 'A=90:F=0' }])
      .expect(200);
    const text = ctx.logs.text();
    const lines = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const access = lines.filter((l) => l.reqId === 'log-check-1' || l.reqId === 'log-check-2');
    expect(access.map((l) => l.path)).to.deep.equal([
      '/oauth2/token',
      `${JOURNEY}/gradeSchemasAPI`,
    ]);
    expect(access[1]).to.include({ status: 200, client: t.clientId, tenant: t.tenantId });
    expect(text).not.to.include(t.clientSecret);
    expect(text).not.to.include(token.body.access_token);
    expect(text).not.to.include('leaky');
  });
});
