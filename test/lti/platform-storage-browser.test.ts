import { expect } from 'chai';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import jwt from 'jsonwebtoken';
import type { Frame, FrameLocator, Page } from 'playwright-core';
import { LmsEmulator, ROLE, seedDemoCourse } from '../../src/emulators/lms/index.js';
import { createWorker } from '../../src/job-registry.js';
import { registerPlatform } from '../../src/lti/registration.js';
import { tenantWithClient, type TenantFixture } from '../factories/index.js';
import {
  accessibilityViolations,
  openBrowser,
  screenshotIfFailed,
  skipWithoutChromium,
  type BrowserSession,
} from '../helpers/chromium.js';
import { connectLms } from '../helpers/lms-tool.js';
import { buildContext, type TestContext } from '../helpers/context.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startServer, type ServerProcess } from '../helpers/server-process.js';

const TOOL_FRAME = 'iframe[name="tool_content"]';
const TEACHER = 'Ada Lovelace';
const COURSE = 'Introduction to LTI';

/** An HTTP server on loopback, with its port. */
async function serve(
  handler: http.RequestListener,
): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

async function stop(server: http.Server | undefined): Promise<void> {
  if (!server) return;
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

/**
 * A platform of its own for the tool's message handling: it frames the tool
 * with `lti_storage_target=_parent` and answers lti.capabilities and
 * lti.put_data as it should; lti.get_data it answers honestly, or (hostile)
 * only with answers the tool must ignore: one with another message_id, and
 * one with the right message_id posted by a frame of another origin.
 */
async function startStoragePlatform(toolBase: string) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomUUID();
  const clientId = `storage-${kid.slice(0, 8)}`;
  let base = '';
  let otherOrigin = '';
  const toolOrigin = new URL(toolBase).origin;
  const { server, port } = await serve((req, res) => {
    const url = new URL(req.url!, base);
    const send = (type: string, body: string) => {
      res.setHeader('Content-Type', type);
      res.end(body);
    };
    if (url.pathname === '/jwks') {
      return send(
        'application/json',
        JSON.stringify({
          keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }],
        }),
      );
    }
    if (url.pathname === '/auth') {
      const q = url.searchParams;
      const now = Math.floor(Date.now() / 1000);
      const LTI = 'https://purl.imsglobal.org/spec/lti/claim/';
      const token = jwt.sign(
        {
          iss: base,
          aud: clientId,
          sub: 'hostile-teacher',
          iat: now,
          exp: now + 300,
          nonce: q.get('nonce'),
          name: 'Mary Somerville',
          [`${LTI}message_type`]: 'LtiResourceLinkRequest',
          [`${LTI}version`]: '1.3.0',
          [`${LTI}deployment_id`]: 'd1',
          [`${LTI}target_link_uri`]: q.get('redirect_uri'),
          [`${LTI}resource_link`]: { id: 'rl-storage' },
          [`${LTI}roles`]: [ROLE.instructor],
          [`${LTI}context`]: { id: 'ctx-storage', title: 'Storage Course' },
        },
        privateKey,
        { algorithm: 'RS256', keyid: kid },
      );
      return send(
        'text/html',
        `<form method="post" action="${q.get('redirect_uri')}"><input type="hidden" name="id_token" value="${token}"><input type="hidden" name="state" value="${q.get('state')}"></form><script>document.forms[0].submit()</script>`,
      );
    }
    if (url.pathname === '/forger') {
      // Another origin's frame: it answers for the platform, with the right message_id.
      return send(
        'text/html',
        `<script>addEventListener('message', function (e) {
          if (e.origin !== ${JSON.stringify(base)}) return;
          parent.frames['tool'].postMessage(e.data, '*');
        });</script>`,
      );
    }
    if (url.pathname === '/course') {
      const hostile = url.searchParams.get('mode') === 'hostile';
      const login = new URL(`${toolBase}/lti/login`);
      for (const [k, v] of Object.entries({
        iss: base,
        login_hint: 'hostile-teacher',
        target_link_uri: `${toolBase}/lti/launch`,
        client_id: clientId,
        lti_deployment_id: 'd1',
        lti_storage_target: '_parent',
      }))
        login.searchParams.set(k, v);
      return send(
        'text/html',
        `<!doctype html><title>Storage platform</title>
<iframe name="forger" src="${otherOrigin}/forger"></iframe>
<iframe name="tool" src="${login}" style="width:100%;height:600px"></iframe>
<script>
var stored = {};
var hostile = ${hostile};
addEventListener('message', function (e) {
  if (e.origin !== ${JSON.stringify(toolOrigin)}) return;
  var m = e.data, reply = function (fields) {
    e.source.postMessage(Object.assign({ subject: m.subject + '.response', message_id: m.message_id }, fields), e.origin);
  };
  if (m.subject === 'lti.capabilities')
    return reply({ supported_messages: [{ subject: 'lti.put_data' }, { subject: 'lti.get_data' }] });
  if (m.subject === 'lti.put_data') {
    if (m.value) stored[m.key] = m.value; else delete stored[m.key];
    return reply({ key: m.key, value: m.value });
  }
  if (m.subject !== 'lti.get_data') return;
  var value = Object.prototype.hasOwnProperty.call(stored, m.key) ? stored[m.key] : null;
  if (!hostile) return reply({ key: m.key, value: value });
  // Right value, wrong message_id; then the right message_id, from another origin.
  e.source.postMessage({ subject: 'lti.get_data.response', message_id: 'not-' + m.message_id, key: m.key, value: value }, e.origin);
  frames['forger'].postMessage({ subject: 'lti.get_data.response', message_id: m.message_id, key: m.key, value: value }, ${JSON.stringify(otherOrigin)});
});
</script>`,
      );
    }
    res.statusCode = 404;
    res.end();
  });
  base = `http://127.0.0.1:${port}`;
  // The same server under another name: another origin.
  otherOrigin = `http://localhost:${port}`;
  return { server, base, clientId };
}

