import { expect } from 'chai';
import { SAMPLE_CONSUMER, type DataSyncEmulator } from '../../../src/emulators/datasync/index.js';
import { Api, startEmulator } from './helpers.js';

describe('Data Sync emulator: consumer, sections and batches', () => {
  let ds: DataSyncEmulator;
  let api: Api;
  const UNKNOWN = '123e4567-e89b-12d3-a456-426614174000';

  beforeEach(async () => {
    ds = await startEmulator();
    api = await Api.connect(ds);
  });
  afterEach(() => ds.close());

  it('answers the consumer details; 400 when no consumer is configured', async () => {
    const res = await api.get('/consumer');
    expect(res.status).to.equal(200);
    expect(res.body).to.deep.equal(SAMPLE_CONSUMER);
    const mine = {
      id: 'ps-1',
      connector_type: 'powerschool',
      supported_exchange_query_type: 'summary' as const,
      summary_score_type: 'midterm' as const,
    };
    ds.setConsumer(mine);
    expect((await api.get('/consumer')).body).to.deep.equal(mine);
    ds.setConsumer(null);
    const none = await api.get('/consumer');
    expect(none.status).to.equal(400);
    expect(none.body.errors[0].message).to.match(/not configured/);
    expect(() => ds.setConsumer({ ...mine, summary_score_type: 'weekly' as 'final' })).to.throw();
    expect((await new Api(ds, null).get('/consumer')).status).to.equal(401);
  });

  it('resolves a section id to the consumer source id; 404 when unknown', async () => {
    ds.addSection('ds-section-1', 'SIS-SEC-9');
    const res = await api.get('/sections/ds-section-1/resolve');
    expect(res.status).to.equal(200);
    expect(res.body).to.deep.equal({ consumerSourceId: 'SIS-SEC-9' });
    expect((await api.get('/sections/ds-section-2/resolve')).status).to.equal(404);
  });

  it('records a batch error: 200 {"data": null}; 400 without a code; 404 unknown batch', async () => {
    const { id } = ds.createBatch();
    const res = await api.post(`/batch/${id}/error`, { code: 'integration_error' });
    expect(res.status).to.equal(200);
    expect(res.body).to.deep.equal({ data: null });
    expect(ds.batch(id)!.errors.map((e) => e.code)).to.deep.equal(['integration_error']);
    expect((await api.post(`/batch/${id}/error`, {})).status).to.equal(400);
    expect((await api.post(`/batch/${id}/error`, { code: 7 })).status).to.equal(400);
    expect(
      (await api.post(`/batch/${UNKNOWN}/error`, { code: 'integration_error' })).status,
    ).to.equal(404);
  });

  it('records batch context data (course_ids); 400 when they are not strings', async () => {
    const { id } = ds.createBatch();
    const res = await api.post(`/batch/${id}/data`, { course_ids: ['C-1', 'C-2'] });
    expect(res.status).to.equal(200);
    expect(res.body).to.deep.equal({ data: null });
    expect(ds.batch(id)!.data.map((d) => d.courseIds)).to.deep.equal([['C-1', 'C-2']]);
    expect((await api.post(`/batch/${id}/data`, { course_ids: [1] })).status).to.equal(400);
    expect((await api.post(`/batch/${id}/data`, { course_ids: 'C-1' })).status).to.equal(400);
    expect((await api.post(`/batch/${id}/data`, 'nope')).status).to.equal(400);
    expect((await api.post(`/batch/${UNKNOWN}/data`, { course_ids: [] })).status).to.equal(404);
    expect(ds.batch(UNKNOWN)).to.equal(undefined);
  });

  it('links exchanges to a batch', async () => {
    const { id } = ds.createBatch();
    ds.createExchange({
      query: { type: 'summary', conditions: [{ scope: 'course', scope_by: 'all' }] },
      batchExchangeId: id,
    });
    expect((await api.get('/exchanges')).body.data[0].batch_exchange_id).to.equal(id);
  });
});
