import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  dynamicRegistration,
  RegistrationError,
  registrationUrl,
} from '../../src/lti/registration.js';
import { tenantWithClient } from '../factories/index.js';
import { sharedContext, type TestContext } from '../helpers/context.js';

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
      case '/register-html':
        res.writeHead(200, { 'Content-Type': 'text/html' });
        return res.end('<html>Please log in</html>');
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
    ctx = await sharedContext();
    lms = await brokenLms();
    tenantId = (await tenantWithClient(ctx)).tenantId;
  });
  after(() => lms.close());

  const register = (openidConfiguration: string) => {
    const link = new URL(registrationUrl(ctx.deps, 'http://localhost', tenantId));
    return ctx.http.get('/lti/register').query({
      tenant: link.searchParams.get('tenant')!,
      openid_configuration: openidConfiguration,
      registration_token: 'reg-token',
    });
  };

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
    ['an openid_configuration that is not a URL', 'not a url', 400, /is not a URL/],
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

  it('gives up on a configuration that does not answer in time, with a 502', async () => {
    const link = new URL(registrationUrl(ctx.deps, 'http://localhost', tenantId));
    const started = Date.now();
    let error: unknown;
    try {
      await dynamicRegistration(
        ctx.deps,
        'http://localhost',
        {
          tenant: link.searchParams.get('tenant')!,
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