describe('Launching gradebridge inside a cross-site LMS iframe, in Chromium with third-party cookies blocked', function () {
  this.timeout(180000);
  let ctx: TestContext;
  let t: TenantFixture;
  let tool: http.Server;
  let base: string;
  let lms: LmsEmulator;
  let clientId: string;
  let browser: BrowserSession | undefined;
  let page: Page | undefined;
  /** A window the test opened from the page: the one a failure shows. */
  let popup: Page | undefined;
  /** The Cookie header of every request the tool received, in order. */
  let seen: Array<{ method: string; url: string; cookie: string | undefined }> = [];

  before(async function () {
    skipWithoutChromium(this, 'launches in a cross-site LMS iframe');
    ctx = await buildContext({ env: { LTI_COOKIE_SECURE: 'true' } });
    const handler = ctx.app.koa.callback();
    const served = await serve((req, res) => {
      seen.push({ method: req.method!, url: req.url!, cookie: req.headers.cookie });
      void handler(req, res);
    });
    tool = served.server;
    // The tool on localhost, the LMS on 127.0.0.1: two sites, as a real LMS and tool are.
    base = `http://localhost:${served.port}`;
    lms = await LmsEmulator.start({ host: '127.0.0.1' });
    seedDemoCourse(lms);
    t = await tenantWithClient(ctx);
    const registered = await connectLms(ctx.deps, lms, t.tenantId, base);
    clientId = registered.clientId;
  });

  beforeEach(async () => {
    browser = await openBrowser();
    page = await browser.context.newPage();
    seen = [];
    lms.platformStorage = 'post_message_forwarding';
  });

  afterEach(async function () {
    await screenshotIfFailed(this, popup ?? page);
    await browser?.close();
    browser = undefined;
    page = undefined;
    popup = undefined;
  });

  after(async () => {
    await lms?.close();
    await stop(tool);
    await ctx?.deps.exchange.close();
    await ctx?.db.destroy();
    await ctx?.database.drop();
  });

  /** The demo course's "Launch as" for the teacher, from the LMS home page: the tool in the course page's iframe. */
  async function launchAsTeacher(p: Page): Promise<FrameLocator> {
    await p.goto(`${lms.url}/`);
    // The demo course's first link (deep linking may have added others).
    await p
      .getByRole('link', { name: `Launch as ${TEACHER}`, exact: true })
      .first()
      .click();
    return p.frameLocator(TOOL_FRAME);
  }

  function toolFrame(p: Page): Frame {
    const frame = p.frame({ name: 'tool_content' });
    expect(frame, 'the tool frame').to.not.equal(null);
    return frame!;
  }

  it('launches through the platform storage, and the course page works without any cookie', async () => {
    const frame = await launchAsTeacher(page!);
    await frame.getByRole('heading', { name: COURSE }).waitFor();
    expect(toolFrame(page!).url()).to.match(new RegExp(`^${base}/lti/`));
    // The login went through the storage page and the launch through its confirmation.
    const launches = seen.filter((r) => r.method === 'POST' && r.url === '/lti/launch');
    expect(launches).to.have.length(2);
    // The browser kept no cookie of the tool's, and sent none.
    expect(await browser!.context.cookies(base)).to.deep.equal([]);
    expect(seen.filter((r) => r.cookie !== undefined)).to.deep.equal([]);
    const keys = await page!.evaluate<string[]>('Object.keys(window.localStorage)');
    expect(keys, 'the launch removed its keys from the platform storage').to.deep.equal([]);

    // Pull: a form posted with the session token alone.
    const before = seen.length;
    await frame.getByRole('button', { name: /pull/i }).first().click();
    await waitFor(() => seen.slice(before).some((r) => r.method === 'POST' && /pull/.test(r.url)));
    await waitFor(async () => (await ctx.db('jobs').where({ name: 'lti.pull' })).length > 0);
    expect(await createWorker(ctx.deps).drain()).to.be.at.least(1);
    const current = toolFrame(page!);
    await current.goto(current.url());
    await frame.getByText('Alan Turing').first().waitFor();

    // Navigate: a grade's history page, reached from the grid.
    const response = page!.waitForResponse((r) => /\/grade\?column=/.test(r.url()));
    await frame.locator('a[href*="grade?column="]').first().click();
    expect((await response).status()).to.equal(200);
    await frame.getByRole('link', { name: COURSE }).first().waitFor();
    expect(toolFrame(page!).url()).to.match(/grade\?column=/);
    expect(seen.filter((r) => r.cookie !== undefined)).to.deep.equal([]);
    expect(await browser!.context.cookies(base)).to.deep.equal([]);
  });

  it('launches deep linking the same way, and answers the LMS from inside the frame', async () => {
    await page!.goto(`${lms.url}/`);
    await page!.getByRole('link', { name: /Add content \(deep linking\)/ }).click();
    const frame = page!.frameLocator(TOOL_FRAME);
    await frame.getByRole('heading', { name: /Add a gradebridge link/ }).waitFor();
    expect(seen.filter((r) => r.cookie !== undefined)).to.deep.equal([]);
    await frame.getByRole('textbox', { name: /title/i }).first().fill('Week 2 quiz');
    await frame.getByRole('button').last().click();
    // The LMS's answer page, in the frame.
    await frame.getByText(/1 resource link\(s\)/).waitFor();
    expect(lms.deepLinkReturns().at(-1)).to.deep.include({ accepted: true });
  });

  it('offers "Open in a new window" when the LMS has no platform storage, and completes the launch there', async () => {
    lms.platformStorage = 'none';
    const frame = await launchAsTeacher(page!);
    const open = frame.getByRole('link', { name: 'Open in a new window' });
    await open.waitFor();
    await frame.getByText('gradebridge cannot open inside this page').waitFor();
    expect(await accessibilityViolations(page!, TOOL_FRAME)).to.deep.equal([]);
    const opened = await Promise.all([page!.waitForEvent('popup'), open.click()]);
    popup = opened[0];
    await popup.getByRole('heading', { name: COURSE }).waitFor();
    expect(popup.url()).to.match(new RegExp(`^${base}/lti/`));
    expect(await popup.getByText(TEACHER).count()).to.be.greaterThan(0);
  });

  it("refuses a launch whose state this browser's platform storage does not hold (a login started elsewhere)", async () => {
    // Someone else's login: its launch post taken before it reached the tool.
    let taken: string | null = null;
    await page!.route(`${base}/lti/launch`, async (route) => {
      taken = route.request().postData();
      await route.abort();
    });
    await launchAsTeacher(page!);
    await waitFor(() => taken !== null);
    await page!.unroute(`${base}/lti/launch`);
    // A browser whose platform storage never held that login's state: this one, emptied.
    await page!.goto(`${lms.url}/`);
    await page!.evaluate('window.localStorage.clear()');
    const frame = await launchAsTeacher(page!);
    await frame.getByRole('heading', { name: COURSE }).waitFor();
    const fields = Object.fromEntries(new URLSearchParams(taken!));
    expect(fields.lti_storage_target).to.equal('post_message_forwarding');
    // The forged launch posted from inside the tool's frame, as a cross-site form would.
    await toolFrame(page!).evaluate(`(function (fields) {
      var form = document.createElement('form');
      form.method = 'post';
      form.action = '/lti/launch';
      Object.keys(fields).forEach(function (name) {
        var input = document.createElement('input');
        input.type = 'hidden';
        input.name = name;
        input.value = fields[name];
        form.append(input);
      });
      document.body.append(form);
      form.submit();
    })(${JSON.stringify(fields)})`);
    await frame.getByText('gradebridge cannot open inside this page').waitFor();
    await frame.getByText(/does not hold this login/).waitFor({ state: 'attached' });
    const used = await ctx.db('lti_logins').where({ state: fields.state }).first('used_at');
    expect(used.used_at, 'the forged launch used its login up').to.not.equal(null);
  });

  it("ignores answers from other origins and with another message_id, and takes the platform's own", async () => {
    const platform = await startStoragePlatform(base);
    try {
      await registerPlatform(ctx.deps, {
        tenantId: t.tenantId,
        issuer: platform.base,
        clientId: platform.clientId,
        authenticationEndpoint: `${platform.base}/auth`,
        accessTokenEndpoint: `${platform.base}/token`,
        keysetUrl: `${platform.base}/jwks`,
        deploymentIds: ['d1'],
      });
      await page!.goto(`${platform.base}/course?mode=hostile`);
      const hostile = page!.frameLocator('iframe[name="tool"]');
      await hostile.getByText(/did not answer in time/).waitFor({ state: 'attached' });
      await hostile.getByText('gradebridge cannot open inside this page').waitFor();

      await page!.goto(`${platform.base}/course?mode=honest`);
      await page!
        .frameLocator('iframe[name="tool"]')
        .getByRole('heading', { name: 'Storage Course' })
        .waitFor();
    } finally {
      await stop(platform.server);
    }
  });

  it('has no accessibility violations on the login, launch and refusal pages', async () => {
    let p = page!;
    // The pages stay where they are: the LMS's auth endpoint and the confirmation answer "204 No Content".
    await p.route(`${lms.url}/auth**`, (route) => route.fulfill({ status: 204 }));
    await p.goto(
      lms.loginInitiationUrl({
        toolClientId: clientId,
        userId: 'instructor-1',
        resourceLinkId: 'demo-link-week-1',
        storageTarget: 'post_message_forwarding',
      }),
      { waitUntil: 'commit' },
    );
    await p.waitForRequest(`${lms.url}/auth**`);
    await p.locator('#lti-storage-status').waitFor();
    expect(await p.title()).to.include('gradebridge');
    expect(await accessibilityViolations(p)).to.deep.equal([]);
    const config = JSON.parse((await p.locator('#lti-storage-config').textContent())!) as {
      next: string;
    };
    const state = new URL(config.next).searchParams.get('state')!;

    await browser!.context.clearCookies();
    page = p = await browser!.context.newPage();
    await p.route(`${base}/lti/launch`, (route) =>
      route.request().postData()?.includes('storage_confirmation')
        ? route.fulfill({ status: 204 })
        : route.continue(),
    );
    await p.setContent(
      `<form method="post" action="${base}/lti/launch"><input name="id_token" value="a.b.c"><input name="state" value="${state}"></form>`,
    );
    const confirmation = p.waitForRequest(
      (r) => r.url() === `${base}/lti/launch` && !!r.postData()?.includes('storage_confirmation'),
    );
    await Promise.all([
      p.waitForURL(`${base}/lti/launch`, { waitUntil: 'commit' }),
      p.evaluate('document.forms[0].submit()'),
    ]);
    // Opened on its own (no LMS page around it), it finds no storage frame and says so.
    expect((await confirmation).postData()).to.include('storage_error=no_frame');
    await p.locator('#lti-storage-status').waitFor();
    expect(await p.locator('#lti-storage-form').count()).to.equal(1);
    expect(await accessibilityViolations(p)).to.deep.equal([]);

    await p.unroute(`${base}/lti/launch`);
    await Promise.all([
      p.waitForResponse(`${base}/lti/launch`),
      p.evaluate("document.getElementById('lti-storage-form').submit()"),
    ]);
    await p.getByText('gradebridge cannot open inside this page').waitFor();
    await p.getByRole('link', { name: 'Open in a new window' }).waitFor();
    expect(await accessibilityViolations(p)).to.deep.equal([]);
  });
});

