import { expect } from 'chai';
import request from 'supertest';
import {
  CLAIM,
  LmsEmulator,
  ROLE,
  SCOPE,
  parseAutoPostForm,
} from '../../../src/emulators/lms/index.js';
import { FakeTool } from './fake-tool.js';
import { accessToken, authRequest, closeAll, launch, verifyWithJwks } from './helpers.js';

const TOOL_CONFIG = 'https://purl.imsglobal.org/spec/lti-tool-configuration';

function registration(tool: FakeTool, overrides: Record<string, unknown> = {}) {
  return {
    application_type: 'web',
    response_types: ['id_token'],
    grant_types: ['implicit', 'client_credentials'],
    initiate_login_uri: tool.loginUrl,
    redirect_uris: [tool.launchUrl],
    client_name: 'Direct tool',
    jwks_uri: tool.keysetUrl,
    token_endpoint_auth_method: 'private_key_jwt',
    scope: SCOPE.lineItem,
    [TOOL_CONFIG]: { domain: '127.0.0.1', target_link_uri: tool.launchUrl },
    ...overrides,
  };
}

describe('LMS emulator: Dynamic Registration', () => {
  let lms: LmsEmulator;
  let tool: FakeTool;

  before(async () => {
    lms = await LmsEmulator.start();
    tool = await FakeTool.start();
    lms.createContext({ id: 'DR' });
    lms.addMember('DR', { userId: 'u1', roles: [ROLE.instructor] });
    lms.addResourceLink('DR', { id: 'dr-link' });
  });

  after(() => closeAll(lms, tool));

  it('publishes its OpenID configuration', async () => {
    const res = await request(lms.url).get('/.well-known/openid-configuration').expect(200);
    expect(res.body).to.deep.include({
      issuer: lms.issuer,
      authorization_endpoint: lms.endpoints.authorization,
      token_endpoint: lms.endpoints.token,
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      jwks_uri: lms.endpoints.keyset,
      registration_endpoint: lms.endpoints.registration,
      response_types_supported: ['id_token'],
      id_token_signing_alg_values_supported: ['RS256'],
    });
    expect(res.body.scopes_supported).to.include.members([
      'openid',
      SCOPE.score,
      SCOPE.contextMembershipReadonly,
    ]);
    expect(res.body.claims_supported).to.include.members(['sub', 'iss', 'name', 'email']);
    const platform = res.body['https://purl.imsglobal.org/spec/lti-platform-configuration'];
    expect(platform).to.include({ product_family_code: 'gradebridge-lms-emulator' });
    expect(platform.version).to.be.a('string');
    expect(platform.messages_supported).to.deep.equal([
      { type: 'LtiResourceLinkRequest' },
      { type: 'LtiDeepLinkingRequest' },
    ]);
  });

  it('registers a tool that does its half of the flow, and the tool can then launch and get tokens', async () => {
    const { clientId, deploymentId } = await lms.startDynamicRegistration(tool.registrationUrl);

    const query = tool.registrationQueries.at(-1)!;
    expect(query.tenant, 'existing query parameters are kept').to.equal('acme');
    expect(query.openid_configuration).to.equal(lms.endpoints.openidConfiguration);
    expect(query.registration_token).to.be.a('string');

    const answer = tool.registrationResponses.at(-1)! as {
      status: number;
      body: Record<string, unknown>;
    };
    expect(answer.status).to.equal(201);
    expect(answer.body).to.include({
      client_id: clientId,
      client_name: 'Fake tool (dynamic)',
      token_endpoint_auth_method: 'private_key_jwt',
      scope: `${SCOPE.score} ${SCOPE.contextMembershipReadonly}`,
    });
    expect(answer.body[TOOL_CONFIG]).to.deep.include({
      deployment_id: deploymentId,
      target_link_uri: tool.launchUrl,
    });

    const registered = lms.tools().find((t) => t.clientId === clientId)!;
    expect(registered).to.deep.include({
      name: 'Fake tool (dynamic)',
      loginUrl: tool.loginUrl,
      launchUrl: tool.launchUrl,
      keysetUrl: tool.keysetUrl,
      deploymentIds: [deploymentId],
      scopes: [SCOPE.score, SCOPE.contextMembershipReadonly],
      deepLinkingUrl: `${tool.url}/deep-link`,
      custom: { who: '$User.id' },
      messageCustom: { LtiDeepLinkingRequest: { placement: 'editor' } },
    });

    const login = lms.loginInitiationUrl({
      toolClientId: clientId,
      userId: 'u1',
      resourceLinkId: 'dr-link',
    });
    const claims = await verifyWithJwks(lms, (await launch(lms, login)).idToken);
    expect(claims[CLAIM.deploymentId]).to.equal(deploymentId);
    expect(claims[CLAIM.custom]).to.deep.equal({ who: 'u1' });

    const deepLogin = lms.loginInitiationUrl({
      toolClientId: clientId,
      userId: 'u1',
      contextId: 'DR',
      messageType: 'LtiDeepLinkingRequest',
    });
    expect(new URL(deepLogin).searchParams.get('target_link_uri')).to.equal(
      `${tool.url}/deep-link`,
    );
    const deep = await request(lms.url).get('/auth').query(authRequest(deepLogin)).expect(200);
    const deepClaims = await verifyWithJwks(lms, parseAutoPostForm(deep.text).fields.id_token!);
    expect(deepClaims[CLAIM.custom]).to.deep.equal({ who: 'u1', placement: 'editor' });

    expect(await accessToken(lms, tool, clientId, [SCOPE.score])).to.be.a('string');
  });

  it('takes each registration token once, and refuses unknown ones', async () => {
    const { clientId } = await lms.startDynamicRegistration(tool.registrationUrl);
    const token = tool.registrationQueries.at(-1)!.registration_token!;
    expect(clientId).to.be.a('string');
    const again = await request(lms.url)
      .post('/registration')
      .set('Authorization', `Bearer ${token}`)
      .send(registration(tool))
      .expect(401);
    expect(again.body).to.deep.include({ error: 'invalid_token' });
    expect(again.body.error_description).to.match(/already been used/);
    const unknown = await request(lms.url)
      .post('/registration')
      .set('Authorization', 'Bearer made-up')
      .send(registration(tool))
      .expect(401);
    expect(unknown.body.error_description).to.match(/unknown/);
  });

  it('allows open registration without a token', async () => {
    const res = await request(lms.url).post('/registration').send(registration(tool)).expect(201);
    expect(res.body.client_id).to.be.a('string');
    expect(res.body.scope).to.equal(SCOPE.lineItem);
    expect(res.body[TOOL_CONFIG].deployment_id).to.be.a('string');
  });

  const invalid: Array<[string, Record<string, unknown>, string, RegExp]> = [
    [
      'no initiate_login_uri',
      { initiate_login_uri: undefined },
      'invalid_client_metadata',
      /initiate_login_uri/,
    ],
    ['no redirect_uris', { redirect_uris: [] }, 'invalid_redirect_uri', /redirect_uris/],
    [
      'a relative redirect URI',
      { redirect_uris: ['/launch'] },
      'invalid_redirect_uri',
      /redirect_uris/,
    ],
    ['no jwks_uri', { jwks_uri: undefined }, 'invalid_client_metadata', /jwks_uri/],
    ['no client_name', { client_name: undefined }, 'invalid_client_metadata', /client_name/],
    [
      'another auth method',
      { token_endpoint_auth_method: 'client_secret_basic' },
      'invalid_client_metadata',
      /private_key_jwt/,
    ],
    [
      'no tool configuration',
      { [TOOL_CONFIG]: undefined },
      'invalid_client_metadata',
      /lti-tool-configuration/,
    ],
    [
      'no domain',
      { [TOOL_CONFIG]: { target_link_uri: 'http://127.0.0.1/x' } },
      'invalid_client_metadata',
      /domain/,
    ],
    [
      'no target_link_uri',
      { [TOOL_CONFIG]: { domain: 'x' } },
      'invalid_client_metadata',
      /target_link_uri/,
    ],
    [
      'grant types without client_credentials',
      { grant_types: ['implicit'] },
      'invalid_client_metadata',
      /grant_types/,
    ],
  ];
  for (const [what, overrides, code, message] of invalid) {
    it(`refuses a registration with ${what} (400 ${code})`, async () => {
      const body = Object.fromEntries(
        Object.entries(registration(tool, overrides)).filter(([, v]) => v !== undefined),
      );
      const res = await request(lms.url).post('/registration').send(body).expect(400);
      expect(res.body.error).to.equal(code);
      expect(res.body.error_description).to.match(message);
    });
  }

  it('fails clearly when the tool does not register', async () => {
    tool.registration = { skip: true };
    try {
      let error: unknown;
      await lms
        .startDynamicRegistration(tool.registrationUrl, { waitMs: 0 })
        .catch((err: unknown) => (error = err));
      expect(String(error)).to.match(/The tool did not register: GET .* answered 200/);
    } finally {
      tool.registration = {};
    }
  });

  it('fails clearly when the platform refused what the tool sent', async () => {
    tool.registration = { tweak: (r) => (r.jwks_uri = 'not a url') };
    try {
      let error: unknown;
      await lms
        .startDynamicRegistration(tool.registrationUrl, { waitMs: 0 })
        .catch((err: unknown) => (error = err));
      expect(String(error)).to.match(/did not register/);
      expect(tool.registrationResponses.at(-1)).to.include({ status: 400 });
    } finally {
      tool.registration = {};
    }
  });

  it('fails clearly when the registration URL cannot be opened', async () => {
    let error: unknown;
    await lms
      .startDynamicRegistration('http://127.0.0.1:1/register', { waitMs: 0 })
      .catch((err: unknown) => (error = err));
    expect(String(error)).to.match(/Cannot open the tool's registration URL/);
  });
});
