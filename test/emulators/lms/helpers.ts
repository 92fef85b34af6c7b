import crypto from 'node:crypto';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import {
  LmsEmulator,
  parseAutoPostForm,
  type LmsEmulatorOptions,
} from '../../../src/emulators/lms/index.js';
import { FakeTool } from './fake-tool.js';

/** An LMS emulator and a fake tool registered with it (`registration` as FakeTool.register takes it). */
export async function startWithTool(
  options: LmsEmulatorOptions = {},
  registration: Parameters<FakeTool['register']>[1] = {},
) {
  const lms = await LmsEmulator.start(options);
  const tool = await FakeTool.start();
  return { lms, tool, ...tool.register(lms, registration) };
}

/** Closes each in turn (emulators, fake tools). */
export async function closeAll(...servers: Array<{ close(): Promise<void> }>): Promise<void> {
  for (const server of servers) await server.close();
}

/** The parameters of a login initiation URL. */
export function loginParams(loginUrl: string): Record<string, string> {
  return Object.fromEntries(new URL(loginUrl).searchParams);
}

/** The authentication request a tool sends back after a login initiation (Security Framework 5.1.1.2). */
export function authRequest(
  loginUrl: string,
  overrides: Record<string, string | undefined> = {},
): Record<string, string> {
  const p = loginParams(loginUrl);
  const params: Record<string, string | undefined> = {
    scope: 'openid',
    response_type: 'id_token',
    response_mode: 'form_post',
    prompt: 'none',
    client_id: p.client_id,
    redirect_uri: p.target_link_uri,
    login_hint: p.login_hint,
    lti_message_hint: p.lti_message_hint,
    lti_deployment_id: p.lti_deployment_id,
    state: crypto.randomUUID(),
    nonce: crypto.randomUUID(),
    ...overrides,
  };
  return Object.fromEntries(
    Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined),
  );
}

/** Runs the auth request and returns the posted form. */
export async function launch(lms: LmsEmulator, loginUrl: string) {
  const params = authRequest(loginUrl);
  const res = await request(lms.url).get('/auth').query(params).expect(200);
  const form = parseAutoPostForm(res.text);
  return { params, form, idToken: form.fields.id_token! };
}

/** Verifies an id_token with the platform's published JWKS. */
export async function verifyWithJwks(lms: LmsEmulator, token: string) {
  const res = await request(lms.url).get('/jwks').expect(200);
  const header = jwt.decode(token, { complete: true })!.header;
  const jwk = (res.body.keys as Array<Record<string, string>>).find((k) => k.kid === header.kid);
  if (!jwk) throw new Error('kid not in the JWKS');
  const key = crypto.createPublicKey({ key: jwk as crypto.JsonWebKey, format: 'jwk' });
  return jwt.verify(token, key, { algorithms: ['RS256'] }) as Record<string, unknown>;
}

export async function accessToken(
  lms: LmsEmulator,
  tool: FakeTool,
  clientId: string,
  scopes: string[],
): Promise<string> {
  const res = await request(lms.url)
    .post('/token')
    .type('form')
    .send({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: tool.clientAssertion(clientId, lms.endpoints.token),
      scope: scopes.join(' '),
    })
    .expect(200);
  return res.body.access_token as string;
}

/** Every rel of a Link header, by name. */
export function links(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(',')) {
    const m = /<([^>]+)>;\s*rel="([^"]+)"/.exec(part);
    if (m) out[m[2]!] = m[1]!;
  }
  return out;
}

/** A path-and-query for supertest from an absolute emulator URL. */
export function pathOf(url: string): string {
  const u = new URL(url);
  return `${u.pathname}${u.search}`;
}

/** GETs `start` and each page its Link header's rel="next" leads to; the responses in order. */
export async function followPages(
  get: (path: string) => Promise<request.Response>,
  start: string,
): Promise<request.Response[]> {
  const pages: request.Response[] = [];
  let next: string | undefined = start;
  while (next) {
    const res = await get(next);
    pages.push(res);
    const rel = links(res.headers.link).next;
    next = rel ? pathOf(rel) : undefined;
  }
  return pages;
}
