import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { createWorker } from '../../src/job-registry.js';
import { addClient, tenantWithClient, type TenantFixture } from '../factories/index.js';
import { gradebook, type GradebookFixture } from '../factories/gradebooks.js';
import { sharedContext, type TestContext } from '../helpers/context.js';
import { journey } from '../helpers/journey.js';
import { assertContract } from '../helpers/progress-contract.js';

const P = '/v2/e01/api/progress/gradebooks';

describe('Progress API: gradebooks', () => {
  let ctx: TestContext;
  let t: TenantFixture;
  let other: TenantFixture;
  let bio: GradebookFixture;
  let chem: GradebookFixture;
  let hist: GradebookFixture;
  const achievement = randomUUID();
  const framework = randomUUID();
  const period = randomUUID();
  const instructor = randomUUID();

  const post = (op: string, body: unknown, token = t.token) =>
    ctx.http
      .post(`${P}/${op}`)
      .set('Authorization', `Bearer ${token}`)
      .set('Content-Type', 'application/json')
      .send(JSON.stringify(body));
  /** collect, checked against the contract, returning the gradebook ids in order. */
  const collectIds = async (body: Record<string, unknown>) => {
    const res = await post('collect', body).expect(200);
    assertContract('/api/progress/gradebooks/collect', 'post', res.body);
    return (res.body as Array<{ gradebookId: string }>).map((g) => g.gradebookId);
  };
  const count = async (body: Record<string, unknown>) => {
    const res = await post('count', body).expect(200);
    assertContract('/api/progress/gradebooks/count', 'post', res.body);
    return res.body.count as number;
  };

  before(async () => {
    ctx = await sharedContext();
    t = await tenantWithClient(ctx, { scopes: ['progress', 'journey'] });
    other = await tenantWithClient(ctx, { scopes: ['progress'] });
    bio = await gradebook(ctx, t.tenantId, {
      classTitle: 'Biology 101',
      gradebookTitle: 'Biology 101 – Fall',
      gradebookType: 'Course',
      reference: 'BIO-101-F',
      achievementId: achievement,
      achievementTitle: 'Biology Certificate',
      frameworkId: framework,
      periodId: period,
      created: '2026-01-05T08:00:00.000Z',
      lastChangeType: 'GradeChanged',
      lastChangeUser: 'Registrar Sync',
      lastChangeTime: '2026-02-01T12:00:00.000Z',
      startsAt: '2026-09-01T00:00:00.000Z',
      endsAt: '2026-12-20T00:00:00.000Z',
      instructors: [{ name: 'Dr. Watson', uuid: instructor }, { name: 'Ada Lovelace' }],
      learners: 3,
    });
    chem = await gradebook(ctx, t.tenantId, {
      classTitle: 'Chemistry 200',
      gradebookTitle: 'Chemistry 200 (100% online)',
      gradebookType: 'Section',
      reference: 'CHEM-200',
      isLocked: true,
      created: '2026-01-10T08:00:00.000Z',
      lastChangeTime: '2026-03-01T00:00:00.000Z',
      startsAt: '2026-09-02T00:00:00.000Z',
      learners: 1,
    });
    hist = await gradebook(ctx, t.tenantId, {
      classTitle: 'History of Science',
      gradebookTitle: 'History of Science',
      reference: null,
      created: '2026-01-20T08:00:00.000Z',
      lastChangeTime: '2026-01-20T08:00:00.000Z',
      startsAt: null,
    });
    await gradebook(ctx, other.tenantId, {
      classTitle: 'Biology 101',
      gradebookTitle: 'Biology 101 – Other school',
    });
  });

  describe('retrieve and assert', () => {
    it('retrieves one gradebook with its class, period, achievement and lock state', async () => {
      const res = await ctx.http
        .get(`${P}/${bio.gradebookId}`)
        .set('Authorization', `Bearer ${t.token}`)
        .expect(200);
      assertContract('/api/progress/gradebooks/{gradebook}', 'get', res.body);
      expect(res.body).to.deep.equal({
        achievementId: achievement,
        eventId: bio.classId,
        frameworkId: framework,
        gradebookId: bio.gradebookId,
        organizationId: t.uuid,
        periodId: period,
        isLocked: false,
        gradebookTitle: 'Biology 101 – Fall',
        gradebookType: 'Course',
        lastChangeType: 'GradeChanged',
        lastChangeUser: 'Registrar Sync',
        reference: 'BIO-101-F',
        gradebookCreated: '2026-01-05T08:00:00.000Z',
        lastChangeTime: '2026-02-01T12:00:00.000Z',
        achievementTitle: 'Biology Certificate',
        classInstructors: 'Ada Lovelace, Dr. Watson',
        classScheduledStartDate: '2026-09-01T00:00:00.000Z',
        classScheduledEndDate: '2026-12-20T00:00:00.000Z',
        classTitle: 'Biology 101',
      });
    });

    it("answers a missing gradebook, or another organization's, with 404 problem details", async () => {
      const missing = randomUUID();
      const res = await ctx.http
        .get(`${P}/${missing}`)
        .set('Authorization', `Bearer ${t.token}`)
        .expect(404);
      expect(res.headers['content-type']).to.match(/^application\/problem\+json/);
      expect(res.body).to.deep.equal({
        type: 'https://tools.ietf.org/html/rfc9110#section-15.5.5',
        title: 'Not Found',
        status: 404,
        detail: `Gradebook ${missing} does not exist.`,
        instance: `${P}/${missing}`,
      });
      await ctx.http
        .get(`${P}/${bio.gradebookId}`)
        .set('Authorization', `Bearer ${other.token}`)
        .expect(404);
      const bad = await ctx.http
        .get(`${P}/not-a-uuid`)
        .set('Authorization', `Bearer ${t.token}`)
        .expect(400);
      expect(bad.body).to.include({ status: 400, title: 'Bad Request' });
      expect(bad.body.errors).to.deep.equal({ gradebook: ['must be a valid guid'] });
    });

    it('answers HEAD with 200 or 404 and no body', async () => {
      const ok = await ctx.http
        .head(`${P}/${bio.gradebookId}`)
        .set('Authorization', `Bearer ${t.token}`)
        .expect(200);
      expect(ok.text ?? '').to.equal('');
      const missing = await ctx.http
        .head(`${P}/${randomUUID()}`)
        .set('Authorization', `Bearer ${t.token}`)
        .expect(404);
      expect(missing.text ?? '').to.equal('');
      await ctx.http
        .head(`${P}/${bio.gradebookId}`)
        .set('Authorization', `Bearer ${other.token}`)
        .expect(404);
    });
  });

  describe('authentication and isolation', () => {
    it('takes the token from the Authorization header or the InSite.WebToken cookie', async () => {
      await ctx.http
        .get(`${P}/${bio.gradebookId}`)
        .set('Cookie', `InSite.WebToken=${t.token}`)
        .expect(200);
      const none = await ctx.http.get(`${P}/${bio.gradebookId}`).expect(401);
      expect(none.body).to.include({ status: 401, title: 'Unauthorized' });
      expect(none.headers['www-authenticate']).to.match(/^Bearer/);
      await ctx.http
        .get(`${P}/${bio.gradebookId}`)
        .set('Cookie', 'InSite.WebToken=forged')
        .expect(401);
      const journeyOnly = await addClient(ctx, t.tenantId, { scopes: ['journey'] });
      const forbidden = await ctx.http
        .get(`${P}/${bio.gradebookId}`)
        .set('Authorization', `Bearer ${journeyOnly.token}`)
        .expect(403);
      expect(forbidden.body).to.include({ status: 403, title: 'Forbidden' });
    });

    it('takes the token from the header named Bearer, as a client generated from the contract sends it', async () => {
      for (const value of [t.token, `Bearer ${t.token}`]) {
        const res = await ctx.http.get(`${P}/${bio.gradebookId}`).set('Bearer', value).expect(200);
        assertContract('/api/progress/gradebooks/{gradebook}', 'get', res.body);
        expect(res.body.gradebookId).to.equal(bio.gradebookId);
      }
      const counted = await ctx.http
        .post(`${P}/count`)
        .set('Bearer', t.token)
        .set('Content-Type', 'application/json')
        .send('{}')
        .expect(200);
      expect(counted.body.count).to.equal(3);
      for (const forged of ['forged', 'Bearer forged', 'Basic abc']) {
        const res = await ctx.http.get(`${P}/${bio.gradebookId}`).set('Bearer', forged).expect(401);
        expect(res.headers['content-type']).to.match(/^application\/problem\+json/);
        expect(res.body).to.include({ status: 401, title: 'Unauthorized' });
        expect(res.headers['www-authenticate']).to.match(/^Bearer/);
      }
      const journeyOnly = await addClient(ctx, t.tenantId, { scopes: ['journey'] });
      const forbidden = await ctx.http
        .get(`${P}/${bio.gradebookId}`)
        .set('Bearer', journeyOnly.token)
        .expect(403);
      expect(forbidden.body).to.include({ status: 403, title: 'Forbidden' });
      await ctx.http.get(`${P}/${bio.gradebookId}`).set('Bearer', other.token).expect(404);
    });

    it('answers Accept: text/json with text/json, and application/json otherwise', async () => {
      const asked = (accept?: string) => {
        const req = ctx.http
          .get(`${P}/${bio.gradebookId}`)
          .set('Authorization', `Bearer ${t.token}`);
        return accept ? req.set('Accept', accept) : req;
      };
      const text = await asked('text/json').expect(200);
      expect(text.headers['content-type']).to.match(/^text\/json/);
      const gradebook = JSON.parse(text.text);
      assertContract('/api/progress/gradebooks/{gradebook}', 'get', gradebook, 'text/json');
      expect(gradebook.gradebookId).to.equal(bio.gradebookId);
      for (const accept of [
        undefined,
        'application/json',
        '*/*',
        'text/json;q=0.5, application/json',
      ])
        expect((await asked(accept).expect(200)).headers['content-type'], accept).to.match(
          /^application\/json/,
        );
      for (const op of ['collect', 'count', 'search']) {
        const res = await post(op, {}).set('Accept', 'text/json').expect(200);
        expect(res.headers['content-type'], op).to.match(/^text\/json/);
        const body = JSON.parse(res.text);
        expect(body, op).not.to.be.empty;
        assertContract(`/api/progress/gradebooks/${op}`, 'post', body, 'text/json');
      }
      const started = await ctx.http
        .get(`${P}/export?isLocked=true`)
        .set('Authorization', `Bearer ${t.token}`)
        .set('Accept', 'text/json')
        .expect(200);
      expect(started.headers['content-type']).to.match(/^text\/json/);
      assertContract(
        '/api/progress/gradebooks/export',
        'get',
        JSON.parse(started.text),
        'text/json',
      );
      const missing = await ctx.http
        .get(`${P}/${randomUUID()}`)
        .set('Authorization', `Bearer ${t.token}`)
        .set('Accept', 'text/json')
        .expect(404);
      expect(missing.headers['content-type']).to.match(/^application\/problem\+json/);
    });

    it('shows a tenant only its own gradebooks', async () => {
      expect(await count({})).to.equal(3);
      const theirs = await post('collect', {}, other.token).expect(200);
      expect(theirs.body.map((g: { gradebookTitle: string }) => g.gradebookTitle)).to.deep.equal([
        'Biology 101 – Other school',
      ]);
      expect(await count({ organizationId: other.uuid })).to.equal(0);
      expect(await count({ organizationId: t.uuid })).to.equal(3);
    });
  });

  describe('requests', () => {
    it('accepts every content type the contract lists, and no body at all', async () => {
      for (const type of [
        'application/json',
        'application/json-patch+json',
        'text/json',
        'application/vnd.insite+json',
      ]) {
        const res = await ctx.http
          .post(`${P}/count`)
          .set('Authorization', `Bearer ${t.token}`)
          .set('Content-Type', type)
          .send('{"isLocked": true}');
        expect(res.status, type).to.equal(200);
        expect(res.body.count, type).to.equal(1);
      }
      const empty = await ctx.http
        .post(`${P}/count`)
        .set('Authorization', `Bearer ${t.token}`)
        .expect(200);
      expect(empty.body.count).to.equal(3);
      const text = await ctx.http
        .post(`${P}/count`)
        .set('Authorization', `Bearer ${t.token}`)
        .set('Content-Type', 'text/plain')
        .send('isLocked=true')
        .expect(415);
      expect(text.body).to.include({ status: 415 });
    });

    it('refuses unknown properties, at the top and inside filter and origin, with a clear 400', async () => {
      const top = await post('collect', { gradebookTitel: 'Bio' }).expect(400);
      expect(top.body.errors).to.deep.equal({ gradebookTitel: ['is not a known field'] });
      expect(top.body.detail).to.include('gradebookTitel is not a known field');
      const nested = await post('search', {
        filter: { pageNumber: 2 },
        origin: { why: 'x' },
      }).expect(400);
      expect(nested.body.errors).to.deep.equal({
        'filter.pageNumber': ['is not a known field'],
        'origin.why': ['is not a known field'],
      });
      const typed = await post('count', {
        isLocked: 'yes',
        classId: 'nope',
        lastChangeSince: 'yesterday',
      }).expect(400);
      expect(Object.keys(typed.body.errors).sort()).to.deep.equal([
        'classId',
        'isLocked',
        'lastChangeSince',
      ]);
      await ctx.http
        .post(`${P}/count`)
        .set('Authorization', `Bearer ${t.token}`)
        .set('Content-Type', 'application/json')
        .send('{"isLocked":')
        .expect(400);
    });
  });

  describe('properties named like built-in ones', () => {
    const NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];
    /** Sends JSON text as it is, so "__proto__" stays a property name. */
    const raw = (op: string, json: string) =>
      ctx.http
        .post(`${P}/${op}`)
        .set('Authorization', `Bearer ${t.token}`)
        .set('Content-Type', 'application/json')
        .send(json);

    it('refuses constructor, __proto__, toString and the like, at the top and inside filter, origin and texts, with the usual 400', async () => {
      for (const name of NAMES) {
        const cases: Array<[string, string, string]> = [
          ['collect', `{"${name}": 1}`, name],
          ['count', `{"filter": {"${name}": 1}}`, `filter.${name}`],
          ['search', `{"origin": {"${name}": "x"}}`, `origin.${name}`],
          ['download', `{"texts": {"${name}": "x"}}`, `texts.${name}`],
          ['count', `{"isLocked": true, "${name}": {"${name}": 2}}`, name],
        ];
        for (const [op, json, path] of cases) {
          const res = await raw(op, json);
          expect(res.status, json).to.equal(400);
          expect(res.headers['content-type'], json).to.match(/^application\/problem\+json/);
          expect(res.body, json).to.include({ status: 400, title: 'Bad Request' });
          expect(Object.keys(res.body.errors), json).to.deep.equal([path]);
          const messages = Object.getOwnPropertyDescriptor(res.body.errors, path)?.value;
          expect(messages, json).to.be.an('array').with.length(1);
          expect(messages[0], json).to.match(/^is not an? (known|accepted) field/);
          expect(res.body.detail, json).to.include(`${path} ${messages[0]}`);
        }
      }
    });

    it('refuses them in the export query string too', async () => {
      for (const name of NAMES) {
        for (const [query, path] of [
          [`${name}=1`, name],
          [`Texts[${name}]=x`, `texts.${name}`],
          [`Filter.${name}=1`, `Filter.${name}`],
        ]) {
          const res = await ctx.http
            .get(`${P}/export?${query}`)
            .set('Authorization', `Bearer ${t.token}`);
          expect(res.status, query).to.equal(400);
          expect(Object.keys(res.body.errors), query).to.deep.equal([path]);
        }
      }
    });
  });

  describe('criteria', () => {
    it('matches ids exactly', async () => {
      expect(await collectIds({ identifier: bio.gradebookId })).to.deep.equal([bio.gradebookId]);
      expect(await collectIds({ identifier: bio.gradebookId.toUpperCase() })).to.deep.equal([
        bio.gradebookId,
      ]);
      expect(await collectIds({ achievementId: achievement })).to.deep.equal([bio.gradebookId]);
      expect(await collectIds({ frameworkId: framework })).to.deep.equal([bio.gradebookId]);
      expect(await collectIds({ periodId: period })).to.deep.equal([bio.gradebookId]);
      expect(await collectIds({ classId: chem.classId })).to.deep.equal([chem.gradebookId]);
      expect(await collectIds({ classInstructorId: instructor })).to.deep.equal([bio.gradebookId]);
      expect(await collectIds({ classInstructorId: randomUUID() })).to.deep.equal([]);
    });

    it('matches titles, type, reference and change fields as case-insensitive contains', async () => {
      expect(await collectIds({ gradebookTitle: 'biology' })).to.deep.equal([bio.gradebookId]);
      expect(await collectIds({ classTitle: 'CHEMISTRY' })).to.deep.equal([chem.gradebookId]);
      expect(await collectIds({ gradebookType: 'sect' })).to.deep.equal([chem.gradebookId]);
      expect(await collectIds({ reference: '101-f' })).to.deep.equal([bio.gradebookId]);
      expect(await collectIds({ lastChangeType: 'gradechanged' })).to.deep.equal([bio.gradebookId]);
      expect(await collectIds({ lastChangeUser: 'registrar' })).to.deep.equal([bio.gradebookId]);
      expect(await collectIds({ gradebookTitle: '100%' })).to.deep.equal([chem.gradebookId]);
      expect(await collectIds({ gradebookTitle: '_' })).to.deep.equal([]);
    });

    it('treats ...Since as inclusive and ...Before as exclusive', async () => {
      expect(
        await collectIds({
          gradebookCreatedSince: '2026-01-10T08:00:00Z',
          filter: { sort: 'gradebookCreated' },
        }),
      ).to.deep.equal([chem.gradebookId, hist.gradebookId]);
      expect(await collectIds({ gradebookCreatedBefore: '2026-01-10T08:00:00Z' })).to.deep.equal([
        bio.gradebookId,
      ]);
      expect(await collectIds({ classStartedSince: '2026-09-02T00:00:00Z' })).to.deep.equal([
        chem.gradebookId,
      ]);
      expect(await collectIds({ classStartedBefore: '2026-09-02T00:00:00Z' })).to.deep.equal([
        bio.gradebookId,
      ]);
      expect(
        await collectIds({
          lastChangeSince: '2026-02-01T12:00:00Z',
          lastChangeBefore: '2026-03-01T00:00:00Z',
        }),
      ).to.deep.equal([bio.gradebookId]);
      expect(
        await collectIds({
          lastChangeSince: '2026-02-01T07:00:00-05:00',
          lastChangeBefore: '2026-02-01T12:00:01Z',
        }),
      ).to.deep.equal([bio.gradebookId]);
    });

    it('filters on the lock state', async () => {
      expect(await collectIds({ isLocked: true })).to.deep.equal([chem.gradebookId]);
      expect(await count({ isLocked: false })).to.equal(2);
      expect(await count({ isLocked: null })).to.equal(3);
    });

    it('searches texts by property, or across every text property with *', async () => {
      expect(await collectIds({ texts: { classInstructors: 'lovelace' } })).to.deep.equal([
        bio.gradebookId,
      ]);
      expect(await collectIds({ texts: { reference: 'chem' } })).to.deep.equal([chem.gradebookId]);
      expect(await collectIds({ texts: { '*': 'science' } })).to.deep.equal([hist.gradebookId]);
      expect(await collectIds({ texts: { '*': 'watson' } })).to.deep.equal([bio.gradebookId]);
      const bad = await post('collect', { texts: { gradebookId: 'x' } }).expect(400);
      expect(bad.body.errors).to.deep.equal({ 'texts.gradebookId': ['is not a known field'] });
    });
  });

  describe('QueryFilter', () => {
    it('sorts by one or more fields, ascending or descending, refusing unknown fields', async () => {
      expect(await collectIds({})).to.deep.equal([
        bio.gradebookId,
        chem.gradebookId,
        hist.gradebookId,
      ]);
      expect(await collectIds({ filter: { sort: 'gradebookTitle desc' } })).to.deep.equal([
        hist.gradebookId,
        chem.gradebookId,
        bio.gradebookId,
      ]);
      expect(
        await collectIds({ filter: { sort: 'isLocked desc, LastChangeTime asc' } }),
      ).to.deep.equal([chem.gradebookId, hist.gradebookId, bio.gradebookId]);
      expect(await collectIds({ filter: { sort: 'reference' } })).to.deep.equal([
        hist.gradebookId,
        bio.gradebookId,
        chem.gradebookId,
      ]);
      const bad = await post('collect', { filter: { sort: 'popularity desc' } }).expect(400);
      expect(bad.body.detail).to.match(
        /^filter\.sort: "popularity desc" is not a sortable property/,
      );
      await post('collect', { filter: { sort: 'gradebookTitle sideways' } }).expect(400);
      await post('collect', { filter: { sort: 'classInstructors' } }).expect(400);
    });

    it('pages from 1 with a page size clamped to 1..100', async () => {
      expect(await collectIds({ filter: { page: 1, pageSize: 2 } })).to.deep.equal([
        bio.gradebookId,
        chem.gradebookId,
      ]);
      expect(await collectIds({ filter: { page: 2, pageSize: 2 } })).to.deep.equal([
        hist.gradebookId,
      ]);
      expect(await collectIds({ filter: { page: 3, pageSize: 2 } })).to.deep.equal([]);
      expect(await collectIds({ filter: { page: 0, pageSize: 0 } })).to.deep.equal([
        bio.gradebookId,
      ]);
      expect(await collectIds({ filter: { pageSize: 1000 } })).to.have.length(3);
    });

    it('shapes results with includes and excludes', async () => {
      const included = await post('collect', {
        identifier: bio.gradebookId,
        filter: { includes: 'gradebookId, GRADEBOOKTITLE,isLocked' },
      }).expect(200);
      assertContract('/api/progress/gradebooks/collect', 'post', included.body);
      expect(included.body).to.deep.equal([
        { gradebookId: bio.gradebookId, gradebookTitle: 'Biology 101 – Fall', isLocked: false },
      ]);
      const excluded = await post('collect', {
        identifier: bio.gradebookId,
        filter: { excludes: 'classInstructors,achievementTitle' },
      }).expect(200);
      expect(Object.keys(excluded.body[0])).to.have.length(17);
      expect(excluded.body[0]).not.to.have.any.keys('classInstructors', 'achievementTitle');
      const both = await post('search', {
        identifier: bio.gradebookId,
        filter: { includes: 'gradebookId,gradebookEnrollmentCount,isLocked', excludes: 'isLocked' },
      }).expect(200);
      expect(both.body).to.deep.equal([
        { gradebookId: bio.gradebookId, gradebookEnrollmentCount: 3 },
      ]);
      const bad = await post('collect', { filter: { includes: 'gradebookId,secret' } }).expect(400);
      expect(bad.body.detail).to.match(
        /^filter\.includes: "secret" is not a property of the result/,
      );
      await post('search', { filter: { excludes: 'classInstructors' } }).expect(400);
    });

    it('refuses a format other than json for collect, count and search', async () => {
      await post('collect', { filter: { format: 'csv' } }).expect(400);
      await post('search', { filter: { format: 'xml' } }).expect(400);
    });
  });

  describe('count and search', () => {
    it('counts with a summary', async () => {
      const res = await post('count', { gradebookTitle: 'o' }).expect(200);
      assertContract('/api/progress/gradebooks/count', 'post', res.body);
      expect(res.body).to.deep.equal({ count: 3, summary: '3 gradebooks' });
      expect((await post('count', { isLocked: true }).expect(200)).body).to.deep.equal({
        count: 1,
        summary: '1 gradebook',
      });
    });

    it('searches with enrollment counts and the learners whose final grade passes', async () => {
      // Final grades for Biology: a letter schema, external column; 2 of 3 learners pass (D=60 and up).
      const course = bio.batchUid;
      await journey(ctx, t.token, 'gradeSchemasAPI', [
        { title: 'Letter', symbols: 'A=90:B=80:C=70:D=60:F=0' },
      ]);
      await journey(ctx, t.token, 'gradableItemsAPI', [
        {
          courseId: course,
          name: 'Final',
          itemType: 'MANUAL_COLUMN',
          points: 100,
          gradeSchema: 'Letter',
        },
      ]);
      await journey(ctx, t.token, 'externalGradeColumnAPI', [{ courseId: course, name: 'Final' }]);
      await journey(ctx, t.token, 'gradeValueAPI', [
        { courseId: course, userId: `${course}-l0`, name: 'Final', value: '95' },
        { courseId: course, userId: `${course}-l1`, name: 'Final', value: '60' },
        { courseId: course, userId: `${course}-l2`, name: 'Final', value: '59.9' },
      ]);
      const res = await post('search', {
        filter: { sort: 'gradebookEnrollmentCount desc' },
      }).expect(200);
      assertContract('/api/progress/gradebooks/search', 'post', res.body);
      expect(res.body[0]).to.deep.equal({
        gradebookId: bio.gradebookId,
        gradebookTitle: 'Biology 101 – Fall',
        gradebookCreated: '2026-01-05T08:00:00.000Z',
        gradebookEnrollmentCount: 3,
        classId: bio.classId,
        classTitle: 'Biology 101',
        classStarted: '2026-09-01T00:00:00.000Z',
        classEnded: '2026-12-20T00:00:00.000Z',
        achievementId: achievement,
        achievementTitle: 'Biology Certificate',
        achievementCountGranted: 2,
        isLocked: false,
      });
      expect(
        res.body.map((m: { gradebookEnrollmentCount: number; achievementCountGranted: number }) => [
          m.gradebookEnrollmentCount,
          m.achievementCountGranted,
        ]),
      ).to.deep.equal([
        [3, 2],
        [1, 0],
        [0, 0],
      ]);
    });

    it('follows every change of a gradebook, its columns or its grades in lastChange*', async () => {
      ctx.clock.set('2026-06-01T10:00:00.000Z');
      try {
        await journey(ctx, t.token, 'gradeValueAPI', [
          { courseId: bio.batchUid, userId: `${bio.batchUid}-l2`, name: 'Final', value: '61' },
        ]);
      } finally {
        ctx.clock.release();
      }
      const res = await ctx.http
        .get(`${P}/${bio.gradebookId}`)
        .set('Authorization', `Bearer ${t.token}`)
        .expect(200);
      expect(res.body).to.include({
        lastChangeType: 'GradeChanged',
        lastChangeUser: t.clientName,
        lastChangeTime: '2026-06-01T10:00:00.000Z',
      });
      expect(await collectIds({ lastChangeSince: '2026-06-01T10:00:00Z' })).to.deep.equal([
        bio.gradebookId,
      ]);
    });
  });

  describe('download', () => {
    it('streams every match as JSON with a content disposition, ignoring paging', async () => {
      const res = await post('download', {
        filter: {
          pageSize: 1,
          sort: 'gradebookTitle',
          includes: 'gradebookId,gradebookTitle,isLocked',
        },
      }).expect(200);
      expect(res.headers['content-type']).to.match(/^application\/json/);
      expect(res.headers['content-disposition']).to.match(
        /^attachment; filename="gradebooks-\d{4}-\d{2}-\d{2}\.json"$/,
      );
      const body = JSON.parse(res.text);
      assertContract('/api/progress/gradebooks/collect', 'post', body);
      expect(body.map((g: { gradebookId: string }) => g.gradebookId)).to.deep.equal([
        bio.gradebookId,
        chem.gradebookId,
        hist.gradebookId,
      ]);
    });

    it('streams CSV with a header row', async () => {
      const res = await post('download', {
        isLocked: true,
        filter: { format: 'csv', includes: 'gradebookTitle,isLocked,reference,achievementId' },
      })
        .buffer(true)
        .parse((r, done) => {
          let text = '';
          r.on('data', (c: Buffer) => (text += c.toString()));
          r.on('end', () => done(null, text));
        })
        .expect(200);
      expect(res.headers['content-type']).to.match(/^text\/csv/);
      expect(res.headers['content-disposition']).to.match(/\.csv"$/);
      expect(res.body).to.equal(
        'gradebookTitle,isLocked,reference,achievementId\nChemistry 200 (100% online),true,CHEM-200,\n',
      );
    });

    it('refuses an unknown format', async () => {
      const res = await post('download', { filter: { format: 'xlsx' } }).expect(400);
      expect(res.body.detail).to.equal(
        'filter.format: "xlsx" is not supported here; use json or csv',
      );
    });
  });

  describe('limits', () => {
    const TEXT_CRITERIA = [
      'classTitle',
      'gradebookTitle',
      'gradebookType',
      'lastChangeType',
      'lastChangeUser',
      'reference',
    ];
    const csv = (op: string, body: unknown) =>
      post(op, body)
        .buffer(true)
        .parse((r, done) => {
          let text = '';
          r.on('data', (c: Buffer) => (text += c.toString()));
          r.on('end', () => done(null, text));
        });

    it('refuses a text criterion over 333 characters with a 400, even a 50 KB one, and downloads nothing', async () => {
      const tooLong = 'x'.repeat(334);
      for (const field of TEXT_CRITERIA) {
        const res = await post('count', { [field]: tooLong }).expect(400);
        expect(res.body.errors, field).to.deep.equal({
          [field]: ['must be at most 333 characters'],
        });
      }
      const huge = 'a%_'.repeat(17_000);
      for (const op of ['collect', 'count', 'search', 'download']) {
        const res = await post(op, { texts: { '*': huge } });
        expect(res.status, op).to.equal(400);
        expect(res.headers['content-type'], op).to.match(/^application\/problem\+json/);
        expect(res.body.errors, op).to.deep.equal({
          'texts.*': ['must be at most 333 characters'],
        });
        expect(res.headers, op).not.to.have.property('content-disposition');
      }
      const download = await csv('download', {
        gradebookTitle: huge,
        filter: { format: 'csv' },
      }).expect(400);
      expect(download.headers['content-type']).to.match(/^application\/problem\+json/);
      const exported = await ctx.http
        .get(`${P}/export?GradebookTitle=${tooLong}`)
        .set('Authorization', `Bearer ${t.token}`)
        .expect(400);
      expect(exported.body.errors).to.deep.equal({
        gradebookTitle: ['must be at most 333 characters'],
      });
    });

    it('searches, counts and downloads with the longest criteria, wildcards and all, on either database', async () => {
      const longest = '%_\\'.repeat(111);
      expect(longest).to.have.length(333);
      const every = Object.fromEntries(TEXT_CRITERIA.map((f) => [f, longest]));
      const texts = {
        '*': longest,
        gradebookTitle: longest,
        classInstructors: longest,
        classTitle: longest,
      };
      expect(await count({ ...every, texts })).to.equal(0);
      expect(await collectIds({ ...every, texts })).to.deep.equal([]);
      expect((await post('search', { texts }).expect(200)).body).to.deep.equal([]);
      const json = await post('download', { ...every, texts }).expect(200);
      expect(JSON.parse(json.text)).to.deep.equal([]);
      const text = await csv('download', {
        texts,
        filter: { format: 'csv', includes: 'gradebookTitle' },
      }).expect(200);
      expect(text.body).to.equal('gradebookTitle\n');
      expect(await count({ gradebookTitle: 'Biology 101 – Fall'.padEnd(333, ' ') })).to.equal(0);
    });

    it('takes dates in years 1 to 9999 only, and pages up to 2,147,483,647', async () => {
      for (const when of [
        '0000-12-31T00:00:00Z',
        '0001-01-01T00:00:00+01:00',
        '9999-12-31T23:00:00-05:00',
        '10000-01-01T00:00:00Z',
      ]) {
        const res = await post('count', { lastChangeSince: when }).expect(400);
        expect(Object.keys(res.body.errors), when).to.deep.equal(['lastChangeSince']);
        const origin = await post('collect', { origin: { when } }).expect(400);
        expect(Object.keys(origin.body.errors), when).to.deep.equal(['origin.when']);
        await post('download', { classStartedBefore: when }).expect(400);
      }
      expect(
        await count({
          gradebookCreatedSince: '0001-01-01T00:00:00Z',
          gradebookCreatedBefore: '9999-12-31T23:59:59.999Z',
          lastChangeSince: '0001-01-01T00:00:00-01:00',
          classStartedBefore: '9999-12-31T23:59:59.999+01:00',
        }),
      ).to.equal(2);
      expect(await collectIds({ filter: { page: 2147483647, pageSize: 100 } })).to.deep.equal([]);
      const tooFar = await post('collect', { filter: { page: 2147483648 } }).expect(400);
      expect(tooFar.body.errors).to.deep.equal({ 'filter.page': ['must be at most 2147483647'] });
      await ctx.http
        .get(`${P}/export?Filter.Page=99999999999999999999`)
        .set('Authorization', `Bearer ${t.token}`)
        .expect(400);
      await ctx.http
        .get(`${P}/export?LastChangeBefore=0000-01-01T00:00:00Z`)
        .set('Authorization', `Bearer ${t.token}`)
        .expect(400);
    });

    it('bounds every string of the request, and shows the bounds in /openapi.json', async () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ texts: { ['x'.repeat(100)]: 'a' } }, `texts.${'x'.repeat(100)}`],
        [{ origin: { reason: 'r'.repeat(1001) } }, 'origin.reason'],
        [{ filter: { sort: 's'.repeat(1001) } }, 'filter.sort'],
        [{ filter: { format: 'csv'.repeat(6) } }, 'filter.format'],
      ];
      for (const [body, path] of cases) {
        const res = await post('count', body).expect(400);
        expect(Object.keys(res.body.errors), path).to.deep.equal([path]);
      }
      const doc = (await ctx.http.get('/openapi.json').expect(200)).body;
      const schema =
        doc.paths['/v2/e01/api/progress/gradebooks/collect'].post.requestBody.content[
          'application/json'
        ].schema;
      const maxLength = (s: { maxLength?: number; anyOf?: Array<{ maxLength?: number }> }) =>
        s.maxLength ?? s.anyOf?.find((a) => a.maxLength)?.maxLength;
      for (const field of TEXT_CRITERIA)
        expect(maxLength(schema.properties[field]), field).to.equal(333);
      const texts = schema.properties.texts.anyOf[0];
      expect(maxLength(texts.additionalProperties)).to.equal(333);
      expect(texts.propertyNames.enum).to.include.members([
        '*',
        'gradebookTitle',
        'classInstructors',
      ]);
      expect(doc.components.securitySchemes).to.deep.include({
        insiteBearer: { type: 'apiKey', in: 'header', name: 'Bearer' },
      });
    });
  });

  describe('export', () => {
    it('starts, is not ready, is ready after the worker ran, and expires; keys are bound to the tenant', async () => {
      const started = await ctx.http
        .get(
          `${P}/export?GradebookTitle=o&Filter.Format=csv&Filter.Sort=gradebookTitle%20desc&Filter.Includes=gradebookTitle,reference&Origin.Reason=term%20report`,
        )
        .set('Authorization', `Bearer ${t.token}`)
        .expect(200);
      assertContract('/api/progress/gradebooks/export', 'get', started.body);
      expect(started.body.exportFormat).to.equal('csv');
      expect(started.body.exportKey).to.match(/^[A-Za-z0-9_-]{43}$/);
      const url = new URL(started.body.downloadUrl);
      expect(url.pathname).to.equal(`${P}/exports/${started.body.exportKey}`);
      const expiry = Date.parse(started.body.expiry);
      expect(expiry - Date.now()).to.be.within(23.9 * 3600_000, 24 * 3600_000);

      const pending = await ctx.http
        .get(url.pathname)
        .set('Authorization', `Bearer ${t.token}`)
        .expect(202);
      expect(pending.headers['retry-after']).to.equal('2');
      expect(pending.body).to.include({ status: 202, title: 'Accepted' });

      const worker = createWorker(ctx.deps);
      expect(await worker.drain()).to.be.at.least(1);
      const ready = await ctx.http
        .get(url.pathname)
        .set('Authorization', `Bearer ${t.token}`)
        .expect(200);
      expect(ready.headers['content-type']).to.match(/^text\/csv/);
      expect(ready.headers['content-disposition']).to.match(
        /^attachment; filename="gradebooks-\d{4}-\d{2}-\d{2}\.csv"$/,
      );
      expect(ready.text).to.equal(
        'gradebookTitle,reference\nHistory of Science,\nChemistry 200 (100% online),CHEM-200\nBiology 101 – Fall,BIO-101-F\n',
      );

      await ctx.http.get(url.pathname).set('Authorization', `Bearer ${other.token}`).expect(404);
      await ctx.http
        .get(`${P}/exports/${'x'.repeat(43)}`)
        .set('Authorization', `Bearer ${t.token}`)
        .expect(404);

      ctx.clock.set(expiry + 1000);
      try {
        const gone = await ctx.http
          .get(url.pathname)
          .set('Authorization', `Bearer ${t.token}`)
          .expect(410);
        expect(gone.body).to.include({ status: 410, title: 'Gone' });
      } finally {
        ctx.clock.release();
      }
    });

    it('exports JSON by default and refuses unknown parameters and fields up front', async () => {
      const started = await ctx.http
        .get(`${P}/export?isLocked=true`)
        .set('Authorization', `Bearer ${t.token}`)
        .expect(200);
      expect(started.body.exportFormat).to.equal('json');
      await createWorker(ctx.deps).drain();
      const ready = await ctx.http
        .get(new URL(started.body.downloadUrl).pathname)
        .set('Authorization', `Bearer ${t.token}`)
        .expect(200);
      const rows = JSON.parse(ready.text);
      assertContract('/api/progress/gradebooks/collect', 'post', rows);
      expect(rows.map((g: { gradebookId: string }) => g.gradebookId)).to.deep.equal([
        chem.gradebookId,
      ]);
      const unknown = await ctx.http
        .get(`${P}/export?Colour=red`)
        .set('Authorization', `Bearer ${t.token}`)
        .expect(400);
      expect(unknown.body.errors).to.deep.equal({ Colour: ['is not a known parameter'] });
      await ctx.http
        .get(`${P}/export?Filter.Sort=colour`)
        .set('Authorization', `Bearer ${t.token}`)
        .expect(400);
      await ctx.http
        .get(`${P}/export?Filter.Format=pdf`)
        .set('Authorization', `Bearer ${t.token}`)
        .expect(400);
      await ctx.http
        .get(`${P}/export?IsLocked=maybe`)
        .set('Authorization', `Bearer ${t.token}`)
        .expect(400);
    });
  });

  describe('origin', () => {
    it('records who asked, when and why in the audit log', async () => {
      const origin = {
        when: '2026-05-01T09:00:00Z',
        organization: t.uuid,
        user: randomUUID(),
        reason: 'Accreditation review',
        source: 'InSite Admin',
      };
      const res = await post('count', { origin, isLocked: true }).set('X-Request-Id', 'audit-1');
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      const row = await ctx.db('audit_log').where({ request_id: 'audit-1' }).first();
      expect(row).to.include({
        tenant_id: t.tenantId,
        api_client_id: t.apiClientId,
        surface: 'progress',
        operation: 'count',
      });
      expect(JSON.parse(row.origin)).to.deep.equal(origin);
      expect(JSON.parse(row.criteria)).to.deep.equal({ isLocked: true });
    });

    it('refuses an origin naming another organization', async () => {
      const res = await post('collect', { origin: { organization: other.uuid } }).expect(400);
      expect(res.body.detail).to.equal("origin.organization is not this token's organization.");
    });
  });
});
