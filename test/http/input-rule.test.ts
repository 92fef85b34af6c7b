import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { tenantWithClient, type TenantFixture } from '../factories/index.js';
import { sharedContext, type TestContext } from '../helpers/context.js';

/** Sends requests over one kept-alive connection at a time, as HTTP clients pool them. */
function keepAliveClient(port: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const send = (
    method: string,
    path: string,
    headers: Record<string, string | number> = {},
    body?: Buffer,
  ) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, method, path, headers, agent, timeout: 5000 },
        (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode!, body: text }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer to ${method} ${path}`)));
      req.on('error', reject);
      req.end(body);
    });
  return { send, close: () => agent.destroy() };
}

describe('one input rule for every surface', () => {
  let ctx: TestContext;
  let t: TenantFixture;

  before(async () => {
    ctx = await sharedContext();
    t = await tenantWithClient(ctx);
  });

  const journey = (body: string) =>
    ctx.http
      .post('/learn/api/v2/cc/gradejourney/gradeValueAPI')
      .set('Authorization', `Bearer ${t.token}`)
      .set('Content-Type', 'application/json')
      .send(body);

  it('refuses NUL characters and lone surrogates item by item in Journey, applying the good items', async () => {
    const body = `[
      {"courseId":"NUL-1","userId":"u1","name":"Quiz","value":"1\\u0000"},
      {"courseId":"NUL-1","userId":"u\\ud800","name":"Quiz","value":"2"},
      {"courseId":"NUL-1","userId":"u3","name":"Quiz","value":"3"}
    ]`;
    await ctx.http
      .post('/learn/api/v2/cc/gradejourney/gradableItemsAPI')
      .set('Authorization', `Bearer ${t.token}`)
      .send([{ courseId: 'NUL-1', name: 'Quiz', itemType: 'TEST', points: 10 }])
      .expect(200);
    const res = await journey(body).expect(200);
    expect(res.body.map((r: { status: string }) => r.status)).to.deep.equal([
      'ERROR',
      'ERROR',
      'OK',
    ]);
    expect(res.body[0].message).to.include('NUL');
    expect(res.body[1].message).to.include('lone surrogate');
  });

  it('refuses deep bodies and prototype keys with the surface’s own 400, changing nothing', async () => {
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const refused = await journey(deep).expect(400);
    expect(refused.body).to.include({ status: 400 });
    expect(refused.body.message).to.include('nested deeper than 32');

    const proto = await ctx.http
      .post('/v2/e01/api/progress/gradebooks/count')
      .set('Authorization', `Bearer ${t.token}`)
      .set('Content-Type', 'application/json')
      .send('{"__proto__":{"admin":true}}')
      .expect(400);
    expect(proto.headers['content-type']).to.include('application/problem+json');
    expect(proto.body.status).to.equal(400);

    const history = await ctx.http
      .get('/api/v1/courses/1/gradebook_history/feed')
      .query({ user_id: 'a\u0000b' })
      .set('Authorization', `Bearer ${t.token}`)
      .expect(400);
    expect(history.body.errors[0].message).to.include('NUL');
  });

  it('refuses Journey numbers beyond an integer column and dates outside years 1 to 9999', async () => {
    const res = await ctx.http
      .post('/learn/api/v2/cc/gradejourney/gradableItemsAPI')
      .set('Authorization', `Bearer ${t.token}`)
      .send([
        { courseId: 'RANGE-1', name: 'A', itemType: 'TEST', sequenceNum: 2 ** 31 },
        { courseId: 'RANGE-1', name: 'B', itemType: 'TEST', attempts: 2 ** 31 },
        { courseId: 'RANGE-1', name: 'C', itemType: 'TEST', dueDate: '0000-12-31' },
        { courseId: 'RANGE-1', name: 'D', itemType: 'TEST', dueDate: '0001-01-01T00:00:00+01:00' },
        { courseId: 'RANGE-1', name: 'E', itemType: 'TEST', dueDate: '9999-12-31T23:59:59Z' },
      ])
      .expect(200);
    expect(res.body.map((r: { status: string }) => r.status)).to.deep.equal([
      'ERROR',
      'ERROR',
      'ERROR',
      'ERROR',
      'OK',
    ]);
  });

  it('answers a body that does not decompress with a 400 in the token endpoint’s format', async () => {
    const gz = zlib.gzipSync('grant_type=client_credentials');
    const res = await ctx.http
      .post('/oauth2/token')
      .set('Content-Type', 'application/x-www-form-urlencoded')
      .set('Content-Encoding', 'gzip')
      .send(gz.subarray(0, gz.length - 6))
      .expect(400);
    expect(res.body.error).to.equal('invalid_request');
  });

  it('closes a kept-alive connection whose body it did not read, so the next request is answered', async () => {
    const server = http.createServer(ctx.app.koa.callback());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const client = keepAliveClient((server.address() as AddressInfo).port);
    try {
      const big = Buffer.alloc(2 * 1024 * 1024, 'x');
      const refused = await client.send(
        'POST',
        '/webhooks/grades/1',
        { 'Content-Type': 'application/json', 'Content-Length': big.length },
        big,
      );
      expect(refused.status).to.equal(413);
      const next = await client.send('GET', '/healthz');
      expect(next.status).to.equal(200);
    } finally {
      client.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
