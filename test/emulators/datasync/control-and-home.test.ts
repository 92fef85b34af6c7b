import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import request from 'supertest';
import { DataSyncEmulator, type ExchangeQuery } from '../../../src/emulators/datasync/index.js';
import {
  Api,
  createCourseExchange,
  scoresChunk,
  startEmulator,
  tokenFor,
  until as waitFor,
} from './helpers.js';

describe('Data Sync emulator: control API, home page and routing', () => {
  let ds: DataSyncEmulator;

  beforeEach(async () => {
    ds = await startEmulator();
  });
  afterEach(() => ds.close());

  describe('control API', () => {
    it('adds clients, generating what is not given', async () => {
      const res = await request(ds.url)
        .post('/_emulator/clients')
        .send({ clientId: 'sis-bridge', clientSecret: 'pw', courseAppId: 'app-9' })
        .expect(201);
      expect(res.body).to.deep.equal({
        clientId: 'sis-bridge',
        clientSecret: 'pw',
        courseAppId: 'app-9',
      });
      expect(await tokenFor(ds, { clientId: 'sis-bridge', clientSecret: 'pw' })).to.be.a('string');
      const generated = await request(ds.url).post('/_emulator/clients').expect(201);
      expect(generated.body.clientId).to.match(/^client-/);
      expect(await tokenFor(ds, generated.body)).to.be.a('string');
      await request(ds.url).post('/_emulator/clients').send({ clientId: 5 }).expect(400);
    });

    it('creates exchanges from JSON (query or course source id) and from the home page form', async () => {
      const made = await request(ds.url)
        .post('/_emulator/exchanges')
        .send({
          courseSourceId: 'HIST-2',
          type: 'summary',
          maxDataContentLength: 1000,
          courseAppId: 'a',
        })
        .expect(201);
      expect(made.body).to.include({
        state: 'created',
        maxDataContentLength: 1000,
        courseAppId: 'a',
      });
      expect(made.body.query.type).to.equal('summary');
      expect(made.body.query.conditions[0].scope_id.$sys.source_id).to.deep.equal({
        sis: 'HIST-2',
      });
      await request(ds.url)
        .post('/_emulator/exchanges')
        .send({ query: { type: 'assignment_scores', conditions: [] } })
        .expect(201);
      const form = await request(ds.url)
        .post('/_emulator/exchanges')
        .type('form')
        .send({ courseSourceId: 'ART-1', type: 'assignment_scores', maxDataContentLength: '2048' })
        .expect(303);
      expect(form.headers.location).to.equal('/');
      expect(ds.exchanges().map((e) => e.maxDataContentLength)).to.deep.equal([1000, 65536, 2048]);
      for (const bad of [
        {},
        { courseSourceId: 'X', type: 'grades' },
        { query: { type: 1 } },
        { courseSourceId: 'X', maxDataContentLength: 0 },
      ]) {
        const res = await request(ds.url).post('/_emulator/exchanges').send(bad).expect(400);
        expect(res.body.errors[0].message).to.be.a('string');
      }
    });

    it('shows the state: exchanges with their counts, and the stats', async () => {
      const api = await Api.connect(ds);
      const exchange = createCourseExchange(ds, 'C-1');
      const chunk = scoresChunk('q1', [
        ['s1', 1],
        ['s2', 2],
      ]);
      await api.post(`/exchanges/${exchange.id}/data`, chunk);
      await api.post(`/exchanges/${exchange.id}/data`, chunk);
      const res = await request(ds.url).get('/_emulator/state').expect(200);
      expect(res.body.exchanges).to.have.length(1);
      expect(res.body.exchanges[0]).to.include({
        id: exchange.id,
        state: 'in_progress',
        scope: 'C-1',
        chunks: 2,
        duplicateChunks: 1,
        scores: 4,
      });
      expect(res.body.stats).to.include({ requests: 3, duplicateChunks: 1 });
      expect(res.body.rateLimit).to.deep.equal({
        requestsPerSecond: null,
        retryAfter: true,
        status: 429,
      });
      const one = await request(ds.url).get(`/_emulator/exchanges/${exchange.id}`).expect(200);
      expect(one.body.exchange.chunks).to.have.length(2);
      expect(one.body.received.scores).to.have.length(4);
      await request(ds.url).get('/_emulator/exchanges/nope').expect(404);
      // The control API is not counted, throttled or faulted.
      expect(ds.stats.requests).to.equal(3);
    });

    it('sets the rate limit and faults, clears faults and resets stats', async () => {
      const api = await Api.connect(ds);
      await request(ds.url)
        .post('/_emulator/faults')
        .send([{ match: { path: 'count' }, kind: 'status', status: 502 }])
        .expect(200);
      await request(ds.url)
        .post('/_emulator/faults')
        .send({ faults: [{ kind: 'nope' }] })
        .expect(400);
      expect((await api.get('/exchanges/count')).status).to.equal(502);
      await request(ds.url)
        .post('/_emulator/faults')
        .send({ faults: [{ kind: 'drop' }] })
        .expect(200);
      await request(ds.url).delete('/_emulator/faults').expect(204);
      expect(ds.pendingFaults()).to.deep.equal([]);

      const limit = await request(ds.url)
        .post('/_emulator/rate-limit')
        .send({ requestsPerSecond: 1, status: 403 })
        .expect(200);
      expect(limit.body).to.deep.equal({ requestsPerSecond: 1, retryAfter: true, status: 403 });
      expect((await api.get('/exchanges/count')).status).to.equal(403);
      await request(ds.url)
        .post('/_emulator/rate-limit')
        .send({ requestsPerSecond: -1 })
        .expect(400);
      await request(ds.url)
        .post('/_emulator/rate-limit')
        .send({ requestsPerSecond: null })
        .expect(200);
      expect((await api.get('/exchanges/count')).status).to.equal(200);

      await request(ds.url).post('/_emulator/reset-stats').expect(204);
      expect(ds.stats.requests).to.equal(0);
    });
  });

  describe('largest page size', () => {
    it('is set by the control API: pages are that long by default, and a longer page_size is cut to it', async () => {
      const api = await Api.connect(ds);
      for (const course of ['P-1', 'P-2', 'P-3', 'P-4', 'P-5']) createCourseExchange(ds, course);
      const scopes = async (query: string) =>
        ((await api.get(`/exchanges${query}`)).body.data as Array<{ query: ExchangeQuery }>).map(
          (x) => x.query.conditions![0]!.scope_id!.name,
        );
      expect(await scopes('')).to.have.length(5);
      const set = await request(ds.url)
        .post('/_emulator/page-size')
        .send({ maxPageSize: 2 })
        .expect(200);
      expect(set.body).to.deep.equal({ maxPageSize: 2 });
      expect(ds.maxPageSize).to.equal(2);
      expect((await request(ds.url).get('/_emulator/state').expect(200)).body.maxPageSize).to.equal(
        2,
      );
      expect(await scopes('')).to.deep.equal(['P-1', 'P-2']);
      expect(await scopes('?page=2')).to.deep.equal(['P-5']);
      expect(await scopes('?page=3')).to.deep.equal([]);
      expect(await scopes('?page_size=50&page=1')).to.deep.equal(['P-3', 'P-4']);
      expect(await scopes('?page_size=1&page=1')).to.deep.equal(['P-2']);
      for (const bad of [{}, { maxPageSize: 0 }, { maxPageSize: 2.5 }, { maxPageSize: '3' }]) {
        await request(ds.url).post('/_emulator/page-size').send(bad).expect(400);
      }
      ds.setMaxPageSize(4);
      expect(await scopes('')).to.deep.equal(['P-1', 'P-2', 'P-3', 'P-4']);
      expect(() => ds.setMaxPageSize(0)).to.throw(/maxPageSize/);
      expect((await request(ds.url).get('/').expect(200)).text).to.match(
        /Largest page \(default page_size\)<\/th><td>4</,
      );
    });

    it('is read from DATASYNC_MAX_PAGE_SIZE when the emulator runs on its own', async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/emulators/datasync/main.ts'], {
        env: { ...process.env, DATASYNC_PORT: '0', DATASYNC_MAX_PAGE_SIZE: '3' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      child.stderr!.on('data', (d) => (out += d));
      try {
        await waitFor(() => /listening on (\S+)/.test(out) || child.exitCode !== null, 20000);
        const url = /listening on (\S+)/.exec(out)?.[1];
        expect(url, out).to.be.a('string');
        expect(out).to.match(/Largest page: +3\b/);
        const state = (await (await fetch(`${url}/_emulator/state`)).json()) as {
          maxPageSize: number;
        };
        expect(state.maxPageSize).to.equal(3);
      } finally {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
    });
  });

  describe('home page', () => {
    it("offers the clients' course apps in its form, the first chosen, so the exchange reaches them", async () => {
      ds.addClient({ clientId: 'lms-a', clientSecret: 'a', courseAppId: 'app-a' });
      ds.addClient({ clientId: 'lms-b', clientSecret: 'b', courseAppId: 'app-b' });
      const page = (await request(ds.url).get('/').expect(200)).text;
      const select = /<select name="courseAppId">([\s\S]*?)<\/select>/.exec(page)?.[1];
      expect(select).to.be.a('string');
      const values = [...select!.matchAll(/<option value="([^"]*)"/g)].map((m) => m[1]);
      expect(values).to.deep.equal(['app-a', 'app-b', '']);
      expect(select).not.to.match(/selected/);
      await request(ds.url)
        .post('/_emulator/exchanges')
        .type('form')
        .send({ courseSourceId: 'ART-2', type: 'summary', courseAppId: 'app-b' })
        .expect(303);
      const b = await Api.connect(ds, { clientId: 'lms-b', clientSecret: 'b' });
      const a = await Api.connect(ds, { clientId: 'lms-a', clientSecret: 'a' });
      expect((await b.get('/exchanges')).body.data).to.have.length(1);
      expect((await a.get('/exchanges')).body.data).to.have.length(0);
      await request(ds.url)
        .post('/_emulator/exchanges')
        .type('form')
        .send({ courseSourceId: 'ART-3', type: 'summary', courseAppId: '' })
        .expect(303);
      expect(ds.exchanges().map((x) => x.courseAppId)).to.deep.equal(['app-b', null]);
    });

    it('shows the exchanges, their progress and the stats, escaped, refreshing itself', async () => {
      const api = await Api.connect(ds);
      const exchange = createCourseExchange(ds, '<script>alert("x")</script>');
      await api.post(`/exchanges/${exchange.id}/data`, scoresChunk('q1', [['s1', 1]], true));
      const failed = createCourseExchange(ds, 'F-1');
      await api.post(`/exchanges/${failed.id}/errors`, { code: 'producer_failure' });

      const res = await request(ds.url).get('/').expect(200);
      expect(res.headers['content-type']).to.match(/^text\/html/);
      expect(res.text).to.include(exchange.id);
      expect(res.text).to.include('state-completed');
      expect(res.text).to.include('producer_failure');
      expect(res.text).not.to.include('<script>alert');
      expect(res.text).to.include('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
      expect(res.text).to.include('<meta http-equiv="refresh" content="2">');
      expect(res.text).to.include('location.reload()');
      expect(res.text).to.match(/<form method="post" action="\/_emulator\/exchanges">/);
      expect(res.text).to.include('name="courseSourceId"');
      expect(res.text).to.include('name="maxDataContentLength"');
      expect(res.text).to.include('<option>summary</option>');
      expect(res.text).to.include('Most requests in one second');
    });
  });

  describe('routing', () => {
    it('answers unknown paths with a JSON 404 and wrong methods with a JSON 405', async () => {
      const api = await Api.connect(ds);
      const missing = await api.get('/nowhere');
      expect(missing.status).to.equal(404);
      expect(missing.body.errors[0].message).to.match(/No route/);
      expect((await request(ds.url).get('/v3/other').expect(404)).body.errors).to.have.length(1);
      const wrong = await api.call('DELETE', '/exchanges');
      expect(wrong.status).to.equal(405);
      expect(wrong.body.errors[0].message).to.match(/not allowed/);
    });

    it('answers bad JSON with a JSON 400', async () => {
      const api = await Api.connect(ds);
      const exchange = createCourseExchange(ds);
      for (const path of [
        '/exchanges',
        `/exchanges/${exchange.id}/errors`,
        `/exchanges/${exchange.id}/data`,
      ]) {
        const res = await api.post(path, '{"oops"');
        expect(res.status, path).to.equal(400);
        expect(res.body.errors[0].message).to.match(/not valid JSON/);
      }
      await request(ds.url).post('/_emulator/exchanges').type('json').send('{').expect(400);
    });

    it('checks its options', async () => {
      for (const options of [{ port: -1 }, { maxPageSize: 0 }, { tokenTtlSeconds: 0 }]) {
        let error: unknown;
        try {
          await DataSyncEmulator.start(options);
        } catch (err) {
          error = err;
        }
        expect(error, JSON.stringify(options)).to.be.instanceOf(Error);
      }
    });
  });
});
