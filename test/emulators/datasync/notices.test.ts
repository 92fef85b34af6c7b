import crypto from 'node:crypto';
import type http from 'node:http';
import { expect } from 'chai';
import {
  courseQuery,
  signNotice,
  type DataSyncEmulator,
} from '../../../src/emulators/datasync/index.js';
import { closeServer, listen } from '../../../src/emulators/shared/server.js';
import { Api, createCourseExchange, startEmulator } from './helpers.js';

interface Received {
  headers: http.IncomingHttpHeaders;
  raw: string;
}

/** A receiver of notices: answers each with the next status of `statuses` (then 200). */
class NoticeReceiver {
  readonly received: Received[] = [];
  private waiters: Array<{ n: number; resolve: () => void }> = [];
  private constructor(
    private readonly server: http.Server,
    readonly url: string,
    private readonly statuses: number[],
  ) {}

  static async start(statuses: number[] = []): Promise<NoticeReceiver> {
    const { server, url } = await listen('127.0.0.1', 0);
    const receiver = new NoticeReceiver(server, `${url}/hooks/datasync`, [...statuses]);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        receiver.received.push({ headers: req.headers, raw: Buffer.concat(chunks).toString() });
        res.statusCode = receiver.statuses.shift() ?? 200;
        res.end();
        receiver.waiters = receiver.waiters.filter((w) => {
          if (receiver.received.length < w.n) return true;
          w.resolve();
          return false;
        });
      });
    });
    return receiver;
  }

  /** Resolves once `n` requests arrived. */
  count(n: number): Promise<void> {
    if (this.received.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }
}

const SECRET = 'whsec-test';

/** Checks the X-DataSync-Signature of a received notice as a receiver would. */
function verify(notice: Received, secret: string): boolean {
  const header = String(notice.headers['x-datasync-signature']);
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  if (!match) return false;
  const expected = crypto.createHmac('sha256', secret).update(`${match[1]}.${notice.raw}`).digest();
  const age = Math.abs(Date.now() / 1000 - Number(match[1]));
  return age < 60 && crypto.timingSafeEqual(expected, Buffer.from(match[2]!, 'hex'));
}

describe('Data Sync emulator: exchange-created notices', () => {
  let ds: DataSyncEmulator;
  let receiver: NoticeReceiver;

  afterEach(async () => {
    await ds.close();
    await receiver.close();
  });

  it('posts a signed grades.exchange.created notice for createExchange', async () => {
    receiver = await NoticeReceiver.start();
    ds = await startEmulator({ notice: { url: receiver.url, secret: SECRET } });
    const exchange = createCourseExchange(ds, 'C1', { courseAppId: 'app-1' });
    await receiver.count(1);
    const [notice] = receiver.received;
    expect(notice!.headers['content-type']).to.equal('application/json');
    expect(verify(notice!, SECRET)).to.equal(true);
    expect(verify(notice!, 'another-secret')).to.equal(false);
    const body = JSON.parse(notice!.raw);
    expect(body).to.have.keys('id', 'type', 'created_at', 'data');
    expect(body.type).to.equal('grades.exchange.created');
    expect(body.id).to.match(/^[0-9a-f-]{36}$/);
    expect(Date.parse(body.created_at)).to.not.be.NaN;
    expect(body.data).to.deep.equal({ exchange_id: exchange.id, course_app_id: 'app-1' });
    await ds.noticesSettled();
    expect(ds.notices).to.have.length(1);
    expect(ds.notices[0]).to.deep.include({
      status: 'delivered',
      attempts: 1,
      responseStatus: 200,
    });
    expect(ds.notices[0]!.event).to.deep.equal(body);
  });

  it('signs as signNotice does', () => {
    const sig = signNotice('s', '{"a":1}', 1700000000);
    const v1 = crypto.createHmac('sha256', 's').update('1700000000.{"a":1}').digest('hex');
    expect(sig).to.equal(`t=1700000000,v1=${v1}`);
  });

  it('notifies for exchanges created through the API and by schedule runs', async () => {
    receiver = await NoticeReceiver.start();
    ds = await startEmulator({ notice: { url: receiver.url, secret: SECRET } });
    const api = await Api.connect(ds);
    await api.post('/exchanges', { query: courseQuery('API-1') });
    const schedule = ds.addSchedule({ exchanges: [{ query: courseQuery('S-1') }] });
    expect((await api.post(`/schedules/${schedule.id}/run`)).status).to.equal(204);
    await receiver.count(2);
    const ids = receiver.received.map((n) => JSON.parse(n.raw).data.exchange_id);
    expect(ids).to.have.members(ds.exchanges().map((e) => e.id));
    expect(ds.exchanges().map((e) => e.source)).to.deep.equal(['api', 'schedule']);
    expect(receiver.received.every((n) => verify(n, SECRET))).to.equal(true);
  });

  it('retries a failed delivery with the same event, freshly signed', async () => {
    receiver = await NoticeReceiver.start([500, 503]);
    ds = await startEmulator({ notice: { url: receiver.url, secret: SECRET } });
    createCourseExchange(ds);
    await receiver.count(3);
    await ds.noticesSettled();
    const events = receiver.received.map((n) => JSON.parse(n.raw).id);
    expect(new Set(events).size).to.equal(1);
    expect(receiver.received.every((n) => verify(n, SECRET))).to.equal(true);
    expect(ds.notices[0]).to.deep.include({ status: 'delivered', attempts: 3 });
  });

  it('gives up after three retries, and never crashes on a delivery that fails', async () => {
    receiver = await NoticeReceiver.start([500, 500, 500, 500, 500]);
    ds = await startEmulator({ notice: { url: receiver.url, secret: SECRET } });
    createCourseExchange(ds);
    await ds.noticesSettled();
    expect(receiver.received).to.have.length(4);
    expect(ds.notices[0]).to.deep.include({
      status: 'failed',
      attempts: 4,
      responseStatus: 500,
      error: 'HTTP 500',
    });

    // Nobody listening at all.
    const gone = await NoticeReceiver.start();
    await gone.close();
    ds.setNotice({ url: gone.url, secret: SECRET });
    createCourseExchange(ds);
    await ds.noticesSettled();
    expect(ds.notices[1]).to.deep.include({ status: 'failed', attempts: 4, responseStatus: null });
    expect((await (await Api.connect(ds)).get('/exchanges/count')).text).to.equal('2');
  });

  it('sends nothing without a target, and checks the target', async () => {
    receiver = await NoticeReceiver.start();
    ds = await startEmulator();
    createCourseExchange(ds);
    ds.setNotice({ url: receiver.url, secret: SECRET });
    ds.setNotice(null);
    createCourseExchange(ds);
    await ds.noticesSettled();
    expect(ds.notices).to.deep.equal([]);
    expect(receiver.received).to.deep.equal([]);
    expect(() => ds.setNotice({ url: 'not a url', secret: SECRET })).to.throw(/absolute URL/);
    expect(() => ds.setNotice({ url: receiver.url, secret: '' })).to.throw(/secret/);
  });
});
