import { expect } from 'chai';
import request from 'supertest';
import { MEDIA_TYPE, ROLE, SCOPE, type LmsEmulator } from '../../../src/emulators/lms/index.js';
import type { FakeTool } from './fake-tool.js';
import { accessToken, closeAll, followPages, startWithTool } from './helpers.js';

describe('LMS emulator: Names and Role Provisioning Services', () => {
  let lms: LmsEmulator;
  let tool: FakeTool;
  let token: string;
  let agsToken: string;
  const path = '/api/lti/contexts/NR%201/memberships';

  before(async () => {
    let clientId: string;
    ({ lms, tool, clientId } = await startWithTool({ pageSize: 3 }));
    lms.createContext({ id: 'NR 1', label: 'NR1', title: 'Rosters' });
    lms.addMember('NR 1', {
      userId: 'i1',
      name: 'Ina Instructor',
      givenName: 'Ina',
      familyName: 'Instructor',
      email: 'ina@example.edu',
      roles: [ROLE.instructor],
      lisPersonSourcedId: 'SIS-i1',
    });
    lms.addMember('NR 1', { userId: 'ta', roles: [ROLE.teachingAssistant] });
    for (let n = 1; n <= 5; n++) {
      lms.addMember('NR 1', { userId: `l${n}`, name: `Learner ${n}`, roles: [ROLE.learner] });
    }
    lms.addMember('NR 1', { userId: 'l6', roles: [ROLE.learner], status: 'Inactive' });
    lms.addResourceLink('NR 1', { id: 'nr-link' });
    token = await accessToken(lms, tool, clientId, [SCOPE.contextMembershipReadonly]);
    agsToken = await accessToken(lms, tool, clientId, [SCOPE.lineItem]);
  });

  after(() => closeAll(lms, tool));

  const get = (p: string, t = token) =>
    request(lms.url)
      .get(p)
      .set('Authorization', `Bearer ${t}`)
      .set('Accept', MEDIA_TYPE.membershipContainer);

  async function all(start: string) {
    const pages = await followPages((p) => get(p).expect(200), start);
    const members = pages.flatMap((res) => res.body.members as Array<Record<string, unknown>>);
    return { members, pages: pages.length };
  }

  it('serves the membership container with the context and members, omitting absent fields', async () => {
    const res = await get(path).expect(200);
    expect(res.headers['content-type']).to.equal(MEDIA_TYPE.membershipContainer);
    expect(res.body.id).to.equal(`${lms.url}${path}`);
    expect(res.body.context).to.deep.equal({ id: 'NR 1', label: 'NR1', title: 'Rosters' });
    expect(res.body.members[0]).to.deep.equal({
      status: 'Active',
      name: 'Ina Instructor',
      given_name: 'Ina',
      family_name: 'Instructor',
      email: 'ina@example.edu',
      user_id: 'i1',
      lis_person_sourcedid: 'SIS-i1',
      roles: [ROLE.instructor],
    });
    expect(res.body.members[1]).to.deep.equal({
      status: 'Active',
      user_id: 'ta',
      roles: [ROLE.teachingAssistant],
    });
  });

  it('pages with Link rel="next" at pageSize or limit, inactive members included', async () => {
    const paged = await all(path);
    expect(paged.pages).to.equal(3);
    expect(paged.members.map((m) => m.user_id)).to.deep.equal([
      'i1',
      'ta',
      'l1',
      'l2',
      'l3',
      'l4',
      'l5',
      'l6',
    ]);
    expect(paged.members.at(-1)).to.include({ status: 'Inactive' });
    const limited = await all(`${path}?limit=5`);
    expect(limited.pages).to.equal(2);
  });

  it('filters by role, as a full URI or a simple name, keeping the filter when paging', async () => {
    const byUri = await all(`${path}?role=${encodeURIComponent(ROLE.learner)}&limit=2`);
    expect(byUri.members.map((m) => m.user_id)).to.deep.equal(['l1', 'l2', 'l3', 'l4', 'l5', 'l6']);
    expect(byUri.pages).to.equal(3);
    const byName = await all(`${path}?role=Instructor`);
    expect(byName.members.map((m) => m.user_id)).to.deep.equal(['i1']);
    const ta = await all(`${path}?role=TeachingAssistant`);
    expect(ta.members.map((m) => m.user_id)).to.deep.equal(['ta']);
  });

  it('answers a resource link membership for a link of the context, 404 otherwise', async () => {
    const res = await get(`${path}?rlid=nr-link`).expect(200);
    expect(res.body.members).to.have.length(3);
    await get(`${path}?rlid=elsewhere`).expect(404);
  });

  it('needs the membership scope, a known context and an acceptable media type', async () => {
    await request(lms.url).get(path).expect(401);
    await get(path, agsToken).expect(403);
    await get('/api/lti/contexts/none/memberships').expect(404);
    await request(lms.url)
      .get(path)
      .set('Authorization', `Bearer ${token}`)
      .set('Accept', 'text/html')
      .expect(406);
    await request(lms.url).get(path).set('Authorization', `Bearer ${token}`).expect(200);
  });
});
