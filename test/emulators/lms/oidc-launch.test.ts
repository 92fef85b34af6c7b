import { expect } from 'chai';
import request from 'supertest';
import {
  CLAIM,
  type LmsEmulator,
  ROLE,
  SCOPE,
  parseAutoPostForm,
} from '../../../src/emulators/lms/index.js';
import { FakeTool } from './fake-tool.js';
import {
  authRequest,
  closeAll,
  launch,
  loginParams,
  startWithTool,
  verifyWithJwks,
} from './helpers.js';

describe('LMS emulator: OIDC login and launch', () => {
  let lms: LmsEmulator;
  let tool: FakeTool;
  let clientId: string;
  let deploymentId: string;
  let lineItemId: string;

  before(async () => {
    ({ lms, tool, clientId, deploymentId } = await startWithTool());
    lms.createContext({
      id: 'C1',
      label: 'BIO-1',
      title: 'Biology',
      lisCourseSourcedId: 'SIS-BIO-1',
    });
    lms.addMember('C1', {
      userId: 'teacher',
      name: 'Tess Teacher',
      givenName: 'Tess',
      familyName: 'Teacher',
      email: 'tess@example.edu',
      roles: [ROLE.instructor],
      lisPersonSourcedId: 'SIS-T',
    });
    lms.addMember('C1', { userId: 'student', roles: [ROLE.learner] });
    lms.addMember('C1', { userId: 'gone', roles: [ROLE.learner], status: 'Inactive' });
    lms.addResourceLink('C1', {
      id: 'RL1',
      title: 'Quiz 1',
      custom: { course: '$Context.label', user: '$User.id', fixed: 'x', odd: '$Unknown.var' },
    });
    lms.addResourceLink('C1', { id: 'RL2', title: 'Reading' });
    lineItemId = lms.addLineItem('C1', {
      label: 'Quiz 1',
      scoreMaximum: 10,
      resourceLinkId: 'RL1',
    }).id;
  });

  after(() => closeAll(lms, tool));

  const rlLogin = (userId = 'teacher', resourceLinkId = 'RL1') =>
    lms.loginInitiationUrl({ toolClientId: clientId, userId, resourceLinkId });

  it('builds a third-party initiated login URL to the tool', () => {
    const url = new URL(rlLogin());
    expect(`${url.origin}${url.pathname}`).to.equal(tool.loginUrl);
    const p = loginParams(url.toString());
    expect(p).to.include({
      iss: lms.issuer,
      target_link_uri: tool.launchUrl,
      client_id: clientId,
      lti_deployment_id: deploymentId,
    });
    expect(p.login_hint).to.be.a('string').and.not.include('teacher');
    expect(p.lti_message_hint).to.be.a('string').and.not.equal('');
  });

  it('refuses to build launches that cannot happen', () => {
    expect(() => rlLogin('nobody')).to.throw(/not a member/);
    expect(() => rlLogin('gone')).to.throw(/not an active member/);
    expect(() => rlLogin('teacher', 'RL-none')).to.throw(/Unknown resource link/);
    expect(() =>
      lms.loginInitiationUrl({ toolClientId: 'nope', userId: 'teacher', resourceLinkId: 'RL1' }),
    ).to.throw(/Unknown tool/);
    expect(() =>
      lms.loginInitiationUrl({
        toolClientId: clientId,
        userId: 'teacher',
        resourceLinkId: 'RL1',
        deploymentId: 'other',
      }),
    ).to.throw(/no deployment/);
  });

  it('answers a good authentication request with an auto-submitting form to redirect_uri', async () => {
    const before = lms.stats.authRequests;
    const params = authRequest(rlLogin());
    const res = await request(lms.url).get('/auth').query(params).expect(200);
    expect(res.headers['content-type']).to.match(/^text\/html/);
    expect(res.text).to.include('<script>');
    const form = parseAutoPostForm(res.text);
    expect(form.method).to.equal('POST');
    expect(form.action).to.equal(tool.launchUrl);
    expect(Object.keys(form.fields).sort()).to.deep.equal(['id_token', 'state']);
    expect(form.fields.state).to.equal(params.state);
    expect(lms.stats.authRequests).to.equal(before + 1);
  });

  it('accepts the authentication request as a form POST too', async () => {
    const res = await request(lms.url)
      .post('/auth')
      .type('form')
      .send(authRequest(rlLogin()))
      .expect(200);
    expect(parseAutoPostForm(res.text).fields.id_token).to.be.a('string');
  });

  const badRequests: Array<[string, Record<string, string | undefined>, RegExp]> = [
    ['an unknown client', { client_id: 'unknown' }, /Unknown client_id/],
    [
      'a redirect_uri not registered',
      { redirect_uri: 'http://127.0.0.1:1/evil' },
      /not registered/,
    ],
    ['no nonce', { nonce: undefined }, /nonce is required/],
    ['a wrong response_type', { response_type: 'code' }, /response_type must be id_token/],
    ['a wrong response_mode', { response_mode: 'query' }, /response_mode must be form_post/],
    ['no openid scope', { scope: 'profile' }, /scope must include openid/],
    ['no prompt=none', { prompt: undefined }, /prompt must be none/],
    ['a forged login_hint', { login_hint: 'eyJ1Ijoic3R1ZGVudCJ9.forged' }, /login_hint/],
    ['a garbled lti_message_hint', { lti_message_hint: 'garbage' }, /lti_message_hint/],
    ['no lti_message_hint', { lti_message_hint: undefined }, /lti_message_hint is required/],
    ['another deployment id', { lti_deployment_id: 'other' }, /lti_deployment_id/],
  ];
  for (const [what, overrides, message] of badRequests) {
    it(`answers 400 with an HTML error page for ${what}`, async () => {
      const res = await request(lms.url)
        .get('/auth')
        .query(authRequest(rlLogin(), overrides))
        .expect(400);
      expect(res.headers['content-type']).to.match(/^text\/html/);
      expect(res.text).to.match(message);
      expect(res.text).not.to.include('<form');
    });
  }

  it('refuses a login_hint of another user than the message hint', async () => {
    const other = loginParams(rlLogin('student'));
    const res = await request(lms.url)
      .get('/auth')
      .query(authRequest(rlLogin('teacher'), { login_hint: other.login_hint }))
      .expect(400);
    expect(res.text).to.match(/different users/);
  });

  it('refuses a message hint issued to another client', async () => {
    const other = await FakeTool.start();
    try {
      const { clientId: otherId } = other.register(lms);
      const res = await request(lms.url)
        .get('/auth')
        .query(authRequest(rlLogin(), { client_id: otherId, redirect_uri: other.launchUrl }))
        .expect(400);
      expect(res.text).to.match(/another client/);
    } finally {
      await other.close();
    }
  });

  it('refuses a launch when the member was deactivated after the login initiation', async () => {
    lms.addMember('C1', { userId: 'leaver', roles: [ROLE.learner] });
    const url = rlLogin('leaver');
    lms.addMember('C1', { userId: 'leaver', roles: [ROLE.learner], status: 'Inactive' });
    const res = await request(lms.url).get('/auth').query(authRequest(url)).expect(400);
    expect(res.text).to.match(/not an active member/);
  });

  it('signs a resource link id_token with every LTI Core claim, verifiable with the JWKS', async () => {
    const { idToken, params } = await launch(lms, rlLogin());
    const header = JSON.parse(Buffer.from(idToken.split('.')[0]!, 'base64url').toString());
    expect(header).to.include({ alg: 'RS256', kid: lms.keyId });
    const claims = await verifyWithJwks(lms, idToken);
    expect(claims).to.include({
      iss: lms.issuer,
      aud: clientId,
      azp: clientId,
      sub: 'teacher',
      nonce: params.nonce,
      name: 'Tess Teacher',
      given_name: 'Tess',
      family_name: 'Teacher',
      email: 'tess@example.edu',
    });
    expect((claims.exp as number) - (claims.iat as number)).to.equal(300);
    expect(claims[CLAIM.messageType]).to.equal('LtiResourceLinkRequest');
    expect(claims[CLAIM.version]).to.equal('1.3.0');
    expect(claims[CLAIM.deploymentId]).to.equal(deploymentId);
    expect(claims[CLAIM.targetLinkUri]).to.equal(tool.launchUrl);
    expect(claims[CLAIM.resourceLink]).to.deep.equal({ id: 'RL1', title: 'Quiz 1' });
    expect(claims[CLAIM.roles]).to.deep.equal([ROLE.instructor]);
    expect(claims[CLAIM.context]).to.deep.equal({
      id: 'C1',
      label: 'BIO-1',
      title: 'Biology',
      type: ['http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering'],
    });
    expect(claims[CLAIM.toolPlatform]).to.include({
      product_family_code: 'gradebridge-lms-emulator',
    });
    expect(claims[CLAIM.launchPresentation]).to.include({ document_target: 'iframe' });
    expect((claims[CLAIM.launchPresentation] as { return_url: string }).return_url).to.match(
      /^http:\/\/127\.0\.0\.1:\d+\/launch\/return/,
    );
    expect(claims[CLAIM.lis]).to.deep.equal({
      person_sourcedid: 'SIS-T',
      course_offering_sourcedid: 'SIS-BIO-1',
    });
    expect(claims[CLAIM.custom]).to.deep.equal({
      course: 'BIO-1',
      user: 'teacher',
      fixed: 'x',
      odd: '$Unknown.var',
    });
    expect(claims[CLAIM.agsEndpoint]).to.deep.equal({
      scope: [SCOPE.lineItem, SCOPE.lineItemReadonly, SCOPE.resultReadonly, SCOPE.score],
      lineitems: `${lms.url}/api/lti/contexts/C1/lineitems`,
      lineitem: lineItemId,
    });
    expect(claims[CLAIM.nrpsService]).to.deep.equal({
      context_memberships_url: `${lms.url}/api/lti/contexts/C1/memberships`,
      service_versions: ['2.0'],
    });
    expect(claims).not.to.have.property(CLAIM.deepLinkingSettings);
  });

  it('leaves out what it does not know, and the lineitem of a link without exactly one', async () => {
    const { idToken } = await launch(lms, rlLogin('student', 'RL2'));
    const claims = await verifyWithJwks(lms, idToken);
    for (const name of ['name', 'given_name', 'family_name', 'email', CLAIM.custom]) {
      expect(claims).not.to.have.property(name);
    }
    expect(claims[CLAIM.lis]).to.deep.equal({ course_offering_sourcedid: 'SIS-BIO-1' });
    expect(claims[CLAIM.agsEndpoint]).not.to.have.property('lineitem');
    expect(claims[CLAIM.resourceLink]).to.deep.equal({ id: 'RL2', title: 'Reading' });
  });

  it("names a mentor's mentees in role_scope_mentor, and nobody else's", async () => {
    lms.addMember('C1', { userId: 'parent', roles: [ROLE.mentor], mentees: ['student'] });
    const mentor = await verifyWithJwks(lms, (await launch(lms, rlLogin('parent'))).idToken);
    expect(mentor[CLAIM.roles]).to.deep.equal([ROLE.mentor]);
    expect(mentor[CLAIM.roleScopeMentor]).to.deep.equal(['student']);
    const learner = await verifyWithJwks(lms, (await launch(lms, rlLogin('student'))).idToken);
    expect(learner).not.to.have.property(CLAIM.roleScopeMentor);
    expect(() =>
      lms.addMember('C1', { userId: 'odd', roles: [ROLE.learner], mentees: ['student'] }),
    ).to.throw(/Only a mentor has mentees/);
  });

  it('sends only the service claims of the scopes the tool was granted', async () => {
    const limited = await FakeTool.start();
    try {
      const { clientId: limitedId } = limited.register(lms, { scopes: [SCOPE.score] });
      const url = lms.loginInitiationUrl({
        toolClientId: limitedId,
        userId: 'student',
        resourceLinkId: 'RL1',
      });
      const claims = await verifyWithJwks(lms, (await launch(lms, url)).idToken);
      expect((claims[CLAIM.agsEndpoint] as { scope: string[] }).scope).to.deep.equal([SCOPE.score]);
      expect(claims).not.to.have.property(CLAIM.nrpsService);
    } finally {
      await limited.close();
    }
  });

  it('signs a deep linking request with its settings and no resource link', async () => {
    const url = lms.loginInitiationUrl({
      toolClientId: clientId,
      userId: 'teacher',
      contextId: 'C1',
      messageType: 'LtiDeepLinkingRequest',
    });
    const claims = await verifyWithJwks(lms, (await launch(lms, url)).idToken);
    expect(claims[CLAIM.messageType]).to.equal('LtiDeepLinkingRequest');
    expect(claims).not.to.have.property(CLAIM.resourceLink);
    const settings = claims[CLAIM.deepLinkingSettings] as Record<string, unknown>;
    expect(settings).to.deep.include({
      deep_link_return_url: `${lms.url}/deep-link/return`,
      accept_types: ['ltiResourceLink'],
      accept_presentation_document_targets: ['iframe', 'window'],
      accept_multiple: true,
      auto_create: true,
    });
    expect(settings.data).to.be.a('string').and.not.equal('');
    expect(claims[CLAIM.agsEndpoint]).not.to.have.property('lineitem');
  });

  it('honours an explicit target_link_uri and omits state when the tool sent none', async () => {
    const url = lms.loginInitiationUrl({
      toolClientId: clientId,
      userId: 'student',
      resourceLinkId: 'RL1',
      targetLinkUri: `${tool.launchUrl}?page=2`,
    });
    expect(loginParams(url).target_link_uri).to.equal(`${tool.launchUrl}?page=2`);
    const res = await request(lms.url)
      .get('/auth')
      .query(authRequest(url, { state: undefined, redirect_uri: tool.launchUrl }))
      .expect(200);
    const form = parseAutoPostForm(res.text);
    expect(form.fields).not.to.have.property('state');
    const claims = await verifyWithJwks(lms, form.fields.id_token!);
    expect(claims[CLAIM.targetLinkUri]).to.equal(`${tool.launchUrl}?page=2`);
  });

  it('signs crafted tokens for tests, broken ones included', async () => {
    const good = lms.signIdToken({ sub: 'x' });
    expect(await verifyWithJwks(lms, good)).to.deep.equal({ sub: 'x' });
    const noKid = lms.signIdToken({ sub: 'x' }, { kid: null });
    expect(JSON.parse(Buffer.from(noKid.split('.')[0]!, 'base64url').toString())).to.deep.equal({
      alg: 'RS256',
      typ: 'JWT',
    });
    const none = lms.signIdToken({ sub: 'x' }, { alg: 'none' });
    expect(none.endsWith('.')).to.equal(true);
    const hs = lms.signIdToken({ sub: 'x' }, { alg: 'HS256', kid: 'other' });
    let refused = false;
    await verifyWithJwks(lms, hs).catch(() => (refused = true));
    expect(refused).to.equal(true);
  });
});
