import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import jwt from 'jsonwebtoken';
import { registerPlatform } from '../../src/lti/registration.js';
import type { TestContext } from './context.js';

/**
 * A bare-bones platform for launch tests: a signing key served as a JWKS on
 * loopback, registered with the tool for a tenant. Tests craft id_tokens with
 * it (valid ones and deliberately broken ones); no AGS or NRPS here (the LMS
 * emulator covers those).
 */
export interface TestPlatform {
  issuer: string;
  clientId: string;
  deploymentId: string;
  kid: string;
  privateKey: KeyObject;
  publicPem: string;
  jwksRequests: () => number;
  /** Rotates to a new key served under a new kid. */
  rotate(): void;
  close(): Promise<void>;
}

export async function startTestPlatform(ctx: TestContext, tenantId: number): Promise<TestPlatform> {
  let keys = [newKey()];
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    res.setHeader('Content-Type', 'application/json');
    res.end(
      JSON.stringify({
        keys: keys.map((k) => ({
          ...k.publicKey.export({ format: 'jwk' }),
          kid: k.kid,
          alg: 'RS256',
          use: 'sig',
        })),
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const platform: TestPlatform = {
    issuer: base,
    clientId: `client-${randomUUID().slice(0, 8)}`,
    deploymentId: 'deployment-1',
    get kid() {
      return keys[keys.length - 1]!.kid;
    },
    get privateKey() {
      return keys[keys.length - 1]!.privateKey;
    },
    get publicPem() {
      return keys[keys.length - 1]!.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    },
    jwksRequests: () => requests,
    rotate() {
      keys = [...keys, newKey()];
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
  await registerPlatform(ctx.deps, {
    tenantId,
    issuer: platform.issuer,
    clientId: platform.clientId,
    authenticationEndpoint: `${base}/auth`,
    accessTokenEndpoint: `${base}/token`,
    keysetUrl: `${base}/jwks`,
    deploymentIds: [platform.deploymentId],
  });
  return platform;
}

function newKey() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { privateKey, publicKey, kid: randomUUID() };
}

export interface LoginResult {
  state: string;
  nonce: string;
  cookie: string;
  redirect: URL;
}

/** The OIDC login initiation as a browser does it; returns the state, nonce and cookie the tool issued. */
export async function login(
  ctx: TestContext,
  platform: TestPlatform,
  overrides: Record<string, string> = {},
): Promise<LoginResult> {
  const res = await ctx.http
    .get('/lti/login')
    .query({
      iss: platform.issuer,
      login_hint: 'user-hint',
      target_link_uri: 'http://localhost/lti/launch',
      client_id: platform.clientId,
      lti_deployment_id: platform.deploymentId,
      ...overrides,
    })
    .redirects(0);
  if (res.status !== 302) throw new Error(`login answered ${res.status}: ${res.text}`);
  const redirect = new URL(res.headers.location!);
  const cookie = (res.headers['set-cookie'] as unknown as string[])
    .map((c) => c.split(';')[0])
    .join('; ');
  return {
    state: redirect.searchParams.get('state')!,
    nonce: redirect.searchParams.get('nonce')!,
    cookie,
    redirect,
  };
}

export const LTI = 'https://purl.imsglobal.org/spec/lti/claim/';

/** Claims of a valid instructor resource link launch. */
export function launchClaims(
  platform: TestPlatform,
  nonce: string,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: platform.issuer,
    aud: platform.clientId,
    sub: 'user-42',
    iat: now,
    exp: now + 300,
    nonce,
    name: 'Ada Lovelace',
    email: 'ada@example.edu',
    [`${LTI}message_type`]: 'LtiResourceLinkRequest',
    [`${LTI}version`]: '1.3.0',
    [`${LTI}deployment_id`]: platform.deploymentId,
    [`${LTI}target_link_uri`]: 'http://localhost/lti/launch',
    [`${LTI}resource_link`]: { id: 'rl-1', title: 'Gradebook' },
    [`${LTI}roles`]: ['http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor'],
    [`${LTI}context`]: { id: 'ctx-1', label: 'BIO101', title: 'Biology 101' },
    ...overrides,
  };
}

export function sign(
  platform: TestPlatform,
  claims: Record<string, unknown>,
  options: { kid?: string | null; key?: KeyObject | string; algorithm?: jwt.Algorithm } = {},
): string {
  const kid = options.kid === undefined ? platform.kid : options.kid;
  return jwt.sign(claims, (options.key ?? platform.privateKey) as jwt.Secret, {
    algorithm: options.algorithm ?? 'RS256',
    ...(kid ? { keyid: kid } : {}),
  });
}

/** POSTs the id_token and state to /lti/launch with the login's cookie. */
export function launch(ctx: TestContext, body: Record<string, string>, cookie: string) {
  return ctx.http.post('/lti/launch').set('Cookie', cookie).type('form').send(body).redirects(0);
}
