import crypto from 'node:crypto';
import { expect } from 'chai';
import request from 'supertest';
import {
  CLAIM,
  type LmsEmulator,
  MEDIA_TYPE,
  ROLE,
  SCOPE,
  parseAutoPostForm,
} from '../../../src/emulators/lms/index.js';
import type { FakeTool } from './fake-tool.js';
import {
  accessToken,
  authRequest,
  closeAll,
  launch,
  pathOf,
  startWithTool,
  verifyWithJwks,
} from './helpers.js';

describe('LMS emulator: Deep Linking', () => {
  let lms: LmsEmulator;
  let tool: FakeTool;
  let clientId: string;
  let deploymentId: string;

  before(async () => {
    ({ lms, tool, clientId, deploymentId } = await startWithTool(
      {},
      { deploymentIds: ['dep-a', 'dep-b'] },
    ));
    lms.createContext({ id: 'DL', title: 'Deep linking course' });
    lms.addMember('DL', { userId: 'prof', roles: [ROLE.instructor] });
    lms.addMember('DL', { userId: 'kid', roles: [ROLE.learner] });
  });

  after(() => closeAll(lms, tool));

  /** Runs a deep linking launch and returns what the tool needs to answer it. */
  async function deepLinkingRequest(
    deployment = deploymentId,
    deepLinkingSettings?: Record<string, unknown>,
  ) {
    const url = lms.loginInitiationUrl({
      toolClientId: clientId,
      userId: 'prof',
      contextId: 'DL',
      messageType: 'LtiDeepLinkingRequest',
      deploymentId: deployment,
      ...(deepLinkingSettings ? { deepLinkingSettings } : {}),
    });
    const claims = await verifyWithJwks(lms, (await launch(lms, url)).idToken);
    return claims[CLAIM.deepLinkingSettings] as {
      deep_link_return_url: string;
      data: string;
    } & Record<string, unknown>;
  }

  function response(data: string | undefined, overrides: Record<string, unknown> = {}) {
    return {
      iss: clientId,
      aud: lms.issuer,
      nonce: crypto.randomUUID(),
      [CLAIM.messageType]: 'LtiDeepLinkingResponse',
      [CLAIM.version]: '1.3.0',
      [CLAIM.deploymentId]: deploymentId,
      ...(data === undefined ? {} : { [CLAIM.dlData]: data }),
      [CLAIM.dlContentItems]: [
        {
          type: 'ltiResourceLink',
          title: 'Chapter 1 quiz',
          url: `${tool.launchUrl}?quiz=1`,
          custom: { quiz: '1' },
          lineItem: { scoreMaximum: 20, label: 'Chapter 1', resourceId: 'quiz-1', tag: 'quiz' },
        },
        { type: 'ltiResourceLink', title: 'Reading' },
        { type: 'html', html: '<p>not accepted</p>' },
      ],
      [CLAIM.dlMsg]: 'Added 2 items',
      ...overrides,
    };
  }

  const post = (returnUrl: string, jwtValue: string | undefined) =>
    request(lms.url)
      .post(pathOf(returnUrl))
      .type('form')
      .send(jwtValue === undefined ? {} : { JWT: jwtValue });

  it('creates resource links and line items from a verified response', async () => {
    const settings = await deepLinkingRequest();
    const before = lms.deepLinkReturns().length;
    const res = await post(
      settings.deep_link_return_url,
      tool.sign(response(settings.data)),
    ).expect(200);
    expect(res.headers['content-type']).to.match(/^text\/html/);
    expect(res.text).to.include('Added 2 items');

    const returned = lms.deepLinkReturns().slice(before);
    expect(returned).to.have.length(1);
    const [dl] = returned;
    expect(dl).to.include({
      accepted: true,
      clientId,
      deploymentId,
      contextId: 'DL',
      userId: 'prof',
      msg: 'Added 2 items',
    });
    expect(dl!.claims).to.include({ iss: clientId, aud: lms.issuer });
    expect(dl!.contentItems).to.have.length(3);
    expect(dl!.ignoredItems).to.deep.equal([{ type: 'html', html: '<p>not accepted</p>' }]);
    expect(dl!.createdResourceLinks.map((l) => l.title)).to.deep.equal([
      'Chapter 1 quiz',
      'Reading',
    ]);
    expect(dl!.createdLineItems).to.have.length(1);

    const [quiz] = dl!.createdResourceLinks;
    expect(quiz).to.include({ contextId: 'DL', url: `${tool.launchUrl}?quiz=1`, clientId });
    expect(quiz!.custom).to.deep.equal({ quiz: '1' });
    const [item] = lms.lineItems('DL');
    expect(item).to.include({
      label: 'Chapter 1',
      scoreMaximum: 20,
      resourceId: 'quiz-1',
      tag: 'quiz',
      resourceLinkId: quiz!.id,
    });

    // The new link launches at its own URL, with its custom parameters and line item.
    const login = lms.loginInitiationUrl({
      toolClientId: clientId,
      userId: 'kid',
      resourceLinkId: quiz!.id,
    });
    expect(new URL(login).searchParams.get('target_link_uri')).to.equal(`${tool.launchUrl}?quiz=1`);
    // Like ltijs, the tool drops the query from target_link_uri to form its redirect_uri.
    const auth = await request(lms.url)
      .get('/auth')
      .query(authRequest(login, { redirect_uri: tool.launchUrl }))
      .expect(200);
    const claims = await verifyWithJwks(lms, parseAutoPostForm(auth.text).fields.id_token!);
    expect(claims[CLAIM.resourceLink]).to.deep.equal({ id: quiz!.id, title: 'Chapter 1 quiz' });
    expect(claims[CLAIM.custom]).to.deep.equal({ quiz: '1' });
    expect((claims[CLAIM.agsEndpoint] as { lineitem: string }).lineitem).to.equal(item!.id);

    // Only the tool that created the line item sees it through AGS.
    const token = await accessToken(lms, tool, clientId, [SCOPE.lineItemReadonly]);
    const items = await request(lms.url)
      .get(pathOf(`${lms.url}/api/lti/contexts/DL/lineitems`))
      .set('Authorization', `Bearer ${token}`)
      .set('Accept', MEDIA_TYPE.lineItemContainer)
      .expect(200);
    expect(items.body.map((i: { id: string }) => i.id)).to.deep.equal([item!.id]);
  });

  it('takes each deep linking request once', async () => {
    const settings = await deepLinkingRequest();
    await post(
      settings.deep_link_return_url,
      tool.sign(response(settings.data, { [CLAIM.dlContentItems]: [] })),
    ).expect(200);
    const again = await post(
      settings.deep_link_return_url,
      tool.sign(response(settings.data)),
    ).expect(400);
    expect(again.text).to.match(/unknown or used/);
  });

  it('accepts a response with no content items', async () => {
    const settings = await deepLinkingRequest();
    const payload = response(settings.data);
    delete (payload as Record<string, unknown>)[CLAIM.dlContentItems];
    await post(settings.deep_link_return_url, tool.sign(payload)).expect(200);
    expect(lms.deepLinkReturns().at(-1)).to.include({ accepted: true });
  });

  const rejections: Array<[string, (data: string) => string, RegExp]> = [
    [
      'a wrong signature',
      (data) => tool.sign(response(data), { foreignKey: true }),
      /does not verify/,
    ],
    ['another audience', (data) => tool.sign(response(data, { aud: 'https://elsewhere' })), /aud/],
    [
      'an unknown issuer',
      (data) => tool.sign(response(data, { iss: 'stranger' })),
      /Unknown client/,
    ],
    [
      'an expired JWT',
      (data) => tool.sign(response(data, { exp: Math.floor(Date.now() / 1000) - 1 })),
      /expired/,
    ],
    ['no nonce', (data) => tool.sign(response(data, { nonce: undefined })), /nonce/],
    [
      'a wrong message type',
      (data) => tool.sign(response(data, { [CLAIM.messageType]: 'LtiResourceLinkRequest' })),
      /message_type/,
    ],
    ['a wrong version', (data) => tool.sign(response(data, { [CLAIM.version]: '1.1' })), /version/],
    [
      'an unknown deployment',
      (data) => tool.sign(response(data, { [CLAIM.deploymentId]: 'dep-x' })),
      /deployment_id/,
    ],
    [
      'the other deployment of the tool',
      (data) => tool.sign(response(data, { [CLAIM.deploymentId]: 'dep-b' })),
      /deployment_id is not the one/,
    ],
    ['no data claim', () => tool.sign(response(undefined)), /data claim/],
    ['a data claim never sent', () => tool.sign(response('made-up')), /data claim/],
    [
      'content items that are not an array',
      (data) => tool.sign(response(data, { [CLAIM.dlContentItems]: { type: 'ltiResourceLink' } })),
      /content_items/,
    ],
    [
      'a lineItem without scoreMaximum',
      (data) =>
        tool.sign(
          response(data, {
            [CLAIM.dlContentItems]: [{ type: 'ltiResourceLink', lineItem: { label: 'x' } }],
          }),
        ),
      /scoreMaximum/,
    ],
    [
      'custom values that are not strings',
      (data) =>
        tool.sign(
          response(data, {
            [CLAIM.dlContentItems]: [{ type: 'ltiResourceLink', custom: { n: 1 } }],
          }),
        ),
      /custom/,
    ],
    ['not a JWT', () => 'garbage', /cannot be decoded/],
  ];
  for (const [what, token, message] of rejections) {
    it(`rejects a response with ${what} (400), recording why and creating nothing`, async () => {
      const settings = await deepLinkingRequest();
      const links = lms.resourceLinks('DL').length;
      const res = await post(settings.deep_link_return_url, token(settings.data)).expect(400);
      expect(res.headers['content-type']).to.match(/^text\/html/);
      expect(res.text).to.match(message);
      const last = lms.deepLinkReturns().at(-1)!;
      expect(last.accepted).to.equal(false);
      expect(last.error).to.match(message);
      expect(lms.resourceLinks('DL')).to.have.length(links);
    });
  }

  it('leaves the request open after a rejected response, so the tool can try again', async () => {
    const settings = await deepLinkingRequest();
    await post(
      settings.deep_link_return_url,
      tool.sign(response(settings.data, { aud: 'x' })),
    ).expect(400);
    await post(settings.deep_link_return_url, tool.sign(response(settings.data))).expect(200);
  });

  it('rejects a form without JWT', async () => {
    const res = await post(`${lms.url}/deep-link/return`, undefined).expect(400);
    expect(res.text).to.match(/no JWT/);
  });

  it('sends the settings a launch asks for over its own, leaving out those set to null', async () => {
    const settings = await deepLinkingRequest(deploymentId, {
      accept_multiple: false,
      accept_lineitem: null,
      auto_create: false,
    });
    expect(settings).to.include({ accept_multiple: false, auto_create: false });
    expect(settings).not.to.have.property('accept_lineitem');
    expect(settings.accept_types).to.deep.equal(['ltiResourceLink']);
  });

  it('refuses several items where the request accepted one (accept_multiple false), leaving it open', async () => {
    const settings = await deepLinkingRequest(deploymentId, { accept_multiple: false });
    const refused = await post(
      settings.deep_link_return_url,
      tool.sign(response(settings.data)),
    ).expect(400);
    expect(refused.text).to.match(/accepted one content item/);
    const links = lms.resourceLinks('DL').length;
    const one = response(settings.data);
    one[CLAIM.dlContentItems] = [{ type: 'ltiResourceLink', title: 'Only this' }];
    await post(settings.deep_link_return_url, tool.sign(one)).expect(200);
    expect(lms.resourceLinks('DL').length).to.equal(links + 1);
  });

  it('ignores line items where the request said it would (accept_lineitem false)', async () => {
    const settings = await deepLinkingRequest(deploymentId, { accept_lineitem: false });
    const items = lms.lineItems('DL').length;
    await post(settings.deep_link_return_url, tool.sign(response(settings.data))).expect(200);
    const dl = lms.deepLinkReturns().at(-1)!;
    expect(dl.createdResourceLinks).to.have.length(2);
    expect(dl.createdLineItems).to.deep.equal([]);
    expect(dl.ignoredLineItems).to.deep.equal([
      { scoreMaximum: 20, label: 'Chapter 1', resourceId: 'quiz-1', tag: 'quiz' },
    ]);
    expect(lms.lineItems('DL').length).to.equal(items);
  });

  it('leaves out the types the request did not accept (accept_types)', async () => {
    const settings = await deepLinkingRequest(deploymentId, { accept_types: ['html'] });
    await post(settings.deep_link_return_url, tool.sign(response(settings.data))).expect(200);
    const dl = lms.deepLinkReturns().at(-1)!;
    expect(dl.createdResourceLinks).to.deep.equal([]);
    expect(dl.ignoredItems.map((i) => i.type)).to.deep.equal([
      'ltiResourceLink',
      'ltiResourceLink',
      'html',
    ]);
  });

  it('accepts a response for the other deployment when the request was made for it', async () => {
    const settings = await deepLinkingRequest('dep-b');
    await post(
      settings.deep_link_return_url,
      tool.sign(response(settings.data, { [CLAIM.deploymentId]: 'dep-b' })),
    ).expect(200);
  });
});
