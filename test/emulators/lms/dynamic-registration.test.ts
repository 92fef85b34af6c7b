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

describe('LMS emulator: Dynamic Registration and deep linking as Canvas does them', () => {
  let lms: LmsEmulator;
  let tool: FakeTool;
  const DEEP_LINKING = 'LtiDeepLinkingRequest';

  before(async () => {
    lms = await LmsEmulator.start({ registrationMode: 'canvas' });
    tool = await FakeTool.start();
    lms.createContext({ id: 'CV', title: 'Canvas course' });
    lms.addMember('CV', { userId: 'prof', roles: [ROLE.instructor] });
    lms.addResourceLink('CV', { id: 'cv-link' });
  });
  afterEach(() => {
    tool.registration = {};
    lms.canvasDeploymentId = 'absent';
  });
  after(() => closeAll(lms, tool));

  /** Canvas refuses scopes it does not know: the fake tool asks for one. */
  const knownScopes = (r: Record<string, unknown>) => {
    r.scope = `${SCOPE.lineItem} ${SCOPE.score}`;
  };
  const withMessages = (messages: unknown[]) => (r: Record<string, unknown>) => {
    knownScopes(r);
    (r[TOOL_CONFIG] as Record<string, unknown>).messages = messages;
  };

  /** A registration token, as the admin's browser gets it from the platform. */
  const registrationToken = async () => {
    const res = await request(lms.url)
      .get('/admin/register-tool')
      .query({ url: tool.registrationUrl })
      .expect(302);
    const target = new URL(res.headers.location!);
    return {
      token: target.searchParams.get('registration_token')!,
      configuration: target.searchParams.get('openid_configuration')!,
    };
  };

  it("serves its configuration at Canvas's path, with its placements, to a registration token only", async () => {
    await request(lms.url).get('/.well-known/openid-configuration').expect(404);
    await request(lms.url).get('/api/lti/security/openid-configuration').expect(401);
    await request(lms.url)
      .get('/api/lti/security/openid-configuration')
      .query({ registration_token: 'made-up' })
      .expect(401);
    const { token, configuration } = await registrationToken();
    expect(configuration).to.match(
      /\/api\/lti\/security\/openid-configuration\?registration_token=/,
    );
    const res = await request(lms.url)
      .get('/api/lti/security/openid-configuration')
      .set('Authorization', `Bearer ${token}`)
      .expect(200);
    expect(res.body).to.deep.include({
      issuer: lms.issuer,
      registration_endpoint: `${lms.url}/api/lti/registrations`,
    });
    const platform = res.body['https://purl.imsglobal.org/spec/lti-platform-configuration'];
    expect(platform.product_family_code).to.equal('canvas');
    const deepLinking = platform.messages_supported.find(
      (m: { type: string }) => m.type === DEEP_LINKING,
    );
    expect(deepLinking.placements).to.include.members([
      'assignment_selection',
      'link_selection',
      'editor_button',
    ]);
    expect(deepLinking.placements).not.to.include('course_navigation');
  });

  it('keeps the placements Canvas keeps, each once, with their labels and target link URIs', async () => {
    tool.registration = {
      tweak: withMessages([
        { type: 'LtiResourceLinkRequest', placements: ['course_navigation', 'editor_button'] },
        {
          type: DEEP_LINKING,
          target_link_uri: `${tool.url}/deep-link`,
          label: 'Pick content',
          placements: [
            'ContentArea',
            'https://canvas.instructure.com/lti/assignment_selection',
            'link_selection',
            'course_navigation',
          ],
        },
      ]),
    };
    const { clientId, deploymentId } = await lms.startDynamicRegistration(tool.registrationUrl);
    const registered = lms.tools().find((t) => t.clientId === clientId)!;
    expect(registered.placements).to.deep.equal([
      { placement: 'course_navigation', messageType: 'LtiResourceLinkRequest' },
      {
        placement: 'link_selection',
        messageType: DEEP_LINKING,
        targetLinkUri: `${tool.url}/deep-link`,
        label: 'Pick content',
      },
      {
        placement: 'assignment_selection',
        messageType: DEEP_LINKING,
        targetLinkUri: `${tool.url}/deep-link`,
        label: 'Pick content',
      },
    ]);
    // The answer: the registration with its client_id, and no deployment id (the default).
    const answer = tool.registrationResponses.at(-1)! as {
      status: number;
      body: Record<string, unknown>;
    };
    expect(answer.status).to.equal(200);
    expect(answer.body.client_id).to.equal(clientId);
    expect(answer.body).not.to.have.property('deployment_id');
    expect(answer.body[TOOL_CONFIG]).not.to.have.property('deployment_id');
    expect(deploymentId).to.match(/^\d+:[0-9a-f]{40}$/);
  });

  it('drops messages without placements: the tool then has no deep linking at all', async () => {
    tool.registration = { tweak: knownScopes };
    const { clientId } = await lms.startDynamicRegistration(tool.registrationUrl);
    expect(lms.tools().find((t) => t.clientId === clientId)!.placements).to.deep.equal([]);
    expect(() =>
      lms.loginInitiationUrl({
        toolClientId: clientId,
        userId: 'prof',
        contextId: 'CV',
        messageType: DEEP_LINKING,
      }),
    ).to.throw(/has no deep linking placement/);
    // Resource links still launch at the tool's target_link_uri.
    const login = lms.loginInitiationUrl({
      toolClientId: clientId,
      userId: 'prof',
      resourceLinkId: 'cv-link',
    });
    expect((await launch(lms, login)).idToken).to.be.a('string');
  });

  it('refuses registrations without its token, with placements it does not know, or with unknown scopes', async () => {
    await request(lms.url).post('/api/lti/registrations').send(registration(tool)).expect(401);
    const { token } = await registrationToken();
    const unknownPlacement = await request(lms.url)
      .post('/api/lti/registrations')
      .set('Authorization', `Bearer ${token}`)
      .send(
        registration(tool, {
          scope: SCOPE.lineItem,
          [TOOL_CONFIG]: {
            domain: '127.0.0.1',
            target_link_uri: tool.launchUrl,
            claims: [],
            messages: [{ type: DEEP_LINKING, placements: ['sidebar'] }],
          },
        }),
      )
      .expect(422);
    expect(unknownPlacement.body.error_description).to.match(/"sidebar" is not a placement/);
    const unknownScope = await request(lms.url)
      .post('/api/lti/registrations')
      .set('Authorization', `Bearer ${token}`)
      .send(
        registration(tool, {
          scope: 'https://example.com/other',
          [TOOL_CONFIG]: { domain: '127.0.0.1', claims: [], messages: [] },
        }),
      )
      .expect(422);
    expect(unknownScope.body.error_description).to.match(/Invalid scopes/);
  });

  it('puts the deployment id at the top level of its answer when set so', async () => {
    lms.canvasDeploymentId = 'top-level';
    tool.registration = { tweak: knownScopes };
    const { deploymentId } = await lms.startDynamicRegistration(tool.registrationUrl);
    const answer = tool.registrationResponses.at(-1)! as { body: Record<string, unknown> };
    expect(answer.body.deployment_id).to.equal(deploymentId);
    expect(answer.body[TOOL_CONFIG]).not.to.have.property('deployment_id');
  });

  it("launches deep linking from a placement with Canvas's settings for it, and takes the answer at its return URL", async () => {
    tool.registration = {
      tweak: withMessages([
        {
          type: DEEP_LINKING,
          target_link_uri: `${tool.url}/deep-link`,
          placements: ['assignment_selection', 'editor_button'],
        },
      ]),
    };
    const { clientId, deploymentId } = await lms.startDynamicRegistration(tool.registrationUrl);
    const deepLinking = async (placement: string) => {
      const url = lms.loginInitiationUrl({
        toolClientId: clientId,
        userId: 'prof',
        contextId: 'CV',
        messageType: DEEP_LINKING,
        placement,
      });
      const claims = await verifyWithJwks(lms, (await launch(lms, url)).idToken);
      return claims[CLAIM.deepLinkingSettings] as Record<string, unknown>;
    };
    const editor = await deepLinking('editor_button');
    expect(editor).to.deep.include({ accept_multiple: true, auto_create: false });
    expect(editor.accept_types).to.include.members(['ltiResourceLink', 'html', 'link']);
    const assignment = await deepLinking('assignment_selection');
    expect(assignment).to.deep.include({
      accept_types: ['ltiResourceLink'],
      accept_multiple: false,
      auto_create: false,
      accept_presentation_document_targets: ['iframe', 'window'],
    });
    expect(assignment).not.to.have.property('accept_lineitem');
    expect(assignment).not.to.have.property('data');
    const returnUrl = new URL(assignment.deep_link_return_url as string);
    expect(returnUrl.searchParams.get('placement')).to.equal('assignment_selection');
    expect(() =>
      lms.loginInitiationUrl({
        toolClientId: clientId,
        userId: 'prof',
        contextId: 'CV',
        messageType: DEEP_LINKING,
        placement: 'link_selection',
      }),
    ).to.throw(/no deep linking placement "link_selection"/);

    const answer = tool.sign({
      iss: clientId,
      aud: lms.issuer,
      nonce: 'n-1',
      [CLAIM.messageType]: 'LtiDeepLinkingResponse',
      [CLAIM.version]: '1.3.0',
      [CLAIM.deploymentId]: deploymentId,
      [CLAIM.dlContentItems]: [{ type: 'ltiResourceLink', title: 'Quiz', url: tool.launchUrl }],
    });
    await request(lms.url)
      .post(`${returnUrl.pathname}${returnUrl.search}`)
      .type('form')
      .send({ JWT: answer })
      .expect(200);
    const last = lms.deepLinkReturns().at(-1)!;
    expect(last).to.deep.include({ accepted: true, placement: 'assignment_selection' });
    expect(last.createdResourceLinks.map((l) => l.title)).to.deep.equal(['Quiz']);
  });
});
