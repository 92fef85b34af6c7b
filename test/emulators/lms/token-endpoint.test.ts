import crypto from 'node:crypto';
import { expect } from 'chai';
import request from 'supertest';
import { LmsEmulator, SCOPE } from '../../../src/emulators/lms/index.js';
import type { FakeTool } from './fake-tool.js';
import { closeAll, startWithTool } from './helpers.js';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

describe('LMS emulator: token endpoint and keyset', () => {
  let lms: LmsEmulator;
  let tool: FakeTool;
  let clientId: string;

  before(async () => {
    ({ lms, tool, clientId } = await startWithTool(
      { accessTokenTtlSeconds: 1200 },
      { scopes: [SCOPE.score, SCOPE.lineItemReadonly] },
    ));
  });

  after(() => closeAll(lms, tool));

  const post = (fields: Record<string, string | undefined>) =>
    request(lms.url)
      .post('/token')
      .type('form')
      .send(Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)));
  const grant = (assertion: string, scope: string = SCOPE.score) =>
    post({
      grant_type: 'client_credentials',
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: assertion,
      scope,
    });

  it('issues a bearer token for a good client assertion', async () => {
    const before = lms.stats.tokenRequests;
    const res = await grant(
      tool.clientAssertion(clientId, lms.endpoints.token),
      `${SCOPE.score} ${SCOPE.lineItemReadonly}`,
    ).expect(200);
    expect(res.body).to.include({
      token_type: 'Bearer',
      expires_in: 1200,
      scope: `${SCOPE.score} ${SCOPE.lineItemReadonly}`,
    });
    expect(res.body.access_token).to.be.a('string').with.length.above(20);
    expect(res.headers['cache-control']).to.equal('no-store');
    expect(lms.stats.tokenRequests).to.equal(before + 1);
  });

  it('accepts the issuer as the audience, alone or in an array', async () => {
    await grant(tool.clientAssertion(clientId, lms.issuer)).expect(200);
    await grant(
      tool.clientAssertion(clientId, [
        'https://elsewhere',
        lms.endpoints.token,
      ] as unknown as string),
    ).expect(200);
  });

  const refusals: Array<[string, () => string, RegExp]> = [
    [
      'a wrong signature',
      () =>
        tool.sign(
          { iss: clientId, sub: clientId, aud: lms.endpoints.token, jti: crypto.randomUUID() },
          { foreignKey: true },
        ),
      /does not verify/,
    ],
    ['a wrong audience', () => tool.clientAssertion(clientId, 'http://127.0.0.1:1/token'), /aud/],
    [
      'an unknown client',
      () => tool.clientAssertion('stranger', lms.endpoints.token),
      /Unknown client/,
    ],
    [
      'sub other than iss',
      () => tool.clientAssertion(clientId, lms.endpoints.token, { sub: 'someone' }),
      /sub/,
    ],
    [
      'an expired assertion',
      () =>
        tool.clientAssertion(clientId, lms.endpoints.token, {
          exp: Math.floor(Date.now() / 1000) - 5,
        }),
      /expired/,
    ],
    [
      'an iat far in the future',
      () =>
        tool.clientAssertion(clientId, lms.endpoints.token, {
          iat: Math.floor(Date.now() / 1000) + 600,
        }),
      /future/,
    ],
    [
      'no jti',
      () => tool.clientAssertion(clientId, lms.endpoints.token, { jti: undefined }),
      /jti/,
    ],
    [
      'a kid the keyset does not have',
      () =>
        tool.sign(
          { iss: clientId, sub: clientId, aud: lms.endpoints.token, jti: 'x' },
          { kid: 'missing' },
        ),
      /No key with kid/,
    ],
    ['not a JWT', () => 'not-a-jwt', /cannot be decoded/],
  ];
  for (const [what, assertion, message] of refusals) {
    it(`answers invalid_client (401) for ${what}`, async () => {
      const res = await grant(assertion()).expect(401);
      expect(res.body.error).to.equal('invalid_client');
      expect(res.body.error_description).to.match(message);
    });
  }

  it('refuses a reused jti', async () => {
    const jti = crypto.randomUUID();
    await grant(tool.clientAssertion(clientId, lms.endpoints.token, { jti })).expect(200);
    const res = await grant(tool.clientAssertion(clientId, lms.endpoints.token, { jti })).expect(
      401,
    );
    expect(res.body).to.deep.equal({
      error: 'invalid_client',
      error_description: 'The assertion jti was already used.',
    });
  });

  it('refuses an assertion signed with HS256 or none', async () => {
    const claims = {
      iss: clientId,
      sub: clientId,
      aud: lms.endpoints.token,
      jti: 'hs',
      exp: 9999999999,
    };
    const hs = `${Buffer.from(JSON.stringify({ alg: 'HS256', kid: tool.kid })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.c2ln`;
    const res = await grant(hs).expect(401);
    expect(res.body.error_description).to.match(/RS256/);
  });

  it('refetches the tool keyset when it meets an unknown kid (key rotation)', async () => {
    await grant(tool.clientAssertion(clientId, lms.endpoints.token)).expect(200);
    const fetched = tool.jwksRequests;
    await grant(tool.clientAssertion(clientId, lms.endpoints.token)).expect(200);
    expect(tool.jwksRequests, 'cached').to.equal(fetched);
    tool.rotateKey();
    await grant(tool.clientAssertion(clientId, lms.endpoints.token)).expect(200);
    expect(tool.jwksRequests).to.equal(fetched + 1);
  });

  it('shares one keyset refetch between concurrent requests', async () => {
    tool.rotateKey();
    const fetched = tool.jwksRequests;
    const results = await Promise.all(
      Array.from({ length: 5 }, () => grant(tool.clientAssertion(clientId, lms.endpoints.token))),
    );
    expect(results.map((r) => r.status)).to.deep.equal([200, 200, 200, 200, 200]);
    expect(tool.jwksRequests).to.equal(fetched + 1);
  });

  it('refuses scopes the tool was not granted, unknown ones, and none', async () => {
    const res = await grant(
      tool.clientAssertion(clientId, lms.endpoints.token),
      `${SCOPE.score} ${SCOPE.lineItem}`,
    ).expect(400);
    expect(res.body.error).to.equal('invalid_scope');
    expect(res.body.error_description).to.include(SCOPE.lineItem);
    await grant(tool.clientAssertion(clientId, lms.endpoints.token), 'made-up').expect(400);
    const none = await grant(tool.clientAssertion(clientId, lms.endpoints.token), '').expect(400);
    expect(none.body.error).to.equal('invalid_scope');
  });

  it('refuses other grant types, missing parameters, another assertion type and JSON bodies', async () => {
    const assertion = () => tool.clientAssertion(clientId, lms.endpoints.token);
    const other = await post({
      grant_type: 'authorization_code',
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: assertion(),
      scope: SCOPE.score,
    }).expect(400);
    expect(other.body.error).to.equal('unsupported_grant_type');
    const missing = await post({ grant_type: 'client_credentials', scope: SCOPE.score }).expect(
      400,
    );
    expect(missing.body.error).to.equal('invalid_request');
    const wrongType = await post({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:other',
      client_assertion: assertion(),
      scope: SCOPE.score,
    }).expect(401);
    expect(wrongType.body.error).to.equal('invalid_client');
    const json = await request(lms.url)
      .post('/token')
      .send({ grant_type: 'client_credentials' })
      .expect(400);
    expect(json.body.error).to.equal('invalid_request');
  });

  it('refuses a client_id field that contradicts the assertion', async () => {
    const res = await post({
      grant_type: 'client_credentials',
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: tool.clientAssertion(clientId, lms.endpoints.token),
      client_id: 'someone-else',
      scope: SCOPE.score,
    }).expect(401);
    expect(res.body.error_description).to.match(/client_id/);
  });

  it('serves its keyset as RS256 signing JWKs, counting requests', async () => {
    const before = lms.stats.keysetRequests;
    const res = await request(lms.url).get('/jwks').expect(200);
    expect(res.body.keys).to.have.length(1);
    const [key] = res.body.keys;
    expect(key).to.have.all.keys('kty', 'n', 'e', 'kid', 'alg', 'use');
    expect(key).to.include({ kty: 'RSA', kid: lms.keyId, alg: 'RS256', use: 'sig' });
    expect(lms.stats.keysetRequests).to.equal(before + 1);
  });

  it('delays the keyset by keysetDelayMs, changeable at runtime', async () => {
    lms.keysetDelayMs = 150;
    try {
      const started = Date.now();
      await request(lms.url).get('/jwks').expect(200);
      expect(Date.now() - started).to.be.at.least(140);
    } finally {
      lms.keysetDelayMs = 0;
    }
    expect(() => (lms.keysetDelayMs = -1)).to.throw(/keysetDelayMs/);
  });
});

