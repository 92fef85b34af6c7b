import { expect } from 'chai';
import request from 'supertest';
import {
  courseQuery,
  type DataSyncEmulator,
  type ExchangeRecord,
} from '../../../src/emulators/datasync/index.js';
import { Api, createCourseExchange, scoresChunk, startEmulator } from './helpers.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('Data Sync emulator: exchanges', () => {
  let ds: DataSyncEmulator;
  let api: Api;

  beforeEach(async () => {
    ds = await startEmulator({ maxPageSize: 3 });
    api = await Api.connect(ds);
  });
  afterEach(() => ds.close());

  describe('create', () => {
    it('creates an exchange from {query, metadata}: 200 {"data": null}, then listed', async () => {
      const res = await api.post('/exchanges', {
        query: courseQuery('BIO-101', 'summary'),
        metadata: { requested_by: 'registrar' },
      });
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({ data: null });
      const [exchange] = (await api.get('/exchanges')).body.data;
      expect(exchange).to.include({
        state: 'created',
        max_data_content_length: 65536,
        error_count: 0,
        course_app_id: null,
        batch_exchange_id: null,
      });
      expect(exchange.id).to.match(UUID);
      expect(exchange.metadata).to.deep.equal({ requested_by: 'registrar' });
      expect(exchange.query.type).to.equal('summary');
      expect(exchange.query.conditions[0].scope_id.name).to.equal('BIO-101');
      expect(Date.parse(exchange.created_at)).to.be.a('number').and.not.NaN;
      expect(exchange.updated_at).to.equal(exchange.created_at);
      expect(ds.exchange(exchange.id)!.source).to.equal('api');
    });

    it('gives an exchange created by a scoped client its course_app_id', async () => {
      ds.addClient({ clientId: 'a', clientSecret: 'a', courseAppId: 'app-a' });
      const scoped = await Api.connect(ds, { clientId: 'a', clientSecret: 'a' });
      expect((await scoped.post('/exchanges', { query: courseQuery('X') })).status).to.equal(200);
      expect(ds.exchanges()[0]!.courseAppId).to.equal('app-a');
    });

    it('refuses a malformed query, a missing one and a bad body with 400', async () => {
      const bad: unknown[] = [
        {},
        { query: null },
        { query: { type: 'gradebook', conditions: [] } },
        { query: { type: 'summary', conditions: [{ scope: 'school', scope_by: 'all' }] } },
        { query: { type: 'summary', conditions: [{ scope: 'course', scope_by: 'id' }] } },
        { query: { type: 'summary', conditions: 'all' } },
        {
          query: {
            type: 'assignment_scores',
            conditions: [{ scope: 'course', scope_by: 'all', graded_after: 'yesterday' }],
          },
        },
        {
          query: {
            type: 'assignment_scores',
            conditions: [{ scope: 'course', scope_by: 'id', scope_id: { $sys: 'x' } }],
          },
        },
        { query: courseQuery('X'), metadata: 'none' },
        [courseQuery('X')],
      ];
      for (const body of bad) {
        const res = await api.post('/exchanges', body);
        expect(res.status, JSON.stringify(body)).to.equal(400);
        expect(res.body.errors[0].message).to.be.a('string');
      }
      const graded = await api.post('/exchanges', {
        query: { type: 'summary', conditions: [{ scope: 'course', scope_by: 'all' }] },
      });
      expect(graded.status).to.equal(200);
      expect((await api.post('/exchanges', '{"query":')).status).to.equal(400);
      expect(
        (await api.call('POST', '/exchanges', 'query=x', { 'Content-Type': 'text/plain' })).status,
      ).to.equal(415);
      expect(ds.exchanges()).to.have.length(1);
    });

    it('names the problem in the message', async () => {
      const res = await api.post('/exchanges', { query: { type: 'gradebook', conditions: [] } });
      expect(res.body.errors[0].message).to.match(
        /query\.type must be one of assignment_scores, summary/,
      );
    });
  });

  it('createExchange checks the query, unless strict is false (a query type the producer cannot serve)', async () => {
    const query = { type: 'attendance', conditions: [] } as never;
    expect(() => ds.createExchange({ query })).to.throw(/query\.type must be one of/);
    expect(() => ds.createExchange({ query: 'x' as never }, { strict: false })).to.throw(/object/);
    const odd = ds.createExchange({ query }, { strict: false });
    const listed = (await api.get(`/exchanges/${odd.id}`)).body.data;
    expect(listed.query).to.deep.equal({ type: 'attendance', conditions: [] });
    const res = await api.post(`/exchanges/${odd.id}/errors`, { code: 'query_type_not_supported' });
    expect(res.status).to.equal(200);
    expect(ds.exchange(odd.id)!.state).to.equal('failed');
    const weird = ds.createExchange({ query: { type: 7 } as never }, { strict: false });
    expect(
      (await request(ds.url).get('/_emulator/state').expect(200)).body.exchanges[1],
    ).to.include({
      id: weird.id,
      type: '7',
      scope: null,
    });
    await request(ds.url).get('/').expect(200);
  });

  describe('list, count and get', () => {
    let created: ExchangeRecord[];

    beforeEach(() => {
      created = ['A', 'B', 'C', 'D', 'E'].map((c) => createCourseExchange(ds, c));
    });

    it('pages from 0, page_size defaulting to (and clamped at) the maximum page size', async () => {
      const ids = (res: { body: { data: Array<{ id: string }> } }) =>
        res.body.data.map((e) => e.id);
      const all = created.map((e) => e.id);
      expect(ids(await api.get('/exchanges'))).to.deep.equal(all.slice(0, 3));
      expect(ids(await api.get('/exchanges?page=1'))).to.deep.equal(all.slice(3));
      expect(ids(await api.get('/exchanges?page=0&page_size=2'))).to.deep.equal(all.slice(0, 2));
      expect(ids(await api.get('/exchanges?page=2&page_size=2'))).to.deep.equal(all.slice(4));
      expect(ids(await api.get('/exchanges?page=3&page_size=2'))).to.deep.equal([]);
      expect(ids(await api.get('/exchanges?page_size=50'))).to.deep.equal(all.slice(0, 3));
      for (const q of ['page=-1', 'page=x', 'page_size=0', 'page_size=1.5', 'page=1&page=2']) {
        expect((await api.get(`/exchanges?${q}`)).status, q).to.equal(400);
      }
    });

    it('counts with a bare integer, with the same filters', async () => {
      const res = await api.get('/exchanges/count');
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.match(/^application\/json/);
      expect(res.text).to.equal('5');
      expect((await api.get('/exchanges/count?state=completed')).text).to.equal('0');
    });

    it('filters by state, and refuses an unknown state', async () => {
      await api.post(`/exchanges/${created[0]!.id}/data`, scoresChunk('q1', [['s1', 1]]));
      await api.post(`/exchanges/${created[1]!.id}/data`, scoresChunk('q1', [['s1', 1]], true));
      await api.post(`/exchanges/${created[2]!.id}/errors`, { code: 'producer_error' });
      const states = async (state: string) =>
        (await api.get(`/exchanges?state=${state}`)).body.data.map((e: { id: string }) => e.id);
      expect(await states('in_progress')).to.deep.equal([created[0]!.id]);
      expect(await states('completed')).to.deep.equal([created[1]!.id]);
      expect(await states('failed')).to.deep.equal([created[2]!.id]);
      expect(await states('created')).to.deep.equal([created[3]!.id, created[4]!.id]);
      expect((await api.get('/exchanges/count?state=created')).text).to.equal('2');
      expect((await api.get('/exchanges?state=done')).status).to.equal(400);
      expect((await api.get('/exchanges/count?state=done')).status).to.equal(400);
    });

    it('gets one exchange by id, 404 for an unknown one', async () => {
      const res = await api.get(`/exchanges/${created[1]!.id}`);
      expect(res.status).to.equal(200);
      expect(res.body.data).to.have.keys(
        'id',
        'query',
        'metadata',
        'state',
        'max_data_content_length',
        'error_count',
        'course_app_id',
        'batch_exchange_id',
        'created_at',
        'updated_at',
      );
      expect(res.body.data.id).to.equal(created[1]!.id);
      const missing = await api.get('/exchanges/123e4567-e89b-12d3-a456-426614174000');
      expect(missing.status).to.equal(404);
      expect(missing.body.errors[0].message).to.match(/not found/);
      expect((await api.get('/exchanges/not-a-uuid')).status).to.equal(404);
    });
  });

  describe('course_app_id scoping', () => {
    let a: Api;
    let b: Api;
    let ofA: ExchangeRecord;
    let ofB: ExchangeRecord;

    beforeEach(async () => {
      ds.addClient({ clientId: 'client-a', clientSecret: 'sa', courseAppId: 'app-a' });
      ds.addClient({ clientId: 'client-b', clientSecret: 'sb', courseAppId: 'app-b' });
      a = await Api.connect(ds, { clientId: 'client-a', clientSecret: 'sa' });
      b = await Api.connect(ds, { clientId: 'client-b', clientSecret: 'sb' });
      ofA = createCourseExchange(ds, 'A1', { courseAppId: 'app-a' });
      createCourseExchange(ds, 'A2', { courseAppId: 'app-a' });
      ofB = createCourseExchange(ds, 'B1', { courseAppId: 'app-b' });
      createCourseExchange(ds, 'N1');
    });

    it('shows a scoped client only the exchanges of its course app', async () => {
      expect((await a.get('/exchanges/count')).text).to.equal('2');
      expect((await b.get('/exchanges/count')).text).to.equal('1');
      const listed = (await a.get('/exchanges')).body.data;
      expect(listed.map((e: { course_app_id: string }) => e.course_app_id)).to.deep.equal([
        'app-a',
        'app-a',
      ]);
      expect((await a.get(`/exchanges/${ofB.id}`)).status).to.equal(404);
      expect((await a.get(`/exchanges/${ofB.id}/errors`)).status).to.equal(404);
      expect((await a.post(`/exchanges/${ofB.id}/data`, { final: true })).status).to.equal(404);
      expect((await b.get(`/exchanges/${ofB.id}`)).status).to.equal(200);
      expect(ds.exchange(ofB.id)!.state).to.equal('created');
    });

    it('filters by the course_app_id parameter, within the client scope', async () => {
      expect((await api.get('/exchanges/count')).text).to.equal('4');
      expect((await api.get('/exchanges/count?course_app_id=app-b')).text).to.equal('1');
      expect((await api.get('/exchanges?course_app_id=app-a')).body.data).to.have.length(2);
      expect((await a.get('/exchanges?course_app_id=app-b')).body.data).to.deep.equal([]);
      expect((await api.get(`/exchanges/${ofA.id}?course_app_id=app-b`)).status).to.equal(404);
      expect((await api.get(`/exchanges/${ofA.id}?course_app_id=app-a`)).status).to.equal(200);
    });
  });

  describe('errors', () => {
    let exchange: ExchangeRecord;

    beforeEach(() => {
      exchange = createCourseExchange(ds);
    });

    it('records an error: its id, times, code, message and details; the exchange fails', async () => {
      const res = await api.post(`/exchanges/${exchange.id}/errors`, {
        code: 'query_type_not_supported',
        details: 'summaries are not kept',
        message: 'ignored: read-only',
      });
      expect(res.status).to.equal(200);
      const error = res.body.data;
      expect(error).to.have.keys('id', 'created_at', 'updated_at', 'code', 'message', 'details');
      expect(error.id).to.match(UUID);
      expect(error.code).to.equal('query_type_not_supported');
      expect(error.message).to.equal("The producer does not support this exchange's query type.");
      expect(error.details).to.equal('summaries are not kept');
      const after = (await api.get(`/exchanges/${exchange.id}`)).body.data;
      expect(after).to.include({ state: 'failed', error_count: 1 });
      const listed = await api.get(`/exchanges/${exchange.id}/errors`);
      expect(listed.body.data).to.deep.equal([error]);
      expect(ds.exchange(exchange.id)!.errors).to.deep.equal([error]);
    });

    it('takes a list of errors, counting each', async () => {
      const res = await api.post(`/exchanges/${exchange.id}/errors`, [
        { code: 'producer_error', details: 'one' },
        { code: 'producer_failure' },
        { code: 'query_conditions_not_supported', details: null },
        { code: 'producer_error' },
      ]);
      expect(res.status).to.equal(200);
      expect(res.body.data).to.have.length(4);
      expect(res.body.data[1].details).to.equal(null);
      expect((await api.get(`/exchanges/${exchange.id}`)).body.data.error_count).to.equal(4);
      const page = await api.get(`/exchanges/${exchange.id}/errors?page=1&page_size=3`);
      expect(page.body.data.map((e: { code: string }) => e.code)).to.deep.equal(['producer_error']);
    });

    it('refuses an unknown code, bad details and an empty list with 400', async () => {
      for (const body of [
        {},
        { code: 'integration_error' },
        { code: 'producer_error', details: 42 },
        [],
        [{ code: 'producer_error' }, { code: 'nope' }],
        'producer_error',
      ]) {
        const res = await api.post(`/exchanges/${exchange.id}/errors`, body);
        expect(res.status, JSON.stringify(body)).to.equal(400);
      }
      expect(ds.exchange(exchange.id)).to.include({ state: 'created', errorCount: 0 });
    });

    it('refuses errors and data on a failed or completed exchange (400); 404 unknown', async () => {
      await api.post(`/exchanges/${exchange.id}/errors`, { code: 'producer_failure' });
      const again = await api.post(`/exchanges/${exchange.id}/errors`, { code: 'producer_error' });
      expect(again.status).to.equal(400);
      expect(again.body.errors[0].message).to.match(/failed/);
      expect((await api.post(`/exchanges/${exchange.id}/data`, { final: true })).status).to.equal(
        400,
      );

      const done = createCourseExchange(ds);
      await api.post(`/exchanges/${done.id}/data`, { final: true });
      const late = await api.post(`/exchanges/${done.id}/errors`, { code: 'producer_error' });
      expect(late.status).to.equal(400);
      expect(ds.exchange(done.id)).to.include({ state: 'completed', errorCount: 0 });

      const unknown = '123e4567-e89b-12d3-a456-426614174000';
      expect((await api.get(`/exchanges/${unknown}/errors`)).status).to.equal(404);
      expect(
        (await api.post(`/exchanges/${unknown}/errors`, { code: 'producer_error' })).status,
      ).to.equal(404);
    });
  });
});
