import { expect } from 'chai';
import type { DataSyncEmulator, ExchangeRecord } from '../../../src/emulators/datasync/index.js';
import { scoresChunk, startWithExchange, until, type Api } from './helpers.js';

/** The error a request ended with (it must not get an answer). */
async function failure(request: Promise<Response>): Promise<Error> {
  try {
    const res = await request;
    throw new Error(`expected no answer, got ${res.status}`);
  } catch (err) {
    return err as Error;
  }
}

describe('Data Sync emulator: injected faults', () => {
  let ds: DataSyncEmulator;
  let api: Api;
  let exchange: ExchangeRecord;
  const dataPath = () => `/exchanges/${exchange.id}/data`;

  beforeEach(async () => {
    ({ ds, api, exchange } = await startWithExchange());
  });
  afterEach(() => ds.close());

  it("'status' answers that status with a JSON error, `count` times, without doing the work", async () => {
    ds.injectFaults([
      { match: { method: 'post', path: '/data$' }, kind: 'status', status: 503, count: 2 },
    ]);
    expect(ds.pendingFaults()).to.have.length(1);
    expect((await api.get(`/exchanges/${exchange.id}`)).status).to.equal(200); // not matched
    for (let i = 0; i < 2; i += 1) {
      const res = await api.post(dataPath(), scoresChunk('q', [['s', 1]]));
      expect(res.status).to.equal(503);
      expect(res.body.errors[0].message).to.match(/Injected fault/);
    }
    expect(ds.exchange(exchange.id)!.chunks).to.have.length(0);
    expect(ds.pendingFaults()).to.deep.equal([]);
    expect((await api.post(dataPath(), scoresChunk('q', [['s', 1]]))).status).to.equal(200);
    expect(ds.stats.faulted).to.equal(2);
  });

  it("'status' defaults to 500 and matches any request without `match`", async () => {
    ds.injectFaults([{ kind: 'status' }]);
    expect((await fetch(ds.endpoints.token, { method: 'POST' })).status).to.equal(500);
  });

  it("'drop' destroys the socket without an answer", async () => {
    ds.injectFaults([{ match: { path: '^/v2/grades/exchanges$' }, kind: 'drop' }]);
    const err = await failure(api.fetch('GET', '/exchanges'));
    expect(err).to.be.instanceOf(TypeError);
    expect((await api.get('/exchanges')).status).to.equal(200);
  });

  it("'timeout' never answers: the client gives up", async () => {
    ds.injectFaults([{ match: { path: 'count' }, kind: 'timeout' }]);
    const err = await failure(
      api.fetch('GET', '/exchanges/count', undefined, AbortSignal.timeout(150)),
    );
    expect(err.name).to.equal('TimeoutError');
    expect((await api.get('/exchanges/count')).status).to.equal(200);
  });

  it("'timeout' holds the request until close()", async () => {
    ds.injectFaults([{ kind: 'timeout' }]);
    const pending = failure(api.fetch('GET', '/exchanges'));
    await until(() => ds.stats.faulted === 1);
    await ds.close();
    expect(await pending).to.be.instanceOf(Error);
  });

  it("'drop' before the data is stored: nothing arrived", async () => {
    ds.injectFaults([{ match: { method: 'POST', path: '/data$' }, kind: 'drop' }]);
    await failure(api.fetch('POST', dataPath(), scoresChunk('q', [['s', 1]])));
    expect(ds.exchange(exchange.id)!.chunks).to.deep.equal([]);
  });

  it("'drop' after the data is stored: the retry makes a duplicate chunk", async () => {
    ds.injectFaults([{ match: { method: 'POST', path: '/data$' }, kind: 'drop', when: 'after' }]);
    const chunk = scoresChunk('q', [['s', 1]]);
    await failure(api.fetch('POST', dataPath(), chunk));
    expect(ds.exchange(exchange.id)!.chunks).to.have.length(1);
    expect((await api.post(dataPath(), chunk)).status).to.equal(200);
    const { chunks } = ds.exchange(exchange.id)!;
    expect(chunks.map((c) => c.duplicateOf)).to.deep.equal([undefined, 0]);
    expect(ds.stats.duplicateChunks).to.equal(1);
    expect(ds.received(exchange.id).scores).to.have.length(2);
  });

  it("'timeout' after the data is stored: the final chunk arrived though the client gave up", async () => {
    ds.injectFaults([{ match: { path: '/data$' }, kind: 'timeout', when: 'after' }]);
    const err = await failure(
      api.fetch('POST', dataPath(), scoresChunk('q', [['s', 1]], true), AbortSignal.timeout(150)),
    );
    expect(err.name).to.equal('TimeoutError');
    expect(ds.exchange(exchange.id)!.state).to.equal('completed');
  });

  it("'status' after the work: stored, yet answered 500", async () => {
    ds.injectFaults([{ match: { path: '/data$' }, kind: 'status', when: 'after' }]);
    expect((await api.post(dataPath(), scoresChunk('q', [['s', 1]]))).status).to.equal(500);
    expect(ds.exchange(exchange.id)!.chunks).to.have.length(1);
  });

  it('checks faults before adding any, and clears them', () => {
    expect(() => ds.injectFaults([{ kind: 'status' }, { kind: 'explode' as 'drop' }])).to.throw(
      /faults\[1\]\.kind/,
    );
    expect(() => ds.injectFaults([{ kind: 'status', status: 200 }])).to.throw(/400 to 599/);
    expect(() => ds.injectFaults([{ kind: 'drop', count: 0 }])).to.throw(/count/);
    expect(() => ds.injectFaults([{ kind: 'drop', match: { path: '(' } }])).to.throw(/regular/);
    expect(() => ds.injectFaults([{ kind: 'drop', when: 'during' as 'after' }])).to.throw(/when/);
    expect(ds.pendingFaults()).to.deep.equal([]);
    ds.injectFaults([{ kind: 'drop', count: 3 }]);
    expect(ds.pendingFaults()[0]).to.include({ kind: 'drop', count: 3 });
    ds.clearFaults();
    expect(ds.pendingFaults()).to.deep.equal([]);
  });
});
