import { expect } from 'chai';
import type { DataSyncEmulator } from '../../../src/emulators/datasync/index.js';
import { RateLimiter } from '../../../src/emulators/datasync/rate-limiter.js';
import { RequestMeter } from '../../../src/emulators/datasync/request-meter.js';
import { Api, startEmulator, tokenFor } from './helpers.js';

/** Fires `n` requests at once; their statuses, in order. */
async function burst(api: Api, n: number) {
  return Promise.all(Array.from({ length: n }, () => api.get('/exchanges/count')));
}

const statuses = (responses: Array<{ status: number }>) =>
  responses.map((r) => r.status).sort((a, b) => a - b);

describe('Data Sync emulator: rate limit', () => {
  let ds: DataSyncEmulator;

  afterEach(() => ds.close());

  it('answers 429 Too Many Requests with Retry-After once the window is full, counting the token call', async () => {
    ds = await startEmulator({ rateLimit: { requestsPerSecond: 3 } });
    const api = await Api.connect(ds); // the first of the 3
    const responses = await burst(api, 5);
    expect(statuses(responses)).to.deep.equal([200, 200, 429, 429, 429]);
    const throttled = responses.find((r) => r.status === 429)!;
    expect(throttled.body).to.deep.equal({ errors: [{ message: 'Too Many Requests' }] });
    expect(throttled.headers.get('retry-after')).to.equal('1');

    const stats = ds.stats;
    expect(stats.requests).to.equal(6);
    expect(stats.throttled).to.equal(3);
    expect(stats.maxPerSecond).to.equal(6);
    expect(stats.firstThrottledAt).to.be.a('number');
    expect(stats.timeline).to.have.length(6);
    expect(stats.byPath).to.deep.equal({ '/oauth2/token': 1, '/v2/grades/exchanges/count': 5 });
    // The token endpoint is limited too.
    const token = await fetch(ds.endpoints.token, { method: 'POST' });
    expect(token.status).to.equal(429);
  });

  it('answers 403 Rate Limit Exceeded in the 403 variant, without Retry-After when told', async () => {
    ds = await startEmulator();
    const api = await Api.connect(ds);
    ds.setRateLimit({ requestsPerSecond: 1, status: 403, retryAfter: false });
    expect(ds.rateLimit).to.deep.equal({ requestsPerSecond: 1, status: 403, retryAfter: false });
    const responses = await burst(api, 4);
    const refused = responses.filter((r) => r.status === 403);
    expect(refused.length).to.be.at.least(3);
    for (const r of refused) {
      expect(r.body).to.deep.equal({ errors: [{ message: 'Rate Limit Exceeded' }] });
      expect(r.headers.get('retry-after')).to.equal(null);
    }
  });

  it('lifts the limit with requestsPerSecond null, and checks its settings', async () => {
    ds = await startEmulator({ rateLimit: { requestsPerSecond: 1 } });
    const token = await tokenFor(ds);
    expect((await new Api(ds, token).get('/exchanges')).status).to.equal(429);
    ds.setRateLimit({ requestsPerSecond: null });
    expect(statuses(await burst(new Api(ds, token), 10))).to.deep.equal(Array(10).fill(200));
    expect(() => ds.setRateLimit({ requestsPerSecond: 0 })).to.throw(/integer >= 1/);
    expect(() => ds.setRateLimit({ requestsPerSecond: 2.5 })).to.throw(/integer >= 1/);
    expect(() => ds.setRateLimit({ requestsPerSecond: 5, status: 500 as 429 })).to.throw(
      /429 or 403/,
    );
  });

  it('measures the most arrivals in one second, and resets its stats', async () => {
    ds = await startEmulator();
    const api = await Api.connect(ds);
    await burst(api, 12);
    expect(ds.stats.maxPerSecond).to.equal(13);
    expect(ds.stats.throttled).to.equal(0);
    expect(ds.stats.firstThrottledAt).to.equal(null);
    ds.resetStats();
    expect(ds.stats).to.deep.include({ requests: 0, maxPerSecond: 0, timeline: [], byPath: {} });
  });

  describe('the sliding window', () => {
    it('admits requestsPerSecond per 1000 ms, refused requests taking no place', () => {
      const limiter = new RateLimiter();
      limiter.configure({ requestsPerSecond: 2 });
      expect(limiter.admit(0)).to.equal(null);
      expect(limiter.admit(400)).to.equal(null);
      expect(limiter.admit(500)).to.equal(500); // free when the request of t=0 leaves
      expect(limiter.admit(999)).to.equal(1);
      expect(limiter.admit(1000)).to.equal(null);
      expect(limiter.admit(1200)).to.equal(200);
      expect(limiter.admit(1400)).to.equal(null);
    });

    it('finds the busiest 1000 ms, throttled arrivals included', () => {
      const meter = new RequestMeter();
      for (const t of [0, 100, 900, 1050, 1100, 1150, 2200]) meter.arrival('/x', t);
      meter.throttled(1100);
      const stats = meter.snapshot();
      // 900, 1050, 1100, 1150 (100 and 1100 are a full second apart: not in one window)
      expect(stats.maxPerSecond).to.equal(4);
      expect(stats.firstThrottledAt).to.equal(1100);
      expect(stats.byPath).to.deep.equal({ '/x': 7 });
    });
  });
});
