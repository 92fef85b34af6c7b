import { expect } from 'chai';
import { gunzipSync } from 'node:zlib';
import Bottleneck from 'bottleneck';
import {
  DataSyncEmulator,
  courseQuery,
  dataSyncIdFor,
} from '../../src/emulators/datasync/index.js';
import { ExchangeApiError, ExchangeClient, retryAfterMs } from '../../src/exchange/client.js';
import { minTimeFor } from '../../src/exchange/limiter.js';
import { createLogger } from '../../src/logger.js';
import { Api } from '../emulators/datasync/helpers.js';

describe('Grades Exchange client: every endpoint, tokens, errors', function () {
  this.timeout(20000);
  let ds: DataSyncEmulator;
  let client: ExchangeClient;

  before(async () => {
    ds = await DataSyncEmulator.start({ maxPageSize: 2 });
    ds.addClient({ clientId: 'c1', clientSecret: 's1', courseAppId: 'app-1' });
    client = new ExchangeClient({
      baseUrl: ds.endpoints.api,
      tokenUrl: ds.endpoints.token,
      clientId: 'c1',
      clientSecret: 's1',
      courseAppId: 'app-1',
      limiter: new Bottleneck({ maxConcurrent: 4, minTime: minTimeFor(1000) }),
      baseMinTimeMs: minTimeFor(1000),
      timeoutMs: 2000,
      retries: 2,
      logger: createLogger({ level: 'silent' }),
    });
  });
  after(() => ds.close());

  it('lists (paged), counts, creates and reads exchanges, with one token for all', async () => {
    await client.createExchange({ query: courseQuery('C-1') as never, metadata: { mine: 1 } });
    await client.createExchange({ query: courseQuery('C-2', 'summary') as never });
    ds.createExchange({ query: courseQuery('C-3'), courseAppId: 'app-1' });
    ds.createExchange({ query: courseQuery('C-4'), courseAppId: 'another-app' });
    expect(await client.countExchanges()).to.equal(3);
    expect(await client.countExchanges({ state: 'completed' })).to.equal(0);
    const page0 = await client.listExchanges({ page: 0, pageSize: 2, state: 'created' });
    const page1 = await client.listExchanges({ page: 1, pageSize: 2, state: 'created' });
    expect(page0).to.have.length(2);
    expect(page1).to.have.length(1);
    const mine = page0.find((e) => (e.metadata as { mine?: number } | null)?.mine === 1)!;
    expect(mine.query.conditions![0]!.scope_id!.$sys!.id).to.equal(dataSyncIdFor('C-1'));
    const read = await client.getExchange(mine.id);
    expect(read).to.deep.include({ id: mine.id, state: 'created', course_app_id: 'app-1' });
    expect(await client.getExchange('6f1c3f7e-0000-4000-8000-000000000000')).to.equal(null);
    expect(ds.stats.byPath['/oauth2/token']).to.equal(1);
  });

  it('posts data and errors, lists errors, and reads the artifacts still gzipped', async () => {
    const e = ds.createExchange({ query: courseQuery('C-5'), courseAppId: 'app-1' });
    await client.postData(
      e.id,
      JSON.stringify({
        assignments: [
          {
            $sys: { source_id: { gradebridge_id: '1' } },
            name: 'Quiz',
            points_possible: 10,
            scores: [{ $person: { $sys: { source_id: { sis_id: 'p1' } } }, score: 7, grade: '7' }],
          },
        ],
        summaries: [],
        final: true,
      }),
    );
    const details = await client.details(e.id);
    expect(details![0]).to.equal(0x1f); // gzip magic
    expect(JSON.parse(gunzipSync(details!).toString('utf8')).exchange_id).to.equal(e.id);
    expect(await client.consumerLogs(e.id)).to.be.instanceOf(Buffer);
    const failing = ds.createExchange({ query: courseQuery('C-6'), courseAppId: 'app-1' });
    expect(await client.details(failing.id)).to.equal(null);
    const posted = await client.createError(failing.id, 'producer_error', 'no such course');
    expect(posted).to.include({ code: 'producer_error', details: 'no such course' });
    expect((await client.listErrors(failing.id)).map((x) => x.code)).to.deep.equal([
      'producer_error',
    ]);
    expect((await client.getExchange(failing.id))!.state).to.equal('failed');
    // Errors posted by someone else, more than a page of them (the maximum page size is 2): all read.
    const many = ds.createExchange({ query: courseQuery('C-6b'), courseAppId: 'app-1' });
    const other = await Api.connect(ds, { clientId: 'c1', clientSecret: 's1' });
    const codes = ['producer_error', 'producer_failure', 'query_conditions_not_supported'];
    expect(
      (
        await other.post(
          `/exchanges/${many.id}/errors`,
          [...codes, ...codes].map((code) => ({ code })),
        )
      ).status,
    ).to.equal(200);
    expect((await client.listErrors(many.id)).map((x) => x.code)).to.have.length(2);
    expect((await client.allErrors(many.id)).map((x) => x.code)).to.deep.equal([
      ...codes,
      ...codes,
    ]);
    // A refused upload is a typed error with the status and body.
    const err = await client.postData(failing.id, '{"final":true}').catch((x: unknown) => x);
    expect(err).to.be.instanceOf(ExchangeApiError);
    expect((err as ExchangeApiError).status).to.equal(400);
  });

  it('reads the consumer (null when none), resolves sections, and posts to batches', async () => {
    expect(await client.consumer()).to.include({
      supported_exchange_query_type: 'assignment_scores',
    });
    ds.setConsumer(null);
    expect(await client.consumer()).to.equal(null);
    ds.addSection('ds-section-1', 'SIS-SECTION-1');
    expect(await client.resolveSection('ds-section-1')).to.equal('SIS-SECTION-1');
    expect(await client.resolveSection('nope')).to.equal(null);
    const batch = ds.createBatch();
    await client.batchError(batch.id, 'integration_error');
    await client.batchData(batch.id, ['C-1', 'C-2']);
    expect(ds.batch(batch.id)!.errors.map((x) => x.code)).to.deep.equal(['integration_error']);
    expect(ds.batch(batch.id)!.data.map((x) => x.courseIds)).to.deep.equal([['C-1', 'C-2']]);
  });

  it('lists, disables and runs schedules; a refused run is a conflict', async () => {
    const schedule = ds.addSchedule({
      exchanges: [{ query: courseQuery('C-7'), courseAppId: 'app-1' }],
    });
    const listed = await client.listSchedules({ page: 0, pageSize: 2 });
    expect(listed.map((x) => x.id)).to.include(schedule.id);
    // More schedules than a page holds: all of them, page after page.
    const more = [1, 2, 3].map(() => ds.addSchedule({}).id);
    const all = (await client.allSchedules()).map((x) => x.id);
    expect(all).to.include.members([schedule.id, ...more]);
    expect(all.length).to.be.greaterThan(2);
    expect(await client.runSchedule(schedule.id)).to.equal('queued');
    expect(await client.countExchanges({ state: 'created' })).to.be.greaterThan(0);
    await client.updateSchedule(schedule.id, false);
    expect(ds.schedule(schedule.id)!.enabled).to.equal(false);
    expect(await client.runSchedule(schedule.id)).to.equal('conflict');
  });

  it('gets a new token when the one it holds is refused', async () => {
    const before = ds.stats.byPath['/oauth2/token'] ?? 0;
    ds.expireTokens();
    expect(await client.countExchanges()).to.be.a('number');
    expect(ds.stats.byPath['/oauth2/token']).to.equal(before + 1);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs('3')).to.equal(3000);
    expect(retryAfterMs(new Date(Date.now() + 5000).toUTCString(), Date.now())).to.be.within(
      3000,
      5000,
    );
    expect(retryAfterMs(null)).to.equal(null);
    expect(retryAfterMs('soon')).to.equal(null);
  });
});
