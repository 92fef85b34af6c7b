import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import request from 'supertest';
import {
  LmsEmulator,
  parseAutoPostForm,
  seedDemoCourse,
} from '../../../src/emulators/lms/index.js';
import {
  openBrowser,
  screenshotIfFailed,
  skipWithoutChromium,
  type BrowserSession,
} from '../../helpers/chromium.js';
import type { FakeTool } from './fake-tool.js';
import { authRequest, closeAll, loginParams, startWithTool } from './helpers.js';

/** The JSON settings of the platform storage handler on a page. */
function handlerConfig(page: string): { toolOrigins: string[]; frame: string | null } {
  const match =
    /<script type="application\/json" id="lti-platform-storage-config">([\s\S]*?)<\/script>/.exec(
      page,
    );
  expect(match, 'the page carries the storage handler').to.not.equal(null);
  return JSON.parse(match![1]!) as { toolOrigins: string[]; frame: string | null };
}

/** The src of the page's tool frame, unescaped. */
function toolFrameSrc(page: string): string {
  const match = /<iframe name="tool_content"[^>]*src="([^"]+)"/.exec(page);
  expect(match, 'a tool frame').to.not.equal(null);
  return match![1]!.replace(/&amp;/g, '&');
}

describe('LMS emulator: launches in an iframe with platform storage', () => {
  let lms: LmsEmulator;
  let tool: FakeTool;
  let clientId: string;

  before(async () => {
    ({ lms, tool, clientId } = await startWithTool());
    seedDemoCourse(lms);
  });
  after(() => closeAll(lms, tool));
  afterEach(() => {
    lms.platformStorage = 'post_message_forwarding';
  });

  const embedded = (params: Record<string, string> = {}) =>
    request(lms.url)
      .get('/launch/embedded')
      .query({
        client_id: clientId,
        user_id: 'instructor-1',
        resource_link_id: 'demo-link-week-1',
        ...params,
      });

  it('shows the tool in an iframe beside a storage frame, naming it in lti_storage_target as Canvas does', async () => {
    const res = await embedded().expect(200);
    expect(res.headers['content-type']).to.match(/^text\/html/);
    expect(res.text).to.include('Introduction to LTI').and.include('Signed in as Ada Lovelace');
    expect(res.text).to.match(
      /<iframe name="post_message_forwarding" src="\/post_message_forwarding" title="Platform storage" hidden>/,
    );
    const login = toolFrameSrc(res.text);
    expect(login.startsWith(tool.loginUrl)).to.equal(true);
    expect(loginParams(login)).to.include({
      client_id: clientId,
      iss: lms.issuer,
      lti_storage_target: 'post_message_forwarding',
    });
    expect(res.text).to.match(
      /<iframe name="tool_content"[^>]*sandbox="[^"]*allow-popups-to-escape-sandbox/,
    );
    // The launch carries the storage target too.
    const auth = await request(lms.url).get('/auth').query(authRequest(login)).expect(200);
    expect(parseAutoPostForm(auth.text).fields.lti_storage_target).to.equal(
      'post_message_forwarding',
    );
  });

  it('serves the storage frame: it answers the registered tools, naming itself for put_data and get_data', async () => {
    const res = await request(lms.url).get('/post_message_forwarding').expect(200);
    expect(handlerConfig(res.text)).to.deep.equal({
      toolOrigins: [new URL(tool.loginUrl).origin],
      frame: 'post_message_forwarding',
    });
    expect(res.text).to.include('<script src="/platform-storage.js"></script>');
    const script = await request(lms.url).get('/platform-storage.js').expect(200);
    expect(script.headers['content-type']).to.match(/^application\/javascript/);
  });

  it('answers storage messages on the launch page itself with lti_storage_target=_parent', async () => {
    const res = await embedded({ storage: '_parent' }).expect(200);
    expect(res.text).to.not.include('name="post_message_forwarding"');
    expect(loginParams(toolFrameSrc(res.text)).lti_storage_target).to.equal('_parent');
    expect(handlerConfig(res.text).frame).to.equal(null);
  });

  it('can offer no platform storage: the tool has only its cookies', async () => {
    lms.platformStorage = 'none';
    const res = await embedded().expect(200);
    expect(res.text).to.not.include('post_message_forwarding');
    const login = toolFrameSrc(res.text);
    expect(loginParams(login)).to.not.have.property('lti_storage_target');
    const auth = await request(lms.url).get('/auth').query(authRequest(login)).expect(200);
    expect(parseAutoPostForm(auth.text).fields).to.not.have.property('lti_storage_target');
    expect((await request(lms.url).get('/')).text).to.include('without platform storage');
    expect(() => {
      lms.platformStorage = 'cookies' as never;
    }).to.throw(/platformStorage must be one of/);
  });

  it('refuses an unknown storage mode and a bad launch with an HTML page', async () => {
    const bad = await embedded({ storage: 'cookies' }).expect(400);
    expect(bad.text).to.include('storage must be one of');
    const unknown = await embedded({ client_id: 'nope' }).expect(400);
    expect(unknown.headers['content-type']).to.match(/^text\/html/);
    expect(unknown.text).to.include('Unknown tool');
  });

  it('links "Launch as" to the course page with the tool inside, and offers a new window', async () => {
    const page = (await request(lms.url).get('/')).text;
    expect(page).to.include('platform storage');
    const inFrame =
      /href="([^"]+)">Launch as Ada Lovelace<\/a> \(<a href="([^"]+)">in a new window/.exec(page);
    expect(inFrame, 'both launch links').to.not.equal(null);
    const [embeddedHref, windowHref] = [inFrame![1]!, inFrame![2]!].map(
      (h) => new URL(h.replace(/&amp;/g, '&')),
    );
    expect(embeddedHref.pathname).to.equal('/launch/embedded');
    const framed = await request(lms.url).get(embeddedHref.pathname + embeddedHref.search);
    expect(framed.status).to.equal(200);
    expect(toolFrameSrc(framed.text).startsWith(tool.loginUrl)).to.equal(true);
    expect(windowHref.pathname).to.equal('/launch');
    const redirect = await request(lms.url)
      .get(windowHref.pathname + windowHref.search)
      .expect(302);
    expect(loginParams(redirect.headers.location!)).to.not.have.property('lti_storage_target');
  });
});

