import { expect } from 'chai';
import { courseQuery, type DataSyncEmulator } from '../../../src/emulators/datasync/index.js';
import { Api, startEmulator } from './helpers.js';

describe('Data Sync emulator: schedules', () => {
  let ds: DataSyncEmulator;
  let api: Api;

  beforeEach(async () => {
    ds = await startEmulator({ maxPageSize: 2 });
    api = await Api.connect(ds);
  });
  afterEach(() => ds.close());

  it('lists schedules, paged from 0', async () => {
    const schedules = [
      ds.addSchedule({ type: 'nightly', hour: 3, days: 'MON,WED' }),
      ds.addSchedule(),
      ds.addSchedule({ enabled: false }),
    ];
    const first = await api.get('/schedules');
    expect(first.status).to.equal(200);
    expect(first.body.data).to.have.length(2);
    expect(first.body.data[0]).to.deep.equal({
      id: schedules[0]!.id,
      type: 'nightly',
      last_executed_at: null,
      enabled: true,
      hour: 3,
      days: 'MON,WED',
      metadata: {
        created: schedules[0]!.createdAt,
        updated: schedules[0]!.createdAt,
        scheduled: null,
      },
    });
    expect(first.body.data[1]).to.include({ type: 'unspecified', hour: 1, days: 'daily' });
    const second = await api.get('/schedules?page=1');
    expect(second.body.data.map((s: { id: string }) => s.id)).to.deep.equal([schedules[2]!.id]);
    expect((await api.get('/schedules?page=0&page_size=1')).body.data).to.have.length(1);
    expect((await api.get('/schedules?page=-1')).status).to.equal(400);
  });

  it('updates enabled only (204), refusing anything else with 400', async () => {
    const schedule = ds.addSchedule();
    const patch = (body: unknown) => api.call('PATCH', `/schedules/${schedule.id}`, body);
    const res = await patch({ enabled: false });
    expect(res.status).to.equal(204);
    expect(res.text).to.equal('');
    expect(ds.schedule(schedule.id)!.enabled).to.equal(false);
    expect((await api.get('/schedules')).body.data[0].enabled).to.equal(false);
    for (const body of [
      { hour: 3 },
      { enabled: true, days: 'MON' },
      {},
      { enabled: 'yes' },
      [true],
    ]) {
      const refused = await patch(body);
      expect(refused.status, JSON.stringify(body)).to.equal(400);
      expect(refused.body.errors[0].message).to.be.a('string');
    }
    expect(ds.schedule(schedule.id)).to.include({ enabled: false, hour: 1 });
    expect(
      (
        await api.call('PATCH', '/schedules/123e4567-e89b-12d3-a456-426614174000', {
          enabled: true,
        })
      ).status,
    ).to.equal(404);
  });

  it('runs a schedule: 204, its exchanges created; 409 while they are open or it is disabled', async () => {
    const schedule = ds.addSchedule({
      exchanges: [
        { query: courseQuery('C-1'), courseAppId: 'app-1', maxDataContentLength: 4096 },
        { query: courseQuery('C-2', 'summary') },
      ],
    });
    const run = () => api.post(`/schedules/${schedule.id}/run`, {});
    const res = await run();
    expect(res.status).to.equal(204);
    const created = ds.exchanges();
    expect(
      created.map((e) => [e.source, e.scheduleId, e.courseAppId, e.maxDataContentLength]),
    ).to.deep.equal([
      ['schedule', schedule.id, 'app-1', 4096],
      ['schedule', schedule.id, null, 65536],
    ]);
    const after = ds.schedule(schedule.id)!;
    expect(after.lastExecutedAt).to.be.a('string');
    expect(after.runs).to.deep.equal([
      { at: after.lastExecutedAt, exchangeIds: created.map((e) => e.id) },
    ]);
    expect((await api.get('/schedules')).body.data[0].last_executed_at).to.equal(
      after.lastExecutedAt,
    );

    const busy = await run();
    expect(busy.status).to.equal(409);
    expect(busy.body.errors[0].message).to.match(/still running/);

    await api.call('PATCH', `/schedules/${schedule.id}`, { enabled: false });
    const disabled = await run();
    expect(disabled.status).to.equal(409);
    expect(disabled.body.errors[0].message).to.match(/disabled/);
    expect(ds.exchanges()).to.have.length(2);
  });

  it('answers 429 with Retry-After when run again within the cooldown', async () => {
    const schedule = ds.addSchedule({ exchanges: [{ query: courseQuery('C-1') }] });
    expect((await api.post(`/schedules/${schedule.id}/run`)).status).to.equal(204);
    const [exchange] = ds.exchanges();
    await api.post(`/exchanges/${exchange!.id}/data`, { final: true });
    const again = await api.post(`/schedules/${schedule.id}/run`);
    expect(again.status).to.equal(429);
    expect(Number(again.headers.get('retry-after'))).to.be.within(1, 5);
    expect(ds.exchanges()).to.have.length(1);
  });

  it('runs again once the previous run finished and the cooldown passed', async () => {
    await ds.close();
    ds = await startEmulator({ scheduleRunCooldownSeconds: 0 });
    api = await Api.connect(ds);
    const schedule = ds.addSchedule({ exchanges: [{ query: courseQuery('C-1') }] });
    expect((await api.post(`/schedules/${schedule.id}/run`, null)).status).to.equal(204);
    const [first] = ds.exchanges();
    await api.post(`/exchanges/${first!.id}/errors`, { code: 'producer_failure' });
    expect((await api.post(`/schedules/${schedule.id}/run`)).status).to.equal(204);
    expect(ds.exchanges()).to.have.length(2);
    expect(ds.schedule(schedule.id)!.runs).to.have.length(2);
  });

  it('refuses an unknown schedule (404) and a body that is not an object (400)', async () => {
    const schedule = ds.addSchedule();
    expect((await api.post(`/schedules/${schedule.id}/run`, [1])).status).to.equal(400);
    expect((await api.post(`/schedules/${schedule.id}/run`, '{')).status).to.equal(400);
    expect((await api.post('/schedules/123e4567-e89b-12d3-a456-426614174000/run')).status).to.equal(
      404,
    );
  });

  it('checks schedule input', () => {
    expect(() => ds.addSchedule({ hour: 24 })).to.throw(/hour/);
    expect(() => ds.addSchedule({ exchanges: [{ query: { type: 'x' } as never }] })).to.throw(
      /query\.type/,
    );
    expect(() =>
      ds.addSchedule({ exchanges: [{ query: courseQuery('C'), maxDataContentLength: 0 }] }),
    ).to.throw(/maxDataContentLength/);
  });
});
