import { expect } from 'chai';
import request from 'supertest';
import {
  DEMO_CONTEXT_ID,
  type LmsEmulator,
  ROLE,
  seedDemoCourse,
} from '../../../src/emulators/lms/index.js';
import type { FakeTool } from './fake-tool.js';
import { authRequest, closeAll, loginParams, startWithTool } from './helpers.js';

describe('LMS emulator: home page and demo course', () => {
  let lms: LmsEmulator;
  let tool: FakeTool;
  let clientId: string;

  before(async () => {
    ({ lms, tool, clientId } = await startWithTool());
    seedDemoCourse(lms);
    lms.addMember(DEMO_CONTEXT_ID, {
      userId: 'mallory',
      name: '<script>alert("x")</script>',
      roles: [ROLE.learner],
    });
  });

  after(() => closeAll(lms, tool));

  it('seeds the demo course', () => {
    expect(
      lms.members(DEMO_CONTEXT_ID).filter((m) => m.roles.includes(ROLE.learner)),
    ).to.have.length(4);
    expect(lms.resourceLinks(DEMO_CONTEXT_ID)).to.have.length(1);
    const items = lms.lineItems(DEMO_CONTEXT_ID);
    expect(items.map((i) => i.label)).to.deep.equal(['Week 1 quiz', 'Participation']);
    expect(lms.results(items[0]!.id).map((r) => r.resultScore)).to.deep.equal([87, 92]);
  });

  it('lists courses, members and links, escaping what it shows', async () => {
    const res = await request(lms.url).get('/').expect(200);
    expect(res.headers['content-type']).to.match(/^text\/html/);
    expect(res.text).to.include('Introduction to LTI');
    expect(res.text).to.include('Ada Lovelace');
    expect(res.text).to.include('Week 1 quiz');
    expect(res.text).to.include('Launch as Alan Turing');
    expect(res.text).to.include('Add content (deep linking)');
    expect(res.text).not.to.include('<script>alert');
    expect(res.text).to.include('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
  });

  it('sends "in a new window" to the tool with a fresh login initiation that the auth endpoint accepts', async () => {
    const page = (await request(lms.url).get('/')).text;
    const href = /Launch as Alan Turing<\/a> \(<a href="([^"]+)">in a new window/
      .exec(page)![1]!
      .replace(/&amp;/g, '&');
    const res = await request(lms.url)
      .get(new URL(href).pathname + new URL(href).search)
      .expect(302);
    const location = res.headers.location!;
    expect(location.startsWith(tool.loginUrl)).to.equal(true);
    expect(loginParams(location)).to.include({ client_id: clientId, iss: lms.issuer });
    await request(lms.url).get('/auth').query(authRequest(location)).expect(200);
  });

  it('offers deep linking to instructors only', async () => {
    const page = (await request(lms.url).get('/')).text;
    const deepLinks = page.match(/message_type=LtiDeepLinkingRequest/g) ?? [];
    expect(deepLinks).to.have.length(1);
    expect(page).to.match(/user_id=instructor-1[^"]*message_type=LtiDeepLinkingRequest/);
  });

  it('answers a bad launch link with an HTML error page', async () => {
    const res = await request(lms.url)
      .get('/launch?client_id=nope&user_id=x&resource_link_id=y')
      .expect(400);
    expect(res.headers['content-type']).to.match(/^text\/html/);
    expect(res.text).to.include('Unknown tool');
  });

  it('shows what the tool says on return, escaped', async () => {
    const res = await request(lms.url)
      .get('/launch/return?lti_msg=%3Cb%3EDone%3C%2Fb%3E')
      .expect(200);
    expect(res.text).to.include('&lt;b&gt;Done&lt;/b&gt;');
  });

  it("sends the admin's browser to a tool's registration URL with a registration token", async () => {
    const res = await request(lms.url)
      .get('/admin/register-tool')
      .query({ url: tool.registrationUrl })
      .expect(302);
    const target = new URL(res.headers.location!);
    expect(target.searchParams.get('tenant')).to.equal('acme');
    expect(target.searchParams.get('openid_configuration')).to.equal(
      lms.endpoints.openidConfiguration,
    );
    expect(target.searchParams.get('registration_token')).to.be.a('string');
    await request(lms.url).get('/admin/register-tool?url=javascript:alert(1)').expect(400);
  });

  it('answers unknown paths with JSON 404 and wrong methods with 405', async () => {
    const missing = await request(lms.url).get('/nowhere').expect(404);
    expect(missing.body.error).to.equal('not_found');
    await request(lms.url).delete('/jwks').expect(405);
  });
});
