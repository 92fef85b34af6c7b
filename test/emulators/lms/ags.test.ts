import { expect } from 'chai';
import request from 'supertest';
import { LmsEmulator, MEDIA_TYPE, ROLE, SCOPE } from '../../../src/emulators/lms/index.js';
import { FakeTool } from './fake-tool.js';
import { accessToken, closeAll, followPages, links, pathOf, startWithTool } from './helpers.js';

const ALL = [SCOPE.lineItem, SCOPE.lineItemReadonly, SCOPE.resultReadonly, SCOPE.score];

describe('LMS emulator: Assignment and Grade Services', () => {
  let lms: LmsEmulator;
  let tool: FakeTool;
  let other: FakeTool;
  let token: string;
  let readonlyToken: string;
  let scoreOnlyToken: string;
  let otherToken: string;
  const base = '/api/lti/contexts/AGS-1/lineitems';

  before(async () => {
    let clientId: string;
    ({ lms, tool, clientId } = await startWithTool({ pageSize: 2 }));
    other = await FakeTool.start();
    const { clientId: otherId } = other.register(lms);
    lms.createContext({ id: 'AGS-1', title: 'Grades' });
    lms.createContext({ id: 'AGS-2', title: 'Other course' });
    for (const userId of ['s1', 's2', 's3'])
      lms.addMember('AGS-1', { userId, roles: [ROLE.learner] });
    lms.addMember('AGS-2', { userId: 'x1', roles: [ROLE.learner] });
    lms.addResourceLink('AGS-1', { id: 'ags-rl-1' });
    lms.addResourceLink('AGS-1', { id: 'ags-rl-2' });
    lms.addResourceLink('AGS-2', { id: 'ags-rl-x' });
    lms.addLineItem('AGS-1', {
      label: 'A',
      scoreMaximum: 10,
      resourceLinkId: 'ags-rl-1',
      tag: 'quiz',
    });
    lms.addLineItem('AGS-1', {
      label: 'B',
      scoreMaximum: 20,
      resourceLinkId: 'ags-rl-1',
      resourceId: 'r-b',
    });
    lms.addLineItem('AGS-1', { label: 'C', scoreMaximum: 30, tag: 'quiz' });
    lms.addLineItem('AGS-1', { label: 'D', scoreMaximum: 40, resourceLinkId: 'ags-rl-2' });
    lms.addLineItem('AGS-1', { label: 'E', scoreMaximum: 50, resourceId: 'r-b', tag: 'final' });
    lms.addLineItem('AGS-2', { label: 'X', scoreMaximum: 5 });
    token = await accessToken(lms, tool, clientId, ALL);
    readonlyToken = await accessToken(lms, tool, clientId, [SCOPE.lineItemReadonly]);
    scoreOnlyToken = await accessToken(lms, tool, clientId, [SCOPE.score]);
    otherToken = await accessToken(lms, other, otherId, ALL);
  });

  after(() => closeAll(lms, tool, other));

  const api = () => request(lms.url);
  const auth = (t = token) => ({ Authorization: `Bearer ${t}` });

  async function allPages(path: string, t = token) {
    const pages = await followPages((p) => api().get(p).set(auth(t)).expect(200), path);
    const items = pages.flatMap((res) => res.body as Array<Record<string, unknown>>);
    return { items, pages: pages.length };
  }

  describe('authorization', () => {
    it('answers 401 with a Bearer challenge without a token or with an unknown one', async () => {
      const none = await api().get(base).expect(401);
      expect(none.headers['www-authenticate']).to.match(/^Bearer/);
      expect(none.body.error).to.equal('invalid_token');
      const bad = await api().get(base).set(auth('nope')).expect(401);
      expect(bad.headers['www-authenticate']).to.include('error="invalid_token"');
    });

    it('answers 403 when the token lacks the scope', async () => {
      const res = await api().get(base).set(auth(scoreOnlyToken)).expect(403);
      expect(res.body.error).to.equal('insufficient_scope');
      expect(res.headers['www-authenticate']).to.include('insufficient_scope');
      await api()
        .post(base)
        .set(auth(readonlyToken))
        .type(MEDIA_TYPE.lineItem)
        .send({ label: 'x', scoreMaximum: 1 })
        .expect(403);
      await api().get(`${base}/1/results`).set(auth(readonlyToken)).expect(403);
      await api()
        .post(`${base}/1/scores`)
        .set(auth(readonlyToken))
        .type(MEDIA_TYPE.score)
        .send({})
        .expect(403);
    });

    it('revokes access tokens: 401 invalid_token for the old ones, a new one works', async () => {
      const third = await FakeTool.start();
      try {
        const { clientId } = third.register(lms);
        const old = await accessToken(lms, third, clientId, [SCOPE.lineItemReadonly]);
        await api().get(base).set(auth(old)).expect(200);
        expect(lms.revokeAccessTokens(clientId)).to.equal(1);
        const refused = await api().get(base).set(auth(old)).expect(401);
        expect(refused.headers['www-authenticate']).to.match(/^Bearer .*error="invalid_token"/);
        expect(refused.body).to.deep.equal({
          error: 'invalid_token',
          error_description: 'The access token has been revoked.',
        });
        // Other tools' tokens are untouched.
        await api().get(base).set(auth()).expect(200);
        const fresh = await accessToken(lms, third, clientId, [SCOPE.lineItemReadonly]);
        await api().get(base).set(auth(fresh)).expect(200);
      } finally {
        await third.close();
      }
    });

    it('answers 401 to any token of a tool removed from the context, until it is back', async () => {
      const third = await FakeTool.start();
      try {
        const { clientId } = third.register(lms);
        lms.addLineItem('AGS-2', { label: 'Y', scoreMaximum: 5 });
        lms.setToolAvailable('AGS-2', clientId, false);
        const t = await accessToken(lms, third, clientId, [
          ...ALL,
          SCOPE.contextMembershipReadonly,
        ]);
        const refused = await api()
          .get('/api/lti/contexts/AGS-2/lineitems')
          .set(auth(t))
          .expect(401);
        expect(refused.body.error_description).to.equal(
          'Access Token not linked to a Tool associated with this Context',
        );
        expect(refused.headers['www-authenticate']).to.include('error="invalid_token"');
        await api()
          .get('/api/lti/contexts/AGS-2/memberships')
          .set(auth(t))
          .set('Accept', MEDIA_TYPE.membershipContainer)
          .expect(401);
        expect(() =>
          lms.loginInitiationUrl({
            toolClientId: clientId,
            userId: 'x1',
            resourceLinkId: 'ags-rl-x',
          }),
        ).to.throw(/not available/);
        // The same tool still works in the other course.
        await api().get(base).set(auth(t)).expect(200);
        lms.setToolAvailable('AGS-2', clientId, true);
        await api().get('/api/lti/contexts/AGS-2/lineitems').set(auth(t)).expect(200);
      } finally {
        await third.close();
      }
    });

    it('expires access tokens', async () => {
      const short = await LmsEmulator.start({ accessTokenTtlSeconds: 1 });
      try {
        const { clientId } = tool.register(short);
        short.createContext({ id: 'T' });
        const t = await accessToken(short, tool, clientId, [SCOPE.lineItemReadonly]);
        await request(short.url).get('/api/lti/contexts/T/lineitems').set(auth(t)).expect(200);
        // Expiry is the passing of time itself: there is no event to wait for.
        await new Promise((r) => setTimeout(r, 1050));
        await request(short.url).get('/api/lti/contexts/T/lineitems').set(auth(t)).expect(401);
      } finally {
        await short.close();
      }
    });
  });

  describe('line items', () => {
    it('pages the container with Link rel="next" at pageSize, and at limit', async () => {
      const first = await api().get(base).set(auth()).expect(200);
      expect(first.headers['content-type']).to.equal(MEDIA_TYPE.lineItemContainer);
      expect(first.body).to.have.length(2);
      const rels = links(first.headers.link);
      expect(rels).to.have.keys('next', 'first', 'last');
      expect(rels.next).to.match(
        /^http:\/\/127\.0\.0\.1:\d+\/api\/lti\/contexts\/AGS-1\/lineitems\?/,
      );
      const { items, pages } = await allPages(base);
      expect(items.map((i) => i.label)).to.deep.equal(['A', 'B', 'C', 'D', 'E']);
      expect(pages).to.equal(3);
      const limited = await allPages(`${base}?limit=4`);
      expect(limited.pages).to.equal(2);
      const one = await api().get(`${base}?limit=10`).set(auth()).expect(200);
      expect(one.body).to.have.length(5);
      expect(one.headers).not.to.have.property('link');
    });

    it('filters by resource_link_id, resource_id and tag, keeping filters in the next link', async () => {
      const byLink = await allPages(`${base}?resource_link_id=ags-rl-1`);
      expect(byLink.items.map((i) => i.label)).to.deep.equal(['A', 'B']);
      const byResource = await allPages(`${base}?resource_id=r-b`);
      expect(byResource.items.map((i) => i.label)).to.deep.equal(['B', 'E']);
      const res = await api().get(`${base}?tag=quiz&limit=1`).set(auth()).expect(200);
      expect(res.body.map((i: { label: string }) => i.label)).to.deep.equal(['A']);
      const next = new URL(links(res.headers.link).next!);
      expect(next.searchParams.get('tag')).to.equal('quiz');
      expect(next.searchParams.get('limit')).to.equal('1');
    });

    it('serves items in the wire format, with their URL as id', async () => {
      const { items } = await allPages(`${base}?resource_link_id=ags-rl-1`);
      const a = items[0]!;
      expect(a).to.deep.equal({
        id: `${lms.url}${base}/1`,
        label: 'A',
        scoreMaximum: 10,
        resourceLinkId: 'ags-rl-1',
        tag: 'quiz',
      });
      const one = await api()
        .get(pathOf(a.id as string))
        .set(auth(readonlyToken))
        .expect(200);
      expect(one.headers['content-type']).to.equal(MEDIA_TYPE.lineItem);
      expect(one.body).to.deep.equal(a);
    });

    it('negotiates media types: lenient with */* and no Accept, 406 for others', async () => {
      await api().get(base).set(auth()).set('Accept', '*/*').expect(200);
      await api().get(base).set(auth()).set('Accept', 'application/json').expect(200);
      await api()
        .get(base)
        .set(auth())
        .set('Accept', `${MEDIA_TYPE.lineItemContainer}`)
        .expect(200);
      const res = await api().get(base).set(auth()).set('Accept', 'text/html').expect(406);
      expect(res.body.error).to.equal('not_acceptable');
      await api().get(base).set(auth()).set('Accept', MEDIA_TYPE.resultContainer).expect(406);
    });

    it('refuses bad paging parameters and answers 404 for an unknown context', async () => {
      await api().get(`${base}?limit=0`).set(auth()).expect(400);
      await api().get(`${base}?page=x`).set(auth()).expect(400);
      await api().get('/api/lti/contexts/NOPE/lineitems').set(auth()).expect(404);
    });

    it('creates a line item: 201, Location, and the item in the gradebook', async () => {
      const res = await api()
        .post(base)
        .set(auth())
        .set('Accept', MEDIA_TYPE.lineItem)
        .type(MEDIA_TYPE.lineItem)
        .send({
          label: 'Essay',
          scoreMaximum: 25,
          resourceLinkId: 'ags-rl-2',
          resourceId: 'essay-1',
          tag: 'essay',
          startDateTime: '2025-01-01T00:00:00Z',
          endDateTime: '2025-02-01T00:00:00.000+01:00',
          gradesReleased: true,
        })
        .expect(201);
      expect(res.headers['content-type']).to.equal(MEDIA_TYPE.lineItem);
      expect(res.headers.location).to.equal(res.body.id);
      expect(res.body).to.include({ label: 'Essay', scoreMaximum: 25, resourceLinkId: 'ags-rl-2' });
      const created = lms.lineItems('AGS-1').find((i) => i.id === res.body.id)!;
      expect(created).to.include({ label: 'Essay', tag: 'essay', gradesReleased: true });
      expect(created.clientId).to.be.a('string');
      await api().delete(pathOf(res.body.id)).set(auth()).expect(204);
    });

    it('accepts application/json bodies and refuses other media types with 415', async () => {
      const res = await api()
        .post(base)
        .set(auth())
        .send({ label: 'J', scoreMaximum: 1 })
        .expect(201);
      await api().delete(pathOf(res.body.id)).set(auth()).expect(204);
      const wrong = await api()
        .post(base)
        .set(auth())
        .type('text/plain')
        .send('label=x')
        .expect(415);
      expect(wrong.body.error).to.equal('unsupported_media_type');
      await api().post(base).set(auth()).type(MEDIA_TYPE.lineItem).send('{oops').expect(400);
    });

    const invalid: Array<[string, Record<string, unknown>, RegExp]> = [
      ['no label', { scoreMaximum: 1 }, /label/],
      ['an empty label', { label: '  ', scoreMaximum: 1 }, /label/],
      ['no scoreMaximum', { label: 'x' }, /scoreMaximum/],
      ['scoreMaximum 0', { label: 'x', scoreMaximum: 0 }, /scoreMaximum/],
      ['a string scoreMaximum', { label: 'x', scoreMaximum: '10' }, /scoreMaximum/],
      [
        'an unknown resource link',
        { label: 'x', scoreMaximum: 1, resourceLinkId: 'nope' },
        /resource link/,
      ],
      [
        'a link of another context',
        { label: 'x', scoreMaximum: 1, resourceLinkId: 'ags-rl-x' },
        /resource link/,
      ],
      [
        'a date without offset',
        { label: 'x', scoreMaximum: 1, endDateTime: '2025-01-01T00:00:00' },
        /endDateTime/,
      ],
    ];
    for (const [what, body, message] of invalid) {
      it(`refuses a line item with ${what} (400)`, async () => {
        const res = await api()
          .post(base)
          .set(auth())
          .type(MEDIA_TYPE.lineItem)
          .send(body)
          .expect(400);
        expect(res.body.error).to.equal('invalid_request');
        expect(res.body.error_description).to.match(message);
      });
    }

    it('updates with PUT, deletes with DELETE, and is 404 afterwards', async () => {
      const created = await api()
        .post(base)
        .set(auth())
        .type(MEDIA_TYPE.lineItem)
        .send({ label: 'Tmp', scoreMaximum: 5 })
        .expect(201);
      const path = pathOf(created.body.id);
      const put = await api()
        .put(path)
        .set(auth())
        .type(MEDIA_TYPE.lineItem)
        .send({ ...created.body, label: 'Renamed', scoreMaximum: 7, tag: 't' })
        .expect(200);
      expect(put.body).to.deep.equal({
        id: created.body.id,
        label: 'Renamed',
        scoreMaximum: 7,
        tag: 't',
      });
      await api()
        .put(path)
        .set(auth())
        .type(MEDIA_TYPE.lineItem)
        .send({ id: `${lms.url}${base}/1`, label: 'x', scoreMaximum: 1 })
        .expect(400);
      await api()
        .put(path)
        .set(auth(readonlyToken))
        .type(MEDIA_TYPE.lineItem)
        .send({ label: 'x', scoreMaximum: 1 })
        .expect(403);
      await api()
        .post(`${path}/scores`)
        .set(auth())
        .type(MEDIA_TYPE.score)
        .send({
          userId: 's1',
          timestamp: new Date().toISOString(),
          activityProgress: 'Completed',
          gradingProgress: 'FullyGraded',
          scoreGiven: 1,
          scoreMaximum: 7,
        })
        .expect(204);
      await api().delete(path).set(auth()).expect(204);
      await api().get(path).set(auth()).expect(404);
      await api()
        .put(path)
        .set(auth())
        .type(MEDIA_TYPE.lineItem)
        .send({ label: 'x', scoreMaximum: 1 })
        .expect(404);
      await api().delete(path).set(auth()).expect(404);
      await api().get(`${path}/results`).set(auth()).expect(404);
      await api().post(`${path}/scores`).set(auth()).type(MEDIA_TYPE.score).send({}).expect(404);
      expect(lms.lineItems('AGS-1').map((i) => i.id)).not.to.include(created.body.id);
      expect(lms.results(created.body.id)).to.deep.equal([]);
      expect(lms.scores(created.body.id)).to.have.length(1);
    });

    it("keeps each tool's line items to itself; platform items are shared", async () => {
      const mine = await api()
        .post(base)
        .set(auth())
        .type(MEDIA_TYPE.lineItem)
        .send({ label: 'Mine', scoreMaximum: 5 })
        .expect(201);
      const theirs = await allPages(base, otherToken);
      expect(theirs.items.map((i) => i.label)).to.deep.equal(['A', 'B', 'C', 'D', 'E']);
      await api().get(pathOf(mine.body.id)).set(auth(otherToken)).expect(404);
      await api().delete(pathOf(mine.body.id)).set(auth()).expect(204);
    });

    it('answers a line item under another context with 404', async () => {
      const x = lms.lineItems('AGS-2')[0]!;
      const key = x.id.split('/').pop();
      await api().get(`${base}/${key}`).set(auth()).expect(404);
    });
  });

  describe('scores and results', () => {
    let itemPath: string;
    let itemId: string;

    before(() => {
      itemId = lms.addLineItem('AGS-1', { label: 'Scored', scoreMaximum: 100 }).id;
      itemPath = pathOf(itemId);
    });

    const score = (body: Record<string, unknown>, t = token) =>
      api().post(`${itemPath}/scores`).set(auth(t)).type(MEDIA_TYPE.score).send(body);
    const valid = (over: Record<string, unknown> = {}) => ({
      userId: 's1',
      scoreGiven: 80,
      scoreMaximum: 100,
      comment: 'Well done',
      timestamp: '2025-03-01T10:00:00.000Z',
      activityProgress: 'Completed',
      gradingProgress: 'FullyGraded',
      ...over,
    });

    const rules: Array<[string, Record<string, unknown>, RegExp]> = [
      ['no userId', { userId: undefined }, /userId/],
      ['a userId that is not a member', { userId: 'x1' }, /not a member/],
      ['no timestamp', { timestamp: undefined }, /timestamp/],
      ['a timestamp without offset', { timestamp: '2025-03-01T10:00:00' }, /timestamp/],
      ['an impossible date', { timestamp: '2025-02-30T10:00:00Z' }, /timestamp/],
      ['an unknown activityProgress', { activityProgress: 'Done' }, /activityProgress/],
      ['no gradingProgress', { gradingProgress: undefined }, /gradingProgress/],
      ['an unknown gradingProgress', { gradingProgress: 'Graded' }, /gradingProgress/],
      ['scoreGiven without scoreMaximum', { scoreMaximum: undefined }, /scoreMaximum is required/],
      ['scoreMaximum 0', { scoreMaximum: 0 }, /scoreMaximum/],
      ['a negative scoreGiven', { scoreGiven: -1 }, /scoreGiven/],
      ['a string scoreGiven', { scoreGiven: '80' }, /scoreGiven/],
    ];
    for (const [what, over, message] of rules) {
      it(`refuses a score with ${what} (400, JSON)`, async () => {
        const res = await score(valid(over)).expect(400);
        expect(res.body.error).to.equal('invalid_request');
        expect(res.body.error_description).to.match(message);
      });
    }

    it('refuses a score body of another media type (415)', async () => {
      await api().post(`${itemPath}/scores`).set(auth()).type('text/plain').send('x').expect(415);
    });

    it('applies a FullyGraded score to the result, answering 204', async () => {
      const res = await score(valid()).expect(204);
      expect(res.text).to.equal('');
      const [result] = lms.results(itemId);
      expect(result).to.include({
        userId: 's1',
        resultScore: 80,
        resultMaximum: 100,
        comment: 'Well done',
        activityProgress: 'Completed',
        gradingProgress: 'FullyGraded',
      });
      const records = lms.scores(itemId);
      expect(records.at(-1)).to.include({ ignored: false, lineItemId: itemId });
      expect(records.at(-1)!.score).to.include({ scoreGiven: 80 });
    });

    it('ignores a score older than or as old as the last accepted one, still with 204', async () => {
      await score(valid({ scoreGiven: 10, timestamp: '2025-03-01T09:59:59.999Z' })).expect(204);
      await score(valid({ scoreGiven: 20, timestamp: '2025-03-01T11:00:00.000+01:00' })).expect(
        204,
      );
      expect(lms.results(itemId)[0]).to.include({ resultScore: 80 });
      const records = lms.scores(itemId).slice(-2);
      expect(records.map((r) => [r.score.scoreGiven, r.ignored])).to.deep.equal([
        [10, true],
        [20, true],
      ]);
    });

    it('compares timestamps beyond milliseconds', async () => {
      await score(
        valid({ userId: 's3', scoreGiven: 1, timestamp: '2025-03-01T10:00:00.000100Z' }),
      ).expect(204);
      await score(
        valid({ userId: 's3', scoreGiven: 2, timestamp: '2025-03-01T10:00:00.000200Z' }),
      ).expect(204);
      await score(
        valid({ userId: 's3', scoreGiven: 3, timestamp: '2025-03-01T10:00:00.00015Z' }),
      ).expect(204);
      expect(lms.results(itemId).find((r) => r.userId === 's3')).to.include({ resultScore: 2 });
      expect(
        lms
          .scores(itemId)
          .slice(-3)
          .map((r) => r.ignored),
      ).to.deep.equal([false, false, true]);
    });

    it('records progress of non-final scores without touching the score', async () => {
      await score(
        valid({
          scoreGiven: 95,
          timestamp: '2025-03-02T00:00:00Z',
          gradingProgress: 'PendingManual',
          activityProgress: 'Submitted',
          comment: 'pending',
        }),
      ).expect(204);
      expect(lms.results(itemId)[0]).to.include({
        resultScore: 80,
        comment: 'Well done',
        gradingProgress: 'PendingManual',
        activityProgress: 'Submitted',
      });
    });

    it('clears the score on a FullyGraded score without scoreGiven', async () => {
      await score({
        userId: 's2',
        scoreGiven: 5,
        scoreMaximum: 10,
        timestamp: '2025-03-01T00:00:00Z',
        activityProgress: 'Completed',
        gradingProgress: 'FullyGraded',
      }).expect(204);
      await score({
        userId: 's2',
        timestamp: '2025-03-03T00:00:00Z',
        activityProgress: 'Initialized',
        gradingProgress: 'FullyGraded',
      }).expect(204);
      const result = lms.results(itemId).find((r) => r.userId === 's2')!;
      expect(result).not.to.have.property('resultScore');
      expect(result).not.to.have.property('resultMaximum');
    });

    it('keeps extension properties of a score in the record', async () => {
      await score(
        valid({
          userId: 's2',
          timestamp: '2025-03-04T00:00:00Z',
          gradingProgress: 'Pending',
          'https://example.com/ext': { a: 1 },
        }),
      ).expect(204);
      expect(lms.scores(itemId).at(-1)!.score['https://example.com/ext']).to.deep.equal({ a: 1 });
    });

    it('serves results in the wire format, paged with Link next and filtered by user_id', async () => {
      const first = await api()
        .get(`${itemPath}/results`)
        .set(auth())
        .set('Accept', MEDIA_TYPE.resultContainer)
        .expect(200);
      expect(first.headers['content-type']).to.equal(MEDIA_TYPE.resultContainer);
      expect(first.body).to.have.length(2);
      const { items } = await allPages(`${itemPath}/results`);
      expect(items.map((r) => r.userId)).to.deep.equal(['s1', 's3', 's2']);
      expect(items[0]).to.deep.equal({
        id: `${itemId}/results/s1`,
        scoreOf: itemId,
        userId: 's1',
        resultScore: 80,
        resultMaximum: 100,
        comment: 'Well done',
      });
      const s2 = await api().get(`${itemPath}/results?user_id=s2`).set(auth()).expect(200);
      expect(s2.body).to.have.length(1);
      expect(s2.body[0]).to.have.all.keys('id', 'scoreOf', 'userId');
      const limited = await api().get(`${itemPath}/results?limit=1`).set(auth()).expect(200);
      expect(limited.body).to.have.length(1);
      expect(links(limited.headers.link).next).to.include('limit=1');
      await api().get(`${itemPath}/results`).set(auth()).set('Accept', 'text/csv').expect(406);
    });

    it('shows results set by the platform', async () => {
      const id = lms.addLineItem('AGS-1', { label: 'Manual', scoreMaximum: 50 }).id;
      lms.setResult(id, 's1', { resultScore: 40, comment: 'ok' });
      const res = await api()
        .get(`${pathOf(id)}/results`)
        .set(auth())
        .expect(200);
      expect(res.body).to.deep.equal([
        {
          id: `${id}/results/s1`,
          scoreOf: id,
          userId: 's1',
          resultScore: 40,
          resultMaximum: 50,
          comment: 'ok',
        },
      ]);
      expect(() => lms.setResult(id, 'x1', { resultScore: 1 })).to.throw(/not a member/);
    });
  });
});