/** Waits until `check` holds (polling what the test cannot await as an event), for at most 10 s. */
async function waitFor(check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('The demo, in Chromium with third-party cookies blocked', function () {
  this.timeout(180000);
  let database: TestDatabase | undefined;
  let server: ServerProcess | undefined;
  let browser: BrowserSession | undefined;
  let page: Page | undefined;

  before(async function () {
    skipWithoutChromium(this, "the demo LMS's iframe launch");
    database = await createTestDatabase();
    server = await startServer(database, { from: 'source', env: { DEMO_DATASYNC: 'false' } });
    browser = await openBrowser();
    page = await browser.context.newPage();
  });

  afterEach(async function () {
    await screenshotIfFailed(this, page);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await database?.drop();
  });

  it("shows gradebridge in the demo LMS's course page, from another site, launched as the teacher", async () => {
    const lmsUrl = /LMS emulator: (http:\/\/\S+?)\/? /.exec(server!.output())![1]!;
    const tool = /gradebridge is running at (http:\/\/\S+)/.exec(server!.output())![1]!;
    // Two sites: the tool on localhost, the LMS on 127.0.0.1.
    expect(new URL(tool).hostname).to.equal('localhost');
    expect(new URL(lmsUrl).hostname).to.equal('127.0.0.1');
    await page!.goto(`${lmsUrl}/`);
    await page!.getByRole('link', { name: `Launch as ${TEACHER}`, exact: true }).click();
    const frame = page!.frameLocator(TOOL_FRAME);
    await frame.getByRole('heading', { name: COURSE }).waitFor();
    expect(page!.frame({ name: 'tool_content' })!.url().startsWith(`${tool}/lti/`)).to.equal(true);
    expect(await browser!.context.cookies(tool)).to.deep.equal([]);
  });

  it('pulls, chooses the final column and submits for approval there, each outcome in place', async () => {
    // Continues in the frame the previous test opened, as a newcomer would.
    const tool = /gradebridge is running at (http:\/\/\S+)/.exec(server!.output())![1]!;
    const frame = page!.frameLocator(TOOL_FRAME);
    const inner = page!.frame({ name: 'tool_content' })!;
    await inner.evaluate('window.stillHere = true');
    const outcome = frame.locator('#outcome');
    await frame.getByRole('button', { name: 'Pull grades and roster now' }).click();
    // The demo's worker runs in the server: the outcome follows the job to its end.
    await outcome.getByText('Pulled from the LMS.').waitFor({ timeout: 60000 });
    await frame.locator('.grid thead').getByText('Week 1 quiz').waitFor();
    // No final grade column yet: the page offers the course's columns.
    const choose = frame.getByLabel('Final grade column');
    const quiz = await choose
      .locator('option', { hasText: 'Week 1 quiz' })
      .first()
      .getAttribute('value');
    await choose.selectOption(quiz!);
    await frame.getByRole('button', { name: 'Use as the final grade' }).click();
    await outcome
      .getByText(/final grade/i)
      .first()
      .waitFor();
    await frame.getByRole('link', { name: 'Submit final grades for approval' }).click();
    await frame.getByRole('heading', { name: /Review final grades before you submit/ }).waitFor();
    const review = page!.frame({ name: 'tool_content' })!;
    await review.evaluate('window.stillHere = true');
    await frame.getByRole('button', { name: 'Submit final grades for approval' }).click();
    await outcome.getByText(/final grades? (is|are) submitted for approval\./).waitFor();
    expect(await review.evaluate<boolean>('window.stillHere === true')).to.equal(true);
    expect(await browser!.context.cookies(tool)).to.deep.equal([]);
  });
});