/** A page a tool would be: it frames the LMS's storage frame and keeps every answer it gets. */
const HARNESS = (lmsUrl: string) => `<!doctype html><html lang="en"><title>tool</title>
<iframe name="post_message_forwarding" src="${lmsUrl}/post_message_forwarding" title="storage"></iframe>
<script>
window.replies = [];
addEventListener('message', function (e) { window.replies.push({ origin: e.origin, data: e.data }); });
</script></html>`;

async function harnessServer(
  lmsUrl: () => string,
): Promise<{ server: http.Server; origin: string }> {
  const server = http.createServer((_req, res) => {
    res.setHeader('Content-Type', 'text/html');
    res.end(HARNESS(lmsUrl()));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

interface Reply {
  origin: string;
  data: Record<string, unknown>;
}

describe('LMS emulator: the platform storage frame answering postMessages, in Chromium', function () {
  this.timeout(60000);
  let lms: LmsEmulator;
  let tools: Array<{ server: http.Server; origin: string }> = [];
  let browser: BrowserSession | undefined;
  let page: Page | undefined;
  let counter = 0;

  before(async function () {
    skipWithoutChromium(this, 'the platform storage frame in a browser');
    lms = await LmsEmulator.start();
    // Two registered tools and one stranger, each at an origin of its own.
    tools = await Promise.all([0, 1, 2].map(() => harnessServer(() => lms.url)));
    for (const [i, t] of tools.slice(0, 2).entries()) {
      lms.registerTool({
        name: `tool ${i}`,
        loginUrl: `${t.origin}/login`,
        launchUrl: `${t.origin}/launch`,
        keysetUrl: `${t.origin}/jwks`,
      });
    }
    browser = await openBrowser();
  });

  afterEach(async function () {
    await screenshotIfFailed(this, page);
    await page?.close();
    page = undefined;
  });

  after(async () => {
    await browser?.close();
    for (const t of tools) {
      t.server.closeAllConnections();
      await new Promise((r) => t.server.close(r));
    }
    await lms?.close();
  });

  /** Opens the tool's page (tool 0, 1, or the stranger 2) with the storage frame loaded. */
  async function openAs(tool: number): Promise<Page> {
    const p = await browser!.context.newPage();
    await p.goto(tools[tool]!.origin);
    await p.frame({ name: 'post_message_forwarding' })!.waitForLoadState('load');
    return p;
  }

  /** Posts a message to the storage frame, as a tool does, and waits for the answer. */
  async function send(p: Page, message: Record<string, unknown>): Promise<Reply> {
    const before = await p.evaluate<number>('window.replies.length');
    await p.evaluate(
      `frames['post_message_forwarding'].postMessage(${JSON.stringify(message)}, ${JSON.stringify(lms.url)})`,
    );
    await p.waitForFunction(`window.replies.length > ${before}`);
    return p.evaluate<Reply>(`window.replies[${before}]`);
  }

  const id = () => `m-${++counter}`;

  it('says what it supports, and that put_data and get_data go to this frame', async () => {
    page = await openAs(0);
    const message_id = id();
    const reply = await send(page, { subject: 'lti.capabilities', message_id });
    expect(reply.origin).to.equal(lms.url);
    expect(reply.data).to.deep.equal({
      subject: 'lti.capabilities.response',
      message_id,
      supported_messages: [
        { subject: 'lti.capabilities' },
        { subject: 'lti.put_data', frame: 'post_message_forwarding' },
        { subject: 'lti.get_data', frame: 'post_message_forwarding' },
      ],
    });
  });

  it('stores, reads back and deletes (an empty value) data, echoing the message_id', async () => {
    page = await openAs(0);
    const put = await send(page, {
      subject: 'lti.put_data',
      message_id: 'put-1',
      key: 'state_abc',
      value: 'abc',
    });
    expect(put.data).to.deep.equal({
      subject: 'lti.put_data.response',
      message_id: 'put-1',
      key: 'state_abc',
      value: 'abc',
    });
    const got = await send(page, {
      subject: 'lti.get_data',
      message_id: 'get-1',
      key: 'state_abc',
    });
    expect(got.data).to.deep.equal({
      subject: 'lti.get_data.response',
      message_id: 'get-1',
      key: 'state_abc',
      value: 'abc',
    });
    const removed = await send(page, {
      subject: 'lti.put_data',
      message_id: id(),
      key: 'state_abc',
      value: '',
    });
    expect(removed.data).to.include({ key: 'state_abc' }).and.not.have.property('error');
    const gone = await send(page, { subject: 'lti.get_data', message_id: id(), key: 'state_abc' });
    expect(gone.data.value).to.equal(null);
    // The older org.imsglobal.* subjects are the same messages.
    const old = await send(page, {
      subject: 'org.imsglobal.lti.get_data',
      message_id: id(),
      key: 'nothing',
    });
    expect(old.data).to.include({ subject: 'org.imsglobal.lti.get_data.response', value: null });
  });

  it("keeps each tool's data apart, by the origin of the tool's window", async () => {
    page = await openAs(0);
    await send(page, { subject: 'lti.put_data', message_id: id(), key: 'k', value: 'tool 0' });
    const other = await openAs(1);
    try {
      const seen = await send(other, { subject: 'lti.get_data', message_id: id(), key: 'k' });
      expect(seen.data.value).to.equal(null);
      await send(other, { subject: 'lti.put_data', message_id: id(), key: 'k', value: 'tool 1' });
    } finally {
      await other.close();
    }
    const mine = await send(page, { subject: 'lti.get_data', message_id: id(), key: 'k' });
    expect(mine.data.value).to.equal('tool 0');
  });

  it('answers a window that is not a registered tool with wrong_origin, and stores nothing for it', async () => {
    page = await openAs(2);
    const reply = await send(page, {
      subject: 'lti.put_data',
      message_id: 'stranger',
      key: 'k',
      value: 'v',
    });
    expect(reply.data).to.deep.include({
      subject: 'lti.put_data.response',
      message_id: 'stranger',
    });
    expect((reply.data.error as { code: string }).code).to.equal('wrong_origin');
    const keys = await page
      .frame({ name: 'post_message_forwarding' })!
      .evaluate<string[]>('Object.keys(localStorage)');
    expect(keys.some((k) => k.includes(tools[2]!.origin))).to.equal(false);
  });

  it('answers bad requests and unknown subjects with their error codes', async () => {
    page = await openAs(0);
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ subject: 'lti.put_data', message_id: id(), value: 'v' }, 'bad_request'],
      [{ subject: 'lti.get_data', message_id: id(), key: '' }, 'bad_request'],
      [{ subject: 'lti.put_data', message_id: id(), key: 'k', value: 42 }, 'bad_request'],
      [{ subject: 'lti.put_data', key: 'k', value: 'v' }, 'bad_request'],
      [{ subject: 'lti.frameResize', message_id: id(), height: 10 }, 'unsupported_subject'],
    ];
    for (const [message, code] of cases) {
      const reply = await send(page, message);
      expect(reply.data.subject, JSON.stringify(message)).to.equal(
        `${String(message.subject)}.response`,
      );
      expect((reply.data.error as { code: string }).code, JSON.stringify(message)).to.equal(code);
      expect(reply.data.message_id).to.equal(message.message_id);
    }
  });

  it('holds at most 500 keys and 4096 characters per tool, as Canvas does (storage_exhaustion)', async () => {
    page = await openAs(1);
    // 4096 characters: 500 keys do not fit with values; count them apart.
    const big = await send(page, {
      subject: 'lti.put_data',
      message_id: id(),
      key: 'big',
      value: 'x'.repeat(4094),
    });
    expect((big.data.error as { code: string }).code).to.equal('storage_exhaustion');
    const fits = await send(page, {
      subject: 'lti.put_data',
      message_id: id(),
      key: 'big',
      value: 'x'.repeat(4093),
    });
    expect(fits.data).to.not.have.property('error');
    // Overwriting a key counts its new size only.
    const again = await send(page, {
      subject: 'lti.put_data',
      message_id: id(),
      key: 'big',
      value: 'y'.repeat(4093),
    });
    expect(again.data).to.not.have.property('error');
    const more = await send(page, {
      subject: 'lti.put_data',
      message_id: id(),
      key: 'a',
      value: 'b',
    });
    expect((more.data.error as { code: string }).code).to.equal('storage_exhaustion');
    await send(page, { subject: 'lti.put_data', message_id: id(), key: 'big', value: '' });

    // 500 keys of one character each (1000 characters).
    const answers = await page.evaluate<number>(`new Promise(function (resolve) {
      var frame = frames['post_message_forwarding'], n = 0, errors = 0;
      addEventListener('message', function (e) {
        if (!/^many-/.test(e.data.message_id)) return;
        if (e.data.error) errors++;
        if (++n === 500) resolve(errors);
      });
      for (var i = 0; i < 500; i++)
        frame.postMessage({ subject: 'lti.put_data', message_id: 'many-' + i, key: String.fromCharCode(0x4e00 + i), value: 'v' }, ${JSON.stringify(lms.url)});
    })`);
    expect(answers).to.equal(0);
    const full = await send(page, {
      subject: 'lti.put_data',
      message_id: id(),
      key: 'z',
      value: 'v',
    });
    expect((full.data.error as { code: string }).code).to.equal('storage_exhaustion');
    // Deleting one makes room again.
    await send(page, { subject: 'lti.put_data', message_id: id(), key: '\u4e00', value: '' });
    const room = await send(page, {
      subject: 'lti.put_data',
      message_id: id(),
      key: 'z',
      value: 'v',
    });
    expect(room.data).to.not.have.property('error');
  });
});
