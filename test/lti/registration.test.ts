import { expect } from 'chai';
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { LmsEmulator, ROLE } from '../../src/emulators/lms/index.js';
import {
  configurationOriginProblem,
  DEEP_LINKING_PLACEMENTS,
  dynamicRegistration,
  registrationLink,
  registrationRequest,
} from '../../src/lti/dynamic-registration.js';
import {
  listPlatforms,
  platformEvents,
  registerPlatform,
  RegistrationError,
  replacePlatformEndpoints,
} from '../../src/lti/registration.js';
import { tenantWithClient } from '../factories/index.js';
import { Browser } from '../helpers/browser.js';
import { buildContext, type TestContext } from '../helpers/context.js';

const TOOL_CONFIG = 'https://purl.imsglobal.org/spec/lti-tool-configuration';

/** The app on a loopback port, as an LMS reaches it. */
async function serve(ctx: TestContext) {
  const server = http.createServer(ctx.app.koa.callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

async function closeContext(ctx: TestContext | undefined) {
  if (!ctx) return;
  await ctx.deps.exchange.close();
  await ctx.db.destroy();
  await ctx.database.drop();
}

/** Opens a registration link as the LMS does, with its configuration URL and token. */
function openLink(
  ctx: TestContext,
  url: string,
  openidConfiguration: string,
  registrationToken = 'reg-token',
) {
  const link = new URL(url).searchParams.get('link')!;
  return ctx.http.get('/lti/register').query({
    link,
    openid_configuration: openidConfiguration,
    registration_token: registrationToken,
  });
}

/** What the tool trusts of a platform: its endpoints and the keyset that signs its launches. */
async function trusted(ctx: TestContext, issuer: string, clientId: string) {
  const p = (await ctx.deps.lti.engine.platform(issuer, clientId))!;
  return {
    auth: p.authenticationEndpoint,
    token: p.accessTokenEndpoint,
    keyset: p.authConfig.key,
  };
}

/**
 * An LMS whose openid_configuration and registration endpoint answer as
 * each path says: good, broken, slow or not at all.
 */
async function brokenLms() {
  const held: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const path = (req.url ?? '').split('?')[0]!;
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const config = (registrationEndpoint: string) => ({
      issuer: base,
      authorization_endpoint: `${base}/auth`,
      token_endpoint: `${base}/token`,
      jwks_uri: `${base}/jwks`,
      registration_endpoint: registrationEndpoint,
    });
    switch (path) {
      case '/html/.well-known/openid-configuration':
        res.writeHead(200, { 'Content-Type': 'text/html' });
        return res.end('<html><body>Maintenance</body></html>');
      case '/array/.well-known/openid-configuration':
        return json(200, ['not', 'an', 'object']);
      case '/no-endpoints/.well-known/openid-configuration':
        return json(200, { issuer: base });
      case '/issuer-number/.well-known/openid-configuration':
        return json(200, { ...config(`${base}/register`), issuer: 42 });
      case '/error/.well-known/openid-configuration':
        return json(500, { error: 'boom' });
      case '/slow/.well-known/openid-configuration':
        held.push(res);
        return; // never answers
      case '/reg-html/.well-known/openid-configuration':
        return json(200, config(`${base}/register-html`));
      case '/reg-down/.well-known/openid-configuration':
        return json(200, config('http://127.0.0.1:9/register'));
      case '/reg-bad-url/.well-known/openid-configuration':
        return json(200, config('not a url'));
      case '/two-deployments/.well-known/openid-configuration':
        return json(200, config(`${base}/register-two`));
      case '/register-html':
        res.writeHead(200, { 'Content-Type': 'text/html' });
        return res.end('<html>Please log in</html>');
      case '/huge/.well-known/openid-configuration':
        res.writeHead(200, { 'Content-Type': 'application/json' });
        // A configuration that never ends: gradebridge stops reading it.
        res.write('{"issuer":"' + 'x'.repeat(64 * 1024));
        for (let i = 0; i < 8; i++) res.write('x'.repeat(64 * 1024));
        return res.end('"}');
      case '/reg-no-client/.well-known/openid-configuration':
        return json(200, config(`${base}/register-no-client`));
      case '/register-no-client':
        return json(201, { client_name: 'gradebridge' });
      case '/register-two':
        return json(200, {
          client_id: 'two-deployments',
          deployment_id: 'one',
          [TOOL_CONFIG]: { deployment_id: 'other' },
        });
      default:
        return json(404, { error: 'not found' });
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    configUrl: (kind: string) => `${base}/${kind}/.well-known/openid-configuration`,
    close: async () => {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

describe('LTI Dynamic Registration when the LMS misbehaves', function () {
  this.timeout(30000);
  let ctx: TestContext;
  let lms: Awaited<ReturnType<typeof brokenLms>>;
  let tenantId: number;

  before(async () => {
    ctx = await buildContext();
    lms = await brokenLms();
    tenantId = (await tenantWithClient(ctx)).tenantId;
  });
  after(async () => {
    await lms?.close();
    await closeContext(ctx);
  });

  const register = async (openidConfiguration: string) =>
    openLink(
      ctx,
      (await registrationLink(ctx.deps, 'http://localhost', tenantId)).url,
      openidConfiguration,
    );

  const cases: Array<[string, string | (() => string), number, RegExp]> = [
    [
      'an unreachable configuration URL',
      'http://127.0.0.1:9/.well-known/openid-configuration',
      502,
      /configuration could not be read: the LMS could not be reached/,
    ],
    ['a configuration that is HTML', () => lms.configUrl('html'), 502, /configuration is not JSON/],
    [
      'a configuration that is a JSON array',
      () => lms.configUrl('array'),
      502,
      /configuration is not a JSON object/,
    ],
    [
      'a configuration without endpoints',
      () => lms.configUrl('no-endpoints'),
      502,
      /configuration has no authorization_endpoint/,
    ],
    [
      'a configuration whose issuer is not text',
      () => lms.configUrl('issuer-number'),
      400,
      /does not come from its issuer/,
    ],
    ['a configuration answered 500', () => lms.configUrl('error'), 502, /answered 500/],
    [
      'a registration endpoint that answers HTML',
      () => lms.configUrl('reg-html'),
      502,
      /registration answer is not JSON/,
    ],
    [
      'an unreachable registration endpoint',
      () => lms.configUrl('reg-down'),
      502,
      /registration could not be sent: the LMS could not be reached/,
    ],
    [
      'a registration endpoint that is not a URL',
      () => lms.configUrl('reg-bad-url'),
      502,
      /registration_endpoint is not a URL/,
    ],
    [
      'a registration answered with two different deployment ids',
      () => lms.configUrl('two-deployments'),
      502,
      /two different deployment ids/,
    ],
    ['an openid_configuration that is not a URL', 'not a url', 400, /is not a URL/],
    [
      'a configuration larger than any configuration is',
      () => lms.configUrl('huge'),
      502,
      /larger than 256 KB/,
    ],
  ];
  for (const [label, url, status, message] of cases) {
    it(`answers ${label} with the LTI error page and ${status}`, async () => {
      const res = await register(typeof url === 'string' ? url : url());
      expect(res.status, res.text).to.equal(status);
      expect(res.headers['content-type']).to.match(/^text\/html/);
      expect(res.text).to.match(message);
      expect(res.text).to.include(res.headers['x-request-id']!);
    });
  }

  it('spends the link when the LMS took the registration but answered without a client_id', async () => {
    const link = await registrationLink(ctx.deps, 'http://localhost', tenantId);
    const first = await ctx.http.get(new URL(link.url).pathname + new URL(link.url).search).query({
      openid_configuration: lms.configUrl('reg-no-client'),
    });
    expect(first.status, first.text).to.equal(502);
    expect(first.text)
      .to.match(/without a client_id/)
      .and.match(/remove it there/);
    // The LMS may hold a registration now: the link does not register another.
    const again = await ctx.http.get(new URL(link.url).pathname + new URL(link.url).search).query({
      openid_configuration: lms.configUrl('reg-no-client'),
    });
    expect(again.status).to.equal(400);
    expect(again.text).to.match(/already been used/);
  });

  it('shows the status of an LMS refusal, never what the address answered', async () => {
    const res = await register(lms.configUrl('error'));
    expect(res.status).to.equal(502);
    expect(res.text).not.to.include('boom');
  });

  it('gives up on a configuration that does not answer in time, with a 502', async () => {
    const link = new URL((await registrationLink(ctx.deps, 'http://localhost', tenantId)).url);
    const started = Date.now();
    let error: unknown;
    try {
      await dynamicRegistration(
        ctx.deps,
        'http://localhost',
        {
          link: link.searchParams.get('link')!,
          openidConfiguration: lms.configUrl('slow'),
          registrationToken: 'reg-token',
        },
        { timeoutMs: 300 },
      );
    } catch (err) {
      error = err;
    }
    expect(Date.now() - started).to.be.below(5000);
    expect(error).to.be.instanceOf(RegistrationError);
    expect((error as RegistrationError).status).to.equal(502);
    expect((error as Error).message).to.match(/did not answer within/);
  });
});

/**
 * A hostile LMS: its configuration claims another platform's issuer and its
 * registration answers with that platform's client id and a keyset of its
 * own. `/hop/...` redirects the configuration to `redirectTo`.
 */
async function hostileLms(o: {
  issuer: (base: string) => string;
  clientId: string;
  redirectTo?: string;
}) {
  const seen = { configuration: 0, registration: 0 };
  const server = http.createServer((req, res) => {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const path = (req.url ?? '').split('?')[0]!;
    const json = (body: unknown) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (path === '/hop/.well-known/openid-configuration' && o.redirectTo) {
      seen.configuration++;
      res.writeHead(302, { Location: o.redirectTo });
      return res.end();
    }
    if (path === '/.well-known/openid-configuration') {
      seen.configuration++;
      return json({
        issuer: o.issuer(base),
        authorization_endpoint: `${base}/auth`,
        token_endpoint: `${base}/token`,
        jwks_uri: `${base}/attacker-jwks`,
        registration_endpoint: `${base}/register`,
      });
    }
    if (path === '/register') {
      seen.registration++;
      return json({ client_id: o.clientId, [TOOL_CONFIG]: { deployment_id: 'attacker' } });
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;
  return {
    base,
    port,
    seen,
    configUrl: `${base}/.well-known/openid-configuration`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

describe('LTI Dynamic Registration: the configuration must come from its issuer', function () {
  this.timeout(60000);
  let ctx: TestContext;
  let tenantId: number;

  before(async () => {
    ctx = await buildContext();
    tenantId = (await tenantWithClient(ctx)).tenantId;
  });
  after(() => closeContext(ctx));

  it('compares origins exactly: scheme, host and port, not a string prefix', () => {
    const config = '/.well-known/openid-configuration';
    const iss = 'https://lms.example.edu';
    for (const url of [
      `https://lms.example.edu.evil.test${config}`,
      `https://lms.example.edu-evil.test${config}`,
      `http://lms.example.edu${config}`,
      `https://lms.example.edu:8443${config}`,
      `https://lms.example.edu@evil.test${config}`,
      `https://evil.test/lms.example.edu${config}`,
    ]) {
      expect(configurationOriginProblem(iss, url), url).to.be.a('string');
    }
    expect(configurationOriginProblem(iss, `https://lms.example.edu${config}`)).to.equal(null);
    expect(
      configurationOriginProblem(
        'https://lms.example.edu/',
        'https://LMS.example.edu:443/api/lti/security/openid-configuration?registration_token=x',
      ),
    ).to.equal(null);
    expect(
      configurationOriginProblem(
        'https://lms.example.edu/tenant-a',
        `https://lms.example.edu${config}`,
      ),
    ).to.equal(null);
    // The issuer itself: https (http only on this machine), no query or fragment.
    expect(
      configurationOriginProblem('http://lms.example.edu', `http://lms.example.edu${config}`),
    ).to.be.a('string');
    expect(
      configurationOriginProblem('http://127.0.0.1:4100', `http://127.0.0.1:4100${config}`),
    ).to.equal(null);
    expect(configurationOriginProblem(`${iss}?x=1`, `${iss}${config}`)).to.be.a('string');
    expect(configurationOriginProblem(42, `${iss}${config}`)).to.be.a('string');
  });

  const hostile: Array<[string, (port: number) => string]> = [
    ['the same host without its port (a prefix of the URL)', () => 'http://127.0.0.1'],
    [
      'the same host on a port that is a prefix of the real one',
      (port) => `http://127.0.0.1:${String(port).slice(0, -1)}`,
    ],
    ['https where the configuration was read over http', (port) => `https://127.0.0.1:${port}`],
    ['another host name for the same machine', (port) => `http://localhost:${port}`],
  ];
  for (const [label, claimed] of hostile) {
    it(`refuses a configuration claiming ${label}, and the platform of that issuer keeps its keyset`, async () => {
      let port = 0;
      const lms = await hostileLms({ issuer: () => claimed(port), clientId: 'victim' });
      port = lms.port;
      try {
        const issuer = claimed(port);
        await registerPlatform(ctx.deps, {
          tenantId,
          issuer,
          clientId: 'victim',
          authenticationEndpoint: 'https://victim.example/auth',
          accessTokenEndpoint: 'https://victim.example/token',
          keysetUrl: 'https://victim.example/jwks',
          deploymentIds: ['victim-deployment'],
        });
        const before = await trusted(ctx, issuer, 'victim');
        const link = await registrationLink(ctx.deps, 'http://localhost', tenantId);
        const res = await openLink(ctx, link.url, lms.configUrl);
        expect(res.status, res.text).to.equal(400);
        expect(res.headers['content-type']).to.match(/^text\/html/);
        expect(res.text).to.match(/does not come from its issuer/);
        expect(res.text).to.include('<details>').and.include('Technical detail');
        expect(lms.seen.registration, 'nothing was registered in the hostile LMS').to.equal(0);
        expect(await trusted(ctx, issuer, 'victim')).to.deep.equal(before);
        expect(before.keyset).to.equal('https://victim.example/jwks');
        const deployments = await ctx
          .db('lti_deployments')
          .where({ issuer, client_id: 'victim' })
          .pluck('deployment_id');
        expect(deployments).to.deep.equal(['victim-deployment']);
      } finally {
        await lms.close();
      }
    });
  }

  it('refuses a configuration that redirects to another origin than its issuer', async () => {
    // The link's configuration URL is on the issuer's origin, but redirects to
    // another server, which answers claiming to be that issuer.
    let issuer = '';
    const claiming = await hostileLms({ issuer: () => issuer, clientId: 'victim-hop' });
    const redirecting = await hostileLms({
      issuer: () => issuer,
      clientId: 'victim-hop',
      redirectTo: claiming.configUrl,
    });
    issuer = redirecting.base;
    try {
      await registerPlatform(ctx.deps, {
        tenantId,
        issuer,
        clientId: 'victim-hop',
        authenticationEndpoint: 'https://victim.example/auth',
        accessTokenEndpoint: 'https://victim.example/token',
        keysetUrl: 'https://victim.example/jwks',
        deploymentIds: ['d'],
      });
      const before = await trusted(ctx, issuer, 'victim-hop');
      const link = await registrationLink(ctx.deps, 'http://localhost', tenantId);
      const res = await openLink(
        ctx,
        link.url,
        `${redirecting.base}/hop/.well-known/openid-configuration`,
      );
      expect(res.status, res.text).to.equal(400);
      expect(res.text).to.match(/does not come from its issuer/);
      expect(claiming.seen.configuration).to.equal(1);
      expect(claiming.seen.registration + redirecting.seen.registration).to.equal(0);
      expect(await trusted(ctx, issuer, 'victim-hop')).to.deep.equal(before);
    } finally {
      await Promise.all([claiming.close(), redirecting.close()]);
    }
  });
});

describe('LTI Dynamic Registration: a link registers one platform, once', function () {
  this.timeout(60000);
  let ctx: TestContext;
  let app: Awaited<ReturnType<typeof serve>>;
  let lms: LmsEmulator;
  let tenantId: number;

  before(async () => {
    ctx = await buildContext();
    app = await serve(ctx);
    lms = await LmsEmulator.start();
    tenantId = (await tenantWithClient(ctx)).tenantId;
  });
  after(async () => {
    await lms?.close();
    await app?.close();
    await closeContext(ctx);
  });

  it("registers with the specification's answer (deployment in the tool configuration), then refuses the used link", async () => {
    const link = await registrationLink(ctx.deps, app.base, tenantId);
    const registered = await lms.startDynamicRegistration(link.url);
    const [platform] = (await listPlatforms(ctx.deps, tenantId)).filter(
      (p) => p.clientId === registered.clientId,
    );
    expect(platform).to.deep.include({
      issuer: lms.issuer,
      registeredVia: 'dynamic_registration',
      awaitingDeployment: false,
      keysetUrl: lms.endpoints.keyset,
    });
    expect(platform!.deployments.map((d) => [d.deploymentId, d.source])).to.deep.equal([
      [registered.deploymentId, 'registered'],
    ]);

    const tools = lms.tools().length;
    const again = await fetch(
      `${link.url}&openid_configuration=${encodeURIComponent(lms.endpoints.openidConfiguration)}&registration_token=x`,
    );
    expect(again.status).to.equal(400);
    expect(await again.text()).to.match(/already been used: each link registers one platform/);
    expect(lms.tools().length, 'the LMS was not asked to register anything').to.equal(tools);
  });

  it('refuses a used link before reading any configuration (a hostile LMS sees nothing)', async () => {
    const victim = await lms.startDynamicRegistration(
      (await registrationLink(ctx.deps, app.base, tenantId)).url,
    );
    const used = await registrationLink(ctx.deps, app.base, tenantId);
    await lms.startDynamicRegistration(used.url);
    const hostile = await hostileLms({ issuer: () => lms.issuer, clientId: victim.clientId });
    try {
      const before = await trusted(ctx, lms.issuer, victim.clientId);
      const res = await openLink(ctx, used.url, hostile.configUrl);
      expect(res.status).to.equal(400);
      expect(res.text).to.match(/already been used/);
      expect(hostile.seen).to.deep.equal({ configuration: 0, registration: 0 });
      expect(await trusted(ctx, lms.issuer, victim.clientId)).to.deep.equal(before);
    } finally {
      await hostile.close();
    }
  });

  it('refuses an expired link and an unknown one', async () => {
    const link = await registrationLink(ctx.deps, app.base, tenantId, 3600);
    ctx.clock.advance(3601 * 1000);
    try {
      const res = await openLink(ctx, link.url, lms.endpoints.openidConfiguration);
      expect(res.status).to.equal(400);
      expect(res.text).to.match(/registration link has expired/);
    } finally {
      ctx.clock.release();
    }
    const unknown = await ctx.http
      .get('/lti/register')
      .query({ link: 'x'.repeat(43), openid_configuration: lms.endpoints.openidConfiguration });
    expect(unknown.status).to.equal(400);
    expect(unknown.text).to.match(/registration link is not valid/);
  });

  it('gives the link back when the LMS never took the registration, so it can be tried again', async () => {
    const link = await registrationLink(ctx.deps, app.base, tenantId);
    const down = await openLink(
      ctx,
      link.url,
      'http://127.0.0.1:9/.well-known/openid-configuration',
    );
    expect(down.status).to.equal(502);
    const registered = await lms.startDynamicRegistration(link.url);
    expect(registered.clientId).to.be.a('string');
  });

  it('lets one registration at a time run with a link', async () => {
    let release!: () => void;
    let arrived!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const reached = new Promise<void>((r) => (arrived = r));
    const slow = http.createServer((req, res) => {
      arrived();
      void released.then(() => {
        res.writeHead(500);
        res.end();
      });
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    const slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/.well-known/openid-configuration`;
    try {
      const link = await registrationLink(ctx.deps, app.base, tenantId);
      const first = openLink(ctx, link.url, slowUrl).then((r) => r);
      await reached;
      const second = await openLink(ctx, link.url, lms.endpoints.openidConfiguration);
      expect(second.status).to.equal(409);
      expect(second.text).to.match(/already under way/);
      release();
      expect((await first).status).to.equal(502);
    } finally {
      release();
      slow.closeAllConnections();
      await new Promise((r) => slow.close(r));
    }
  });
});

/**
 * An LMS at its own issuer's origin whose registration answers with the
 * client id of a platform gradebridge already knows.
 */
async function replayingLms(clientId: string) {
  return hostileLms({ issuer: (base) => base, clientId });
}

describe('LTI Dynamic Registration never changes a registered platform', function () {
  this.timeout(60000);
  let ctx: TestContext;
  let tenantId: number;

  before(async () => {
    ctx = await buildContext();
    tenantId = (await tenantWithClient(ctx)).tenantId;
  });
  after(() => closeContext(ctx));

  it('refuses the issuer and client id of a registered platform: its endpoints, keyset and deployments stay', async () => {
    const lms = await replayingLms('existing-client');
    try {
      await registerPlatform(ctx.deps, {
        tenantId,
        issuer: lms.base,
        clientId: 'existing-client',
        authenticationEndpoint: `${lms.base}/real-auth`,
        accessTokenEndpoint: `${lms.base}/real-token`,
        keysetUrl: `${lms.base}/real-jwks`,
        deploymentIds: ['real-deployment'],
      });
      const before = await trusted(ctx, lms.base, 'existing-client');
      const link = await registrationLink(ctx.deps, 'http://localhost', tenantId);
      const res = await openLink(ctx, link.url, lms.configUrl);
      expect(res.status, res.text).to.equal(409);
      expect(res.text).to.match(/already registered/);
      expect(res.text).to.match(/platform replace-endpoints/);
      expect(lms.seen.registration).to.equal(1);
      expect(await trusted(ctx, lms.base, 'existing-client')).to.deep.equal(before);
      expect(before.keyset).to.equal(`${lms.base}/real-jwks`);
      expect(
        await ctx
          .db('lti_deployments')
          .where({ issuer: lms.base, client_id: 'existing-client' })
          .pluck('deployment_id'),
      ).to.deep.equal(['real-deployment']);
      // The LMS took a registration with the link: it is spent.
      const again = await openLink(ctx, link.url, lms.configUrl);
      expect(again.status).to.equal(400);
      expect(again.text).to.match(/already been used/);
      expect(lms.seen.registration).to.equal(1);
    } finally {
      await lms.close();
    }
  });

  it('refuses a platform of another tenant', async () => {
    const other = (await tenantWithClient(ctx)).tenantId;
    const lms = await replayingLms('other-tenant-client');
    try {
      await registerPlatform(ctx.deps, {
        tenantId: other,
        issuer: lms.base,
        clientId: 'other-tenant-client',
        authenticationEndpoint: `${lms.base}/auth`,
        accessTokenEndpoint: `${lms.base}/token`,
        keysetUrl: `${lms.base}/real-jwks`,
        deploymentIds: ['d1'],
      });
      const link = await registrationLink(ctx.deps, 'http://localhost', tenantId);
      const res = await openLink(ctx, link.url, lms.configUrl);
      expect(res.status).to.equal(409);
      expect(res.text, 'nothing about the other tenant').not.to.match(/belongs to tenant/);
      expect((await trusted(ctx, lms.base, 'other-tenant-client')).keyset).to.equal(
        `${lms.base}/real-jwks`,
      );
    } finally {
      await lms.close();
    }
  });
});

describe('LTI platforms: endpoints are replaced only on purpose, and recorded', function () {
  this.timeout(120000);
  let ctx: TestContext;
  let tenantId: number;
  const issuer = 'https://lms.example.edu';
  const registration = {
    issuer,
    clientId: '10000000000001',
    authenticationEndpoint: `${issuer}/auth`,
    accessTokenEndpoint: `${issuer}/token`,
    keysetUrl: `${issuer}/jwks`,
  };

  before(async () => {
    ctx = await buildContext();
    tenantId = (await tenantWithClient(ctx)).tenantId;
    await registerPlatform(
      ctx.deps,
      { tenantId, ...registration, deploymentIds: ['1:abc'] },
      { actor: 'ops' },
    );
  });
  after(() => closeContext(ctx));

  it('adds deployments when registered again with the same endpoints', async () => {
    const again = await registerPlatform(ctx.deps, {
      tenantId,
      ...registration,
      deploymentIds: ['2:def'],
    });
    expect(again.deployments).to.deep.equal(['1:abc', '2:def']);
  });

  it('refuses to register it again with another keyset or token URL', async () => {
    for (const change of [
      { keysetUrl: 'https://attacker.example/jwks' },
      { accessTokenEndpoint: 'https://attacker.example/token' },
    ]) {
      let error: unknown;
      await registerPlatform(ctx.deps, {
        tenantId,
        ...registration,
        ...change,
        deploymentIds: ['3:ghi'],
      }).catch((err: unknown) => (error = err));
      expect(error).to.be.instanceOf(RegistrationError);
      expect((error as RegistrationError).status).to.equal(409);
      expect((error as Error).message).to.match(/platform replace-endpoints/);
    }
    expect(await trusted(ctx, issuer, registration.clientId)).to.deep.equal({
      auth: registration.authenticationEndpoint,
      token: registration.accessTokenEndpoint,
      keyset: registration.keysetUrl,
    });
    expect(
      await ctx.db('lti_deployments').where({ issuer }).orderBy('id').pluck('deployment_id'),
    ).to.deep.equal(['1:abc', '2:def']);
  });

  it('replaces them with replace-endpoints, recording before, after, who and why', async () => {
    const replaced = await replacePlatformEndpoints(ctx.deps, {
      tenantId,
      issuer,
      clientId: registration.clientId,
      keysetUrl: `${issuer}/jwks-2026`,
      reason: 'the LMS moved its keyset',
      actor: 'Dana (ops)',
    });
    expect(replaced.changed).to.deep.equal({
      'keyset URL': { from: `${issuer}/jwks`, to: `${issuer}/jwks-2026` },
    });
    expect((await trusted(ctx, issuer, registration.clientId)).keyset).to.equal(
      `${issuer}/jwks-2026`,
    );
    const events = await platformEvents(ctx.deps, tenantId, { issuer });
    expect(events.map((e) => e.kind)).to.deep.equal([
      'registered',
      'deployments_added',
      'endpoints_replaced',
    ]);
    expect(events.at(-1)).to.deep.include({
      actor: 'Dana (ops)',
      reason: 'the LMS moved its keyset',
    });
    expect(events.at(-1)!.detail).to.deep.equal({ changed: replaced.changed });
    const logged = ctx.logs.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'LTI platform endpoints replaced by an administrator');
    expect(logged).to.deep.include({ actor: 'Dana (ops)', reason: 'the LMS moved its keyset' });
    const [listed] = await listPlatforms(ctx.deps, tenantId);
    expect(listed!.keysetUrl).to.equal(`${issuer}/jwks-2026`);
    expect(listed!.endpointsReplacedAt).to.be.a('string');
  });

  it('refuses a replacement without a reason, without a change, or for another tenant', async () => {
    const base = { issuer, clientId: registration.clientId, actor: 'x' };
    const refusals = [
      { ...base, tenantId, keysetUrl: `${issuer}/k`, reason: ' ' },
      { ...base, tenantId, keysetUrl: `${issuer}/jwks-2026`, reason: 'same' },
      { ...base, tenantId, reason: 'nothing named' },
      { ...base, tenantId: tenantId + 1000, keysetUrl: `${issuer}/k`, reason: 'other tenant' },
      { ...base, tenantId, keysetUrl: 'not a url', reason: 'bad URL' },
    ];
    for (const r of refusals) {
      let error: unknown;
      await replacePlatformEndpoints(ctx.deps, r).catch((err: unknown) => (error = err));
      expect(error, r.reason).to.be.instanceOf(RegistrationError);
    }
    expect((await trusted(ctx, issuer, registration.clientId)).keyset).to.equal(
      `${issuer}/jwks-2026`,
    );
  });

  it('does it from the command line, and lists and shows it there', async () => {
    const cli = (...args: string[]) =>
      promisify(execFile)('npm', ['run', '--silent', 'cli', '--', ...args, '--json'], {
        env: {
          ...process.env,
          DATA_DIR: ctx.database.dataDir,
          ...(ctx.database.url ? { DATABASE_URL: ctx.database.url } : {}),
        },
      });
    const { stdout } = await cli(
      'platform',
      'replace-endpoints',
      '--tenant',
      String(tenantId),
      '--issuer',
      issuer,
      '--client-id',
      registration.clientId,
      '--token-url',
      `${issuer}/login/oauth2/token`,
      '--reason',
      'token URL moved',
      '--by',
      'Sam',
    );
    expect(JSON.parse(stdout)).to.deep.include({
      tenantId,
      issuer,
      clientId: registration.clientId,
      changed: { 'token URL': { from: `${issuer}/token`, to: `${issuer}/login/oauth2/token` } },
    });
    const list = JSON.parse((await cli('platform', 'list', '--tenant', String(tenantId))).stdout);
    expect(list.platforms[0]).to.deep.include({
      issuer,
      clientId: registration.clientId,
      tokenUrl: `${issuer}/login/oauth2/token`,
      awaitingDeployment: false,
    });
    const history = JSON.parse(
      (await cli('platform', 'history', '--tenant', String(tenantId))).stdout,
    );
    expect(history.events.at(-1)).to.deep.include({
      kind: 'endpoints_replaced',
      actor: 'Sam',
      reason: 'token URL moved',
    });
    let refused: { code?: number; stderr?: string } = {};
    await cli(
      'platform',
      'register',
      '--tenant',
      String(tenantId),
      '--issuer',
      issuer,
      '--client-id',
      registration.clientId,
      '--auth-url',
      `${issuer}/auth`,
      '--token-url',
      `${issuer}/login/oauth2/token`,
      '--keyset-url',
      'https://attacker.example/jwks',
      '--deployment',
      '9:zzz',
    ).catch((err: { code?: number; stderr?: string }) => (refused = err));
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.match(/already registered with another keyset URL/);
  });
});

describe('LTI Dynamic Registration with Canvas (the LMS emulator answering as Canvas)', function () {
  this.timeout(90000);
  let ctx: TestContext;
  let app: Awaited<ReturnType<typeof serve>>;
  let lms: LmsEmulator;
  let tenantId: number;

  before(async () => {
    ctx = await buildContext();
    app = await serve(ctx);
    lms = await LmsEmulator.start({ registrationMode: 'canvas' });
    lms.createContext({ id: 'canvas-course', title: 'Chemistry 200' });
    lms.addMember('canvas-course', {
      userId: 'teacher',
      name: 'Marie Curie',
      roles: [ROLE.instructor],
    });
    lms.addResourceLink('canvas-course', { id: 'canvas-link', title: 'Grades' });
    tenantId = (await tenantWithClient(ctx)).tenantId;
  });
  after(async () => {
    await lms?.close();
    await app?.close();
    await closeContext(ctx);
  });

  const launch = (clientId: string, opts: Record<string, string> = {}) =>
    new Browser().open(
      lms.loginInitiationUrl({
        toolClientId: clientId,
        userId: 'teacher',
        resourceLinkId: 'canvas-link',
        ...opts,
      }),
      { submitForms: true },
    );

  it('asks for deep linking where Canvas offers it, with placements and labels', () => {
    const messages = (
      registrationRequest('https://tool.example')[TOOL_CONFIG] as {
        messages: Array<Record<string, unknown>>;
      }
    ).messages;
    const deepLinking = messages.find((m) => m.type === 'LtiDeepLinkingRequest')!;
    expect(deepLinking).to.deep.include({
      label: 'gradebridge link',
      target_link_uri: 'https://tool.example/lti/launch',
    });
    expect(deepLinking.placements).to.include.members([
      'link_selection',
      'assignment_selection',
      'editor_button',
      'ContentArea',
      'RichTextEditor',
    ]);
    expect([...DEEP_LINKING_PLACEMENTS]).to.deep.equal(deepLinking.placements);
  });

  it('registers when Canvas names no deployment, learns it from the first launch, and shows it', async () => {
    lms.canvasDeploymentId = 'absent';
    const registered = await lms.startDynamicRegistration(
      (await registrationLink(ctx.deps, app.base, tenantId)).url,
    );
    // Canvas kept the placements gradebridge declared, deep linking among them.
    const tool = lms.tools().find((t) => t.clientId === registered.clientId)!;
    expect(tool.placements!.map((p) => p.placement)).to.have.members([
      'course_navigation',
      'link_selection',
      'editor_button',
      'assignment_selection',
    ]);
    expect(tool.placements!.find((p) => p.placement === 'assignment_selection')).to.deep.include({
      messageType: 'LtiDeepLinkingRequest',
      label: 'gradebridge link',
    });

    const waiting = (await listPlatforms(ctx.deps, tenantId)).find(
      (p) => p.clientId === registered.clientId,
    )!;
    expect(waiting).to.deep.include({
      issuer: lms.issuer,
      awaitingDeployment: true,
      registeredVia: 'dynamic_registration',
      name: 'canvas',
    });
    expect(waiting.deployments).to.deep.equal([]);

    const page = await launch(registered.clientId);
    expect(page.status, page.html).to.equal(200);
    expect(page.html).to.include('Chemistry 200');
    const learned = (await listPlatforms(ctx.deps, tenantId)).find(
      (p) => p.clientId === registered.clientId,
    )!;
    expect(learned.awaitingDeployment).to.equal(false);
    expect(learned.deployments.map((d) => [d.deploymentId, d.source])).to.deep.equal([
      [registered.deploymentId, 'first_launch'],
    ]);
    const logged = ctx.logs.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'LTI deployment learned from the first launch');
    expect(logged).to.deep.include({
      issuer: lms.issuer,
      clientId: registered.clientId,
      deploymentId: registered.deploymentId,
      tenantId,
    });
    const events = await platformEvents(ctx.deps, tenantId, { clientId: registered.clientId });
    expect(events.map((e) => e.kind)).to.deep.equal(['registered', 'deployment_learned']);

    // Only the first launch teaches a deployment; another one is refused as unregistered.
    const second = lms.deployTool(registered.clientId);
    const refused = await launch(registered.clientId, { deploymentId: second });
    expect(refused.status).to.equal(401);
    expect(refused.html).to.include(`Deployment &quot;${second}&quot; is not registered`);
  });

  it('registers with the deployment id Canvas puts at the top level of its answer', async () => {
    lms.canvasDeploymentId = 'top-level';
    const registered = await lms.startDynamicRegistration(
      (await registrationLink(ctx.deps, app.base, tenantId)).url,
    );
    const platform = (await listPlatforms(ctx.deps, tenantId)).find(
      (p) => p.clientId === registered.clientId,
    )!;
    expect(platform.awaitingDeployment).to.equal(false);
    expect(platform.deployments.map((d) => [d.deploymentId, d.source])).to.deep.equal([
      [registered.deploymentId, 'registered'],
    ]);
    expect((await launch(registered.clientId)).status).to.equal(200);
  });

  it("is reachable for deep linking from an assignment, with Canvas's settings for it", async () => {
    lms.canvasDeploymentId = 'top-level';
    const { clientId } = await lms.startDynamicRegistration(
      (await registrationLink(ctx.deps, app.base, tenantId)).url,
    );
    const teacher = new Browser();
    const page = await teacher.open(
      lms.loginInitiationUrl({
        toolClientId: clientId,
        userId: 'teacher',
        contextId: 'canvas-course',
        messageType: 'LtiDeepLinkingRequest',
        placement: 'assignment_selection',
      }),
      { submitForms: true },
    );
    expect(page.status, page.html).to.equal(200);
    expect(page.html).to.include('Add a gradebridge link to Chemistry 200');
    // assignment_selection: one item, and Canvas asks before it adds (auto_create false).
    expect(page.html).to.include('<select name="column">');
    expect(page.html).to.include('Your LMS shows you what you chose before it adds it.');
    const back = await teacher.submit(page, '/lti/deep-link', {
      title: 'Titration lab',
      column: 'new',
      label: 'Titration',
      points: '25',
    });
    expect(back.status).to.be.below(400);
    const last = lms.deepLinkReturns().at(-1)!;
    expect(last.accepted, last.error).to.equal(true);
    expect(last.placement).to.equal('assignment_selection');
    expect(last.createdResourceLinks.map((l) => l.title)).to.deep.equal(['Titration lab']);
    expect(last.createdLineItems.map((i) => [i.label, i.scoreMaximum])).to.deep.equal([
      ['Titration', 25],
    ]);
  });
});