describe('LMS emulator: lifecycle', () => {
  it('closes with keep-alive connections open and a keyset answer pending', async () => {
    const lms = await LmsEmulator.start({ keysetDelayMs: 60_000 });
    // fetch keeps its connection alive: close() must not wait for it.
    const first = await fetch(`${lms.url}/.well-known/openid-configuration`);
    expect(first.status).to.equal(200);
    await first.arrayBuffer();
    const pending = fetch(`${lms.url}/jwks`).then(
      () => 'answered',
      () => 'cut',
    );
    // Wait until the server counted the request, so close() meets it in flight.
    while (lms.stats.keysetRequests === 0) await new Promise((r) => setImmediate(r));
    const started = Date.now();
    await lms.close();
    expect(Date.now() - started).to.be.below(2000);
    expect(['answered', 'cut']).to.include(await pending);
    await lms.close();
  });

  it('uses the configured issuer and refuses bad options', async () => {
    const lms = await LmsEmulator.start({ issuer: 'https://lms.example.edu' });
    try {
      expect(lms.issuer).to.equal('https://lms.example.edu');
      expect(lms.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      const config = (await (await fetch(lms.endpoints.openidConfiguration)).json()) as {
        issuer: string;
      };
      expect(config.issuer).to.equal('https://lms.example.edu');
    } finally {
      await lms.close();
    }
    let error: unknown;
    await LmsEmulator.start({ pageSize: 0 }).catch((err: unknown) => (error = err));
    expect(String(error)).to.match(/pageSize/);
  });
});
