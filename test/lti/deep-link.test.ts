import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import jwt from 'jsonwebtoken';
import { isoNow } from '../../src/db/time.js';
import { inTransaction } from '../../src/db/transaction.js';
import { LmsEmulator, ROLE } from '../../src/emulators/lms/index.js';
import { recordLaunch } from '../../src/lti/launch.js';
import { readClaims } from '../../src/lti/launch-check.js';
import { linkExternalId } from '../../src/lti/mappings.js';
import { registerPlatform, toolUrls } from '../../src/lti/registration.js';
import { tenantWithClient, uniqueId } from '../factories/index.js';
import { Browser } from '../helpers/browser.js';
import { buildContext, type TestContext } from '../helpers/context.js';
import {
  launch,
  launchClaims,
  login,
  sign,
  startTestPlatform,
  type TestPlatform,
} from '../helpers/lti-platform.js';
import { createTestDatabase, postgresSkipReason } from '../helpers/database.js';

const CLAIM = 'https://purl.imsglobal.org/spec/lti/claim/';
const DL = 'https://purl.imsglobal.org/spec/lti-dl/claim/';

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`LTI deep linking: new columns made at the same moment, on ${kind}`, function () {
    this.timeout(60000);
    let ctx: TestContext;
    let session: string;
    let courseId: number;

    before(async function () {
      const reason = kind === 'postgres' ? postgresSkipReason() : null;
      if (reason) {
        process.stderr.write(`    skipped: deep linking on PostgreSQL (${reason})\n`);
        this.skip();
      }
      ctx = await buildContext({ database: await createTestDatabase(kind) });
      const tenantId = (await tenantWithClient(ctx)).tenantId;
      const issuer = `https://lms.example.edu/${uniqueId('dl')}`;
      await registerPlatform(ctx.deps, {
        tenantId,
        issuer,
        clientId: 'dl-client',
        authenticationEndpoint: 'https://lms.example.edu/auth',
        accessTokenEndpoint: 'https://lms.example.edu/token',
        keysetUrl: 'https://lms.example.edu/jwks',
        deploymentIds: ['d1'],
      });
      const deployment = await ctx.db('lti_deployments').where({ issuer }).first('id');
      const claims = readClaims(
        {
          iss: issuer,
          aud: 'dl-client',
          sub: 'teacher',
          [`${CLAIM}version`]: '1.3.0',
          [`${CLAIM}message_type`]: 'LtiDeepLinkingRequest',
          [`${CLAIM}deployment_id`]: 'd1',
          [`${CLAIM}roles`]: ['http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor'],
          [`${CLAIM}context`]: { id: 'ctx-dl', title: 'Physics' },
          'https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings': {
            deep_link_return_url: 'https://lms.example.edu/deep-link/return',
            accept_types: ['ltiResourceLink'],
            data: 'opaque',
          },
        },
        'dl-client',
      );
      const recorded = await inTransaction(ctx.db, (trx) =>
        recordLaunch(trx, { claims, tenantId, deploymentRowId: deployment.id }, isoNow(ctx.clock)),
      );
      courseId = recorded.courseId;
      session = ctx.deps.lti.sessions.issue({
        tenantId,
        userId: recorded.userId,
        courseId,
        ltiContextId: recorded.ltiContextId,
        staff: true,
        deepLinking: claims.deepLinking!,
        deploymentId: 'd1',
      });
    });
    after(async () => {
      await ctx?.db.destroy();
      await ctx?.database.drop();
    });

    /** The deep linking answer the tool signed, from its auto-submitting page. */
    const answer = (text: string) => {
      const token = /name="JWT" value="([^"]+)"/.exec(text)?.[1];
      if (!token) throw new Error(`no JWT in ${text.slice(0, 500)}`);
      return jwt.decode(token) as Record<string, unknown>;
    };

    it('gives each its own column ("Lab", "Lab (2)", ...) and answers every one', async () => {
      const n = 6;
      const responses = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          ctx.http
            .post('/lti/deep-link')
            .type('form')
            .send({ session, title: `Lab link ${i}`, column: 'new', label: 'Lab', points: '20' }),
        ),
      );
      for (const res of responses) expect(res.status, res.text.slice(0, 800)).to.equal(200);
      const columns = await ctx
        .db('grade_columns')
        .where({ course_id: courseId })
        .whereNull('deleted_at')
        .orderBy('id')
        .select('id', 'name');
      expect(columns.map((c) => c.name).sort()).to.deep.equal(
        ['Lab', ...Array.from({ length: n - 1 }, (_, i) => `Lab (${i + 2})`)].sort(),
      );
      // Each answer carries the line item of a different column.
      const resourceIds = responses.map(
        (res) =>
          (
            (answer(res.text)[`${DL}content_items`] as Array<Record<string, unknown>>)[0]!
              .lineItem as Record<string, unknown>
          ).resourceId,
      );
      expect(new Set(resourceIds).size).to.equal(n);
      expect([...resourceIds].sort()).to.deep.equal(
        columns.map((c) => `gradebridge-column-${c.id}`).sort(),
      );
    });
  });
}

describe('LTI deep linking honours the request', function () {
  this.timeout(60000);
  let ctx: TestContext;
  let tenantId: number;
  const issuer = `https://lms.example.edu/${uniqueId('honour')}`;
  const returnUrl = 'https://lms.example.edu/deep-link/return';
  let contexts = 0;

  before(async () => {
    ctx = await buildContext();
    tenantId = (await tenantWithClient(ctx)).tenantId;
    await registerPlatform(ctx.deps, {
      tenantId,
      issuer,
      clientId: 'dl-client',
      authenticationEndpoint: 'https://lms.example.edu/auth',
      accessTokenEndpoint: 'https://lms.example.edu/token',
      keysetUrl: 'https://lms.example.edu/jwks',
      deploymentIds: ['d1'],
    });
  });
  after(async () => {
    await ctx?.deps.exchange.close();
    await ctx?.db.destroy();
    await ctx?.database.drop();
  });

  /** A deep linking launch (in a course of its own) with these deep_linking_settings; its session. */
  const launchWith = async (settings: Record<string, unknown>) => {
    const deployment = await ctx.db('lti_deployments').where({ issuer }).first('id');
    const claims = readClaims(
      {
        iss: issuer,
        aud: 'dl-client',
        sub: 'teacher',
        [`${CLAIM}version`]: '1.3.0',
        [`${CLAIM}message_type`]: 'LtiDeepLinkingRequest',
        [`${CLAIM}deployment_id`]: 'd1',
        [`${CLAIM}roles`]: ['http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor'],
        [`${CLAIM}context`]: { id: `ctx-honour-${++contexts}`, title: 'Physics' },
        [`${DL}deep_linking_settings`]: settings,
      },
      'dl-client',
    );
    const recorded = await inTransaction(ctx.db, (trx) =>
      recordLaunch(trx, { claims, tenantId, deploymentRowId: deployment.id }, isoNow(ctx.clock)),
    );
    const session = ctx.deps.lti.sessions.issue({
      tenantId,
      userId: recorded.userId,
      courseId: recorded.courseId,
      ltiContextId: recorded.ltiContextId,
      staff: true,
      deepLinking: claims.deepLinking!,
      deploymentId: 'd1',
    });
    return { session, courseId: recorded.courseId };
  };

  const settings = (overrides: Record<string, unknown> = {}) => ({
    deep_link_return_url: returnUrl,
    accept_types: ['ltiResourceLink'],
    accept_presentation_document_targets: ['iframe', 'window'],
    data: 'opaque',
    ...overrides,
  });

  const columnsOf = (courseId: number) =>
    ctx.db('grade_columns').where({ course_id: courseId }).whereNull('deleted_at').pluck('name');

  const addColumn = async (courseId: number, name: string) => {
    const [row] = await ctx
      .db('grade_columns')
      .insert({
        tenant_id: tenantId,
        course_id: courseId,
        name,
        item_type: 'ASSIGNMENT',
        points: 10,
        source: 'lti',
        created_at: isoNow(ctx.clock),
        updated_at: isoNow(ctx.clock),
      })
      .returning('id');
    return row.id as number;
  };

  /** The signed answer of an auto-submitting page: where it goes and its claims. */
  const answer = (text: string) => {
    const token = /name="JWT" value="([^"]+)"/.exec(text)?.[1];
    if (!token) throw new Error(`no JWT in ${text.slice(0, 800)}`);
    return {
      action: /<form id="f" method="post" action="([^"]+)"/.exec(text)?.[1],
      claims: jwt.decode(token) as Record<string, unknown>,
    };
  };
  const items = (text: string) =>
    answer(text).claims[`${DL}content_items`] as Array<Record<string, unknown>>;

  const page = (session: string) => ctx.http.get('/lti/deep-link').query({ session });
  const post = (fields: Record<string, string | string[]>) =>
    ctx.http
      .post('/lti/deep-link')
      .type('form')
      .send(
        new URLSearchParams(
          Object.entries(fields).flatMap(([k, v]) =>
            [v].flat().map((x): [string, string] => [k, x]),
          ),
        ).toString(),
      );

  it('places a link with the line item of a new column when the LMS takes them', async () => {
    const { session, courseId } = await launchWith(
      settings({ accept_multiple: false, accept_lineitem: true, auto_create: true }),
    );
    const res = await post({ session, title: 'Lab 1', column: 'new', label: 'Lab', points: '20' });
    expect(res.status, res.text).to.equal(200);
    expect(answer(res.text).action).to.equal(returnUrl);
    const [item] = items(res.text);
    expect(item).to.deep.include({ type: 'ltiResourceLink', title: 'Lab 1' });
    expect(item!.lineItem).to.deep.include({ label: 'Lab', scoreMaximum: 20, tag: 'gradebridge' });
    expect(await columnsOf(courseId)).to.deep.equal(['Lab']);
  });

  it('makes nothing where the LMS does not take gradebridge links (accept_types), and says so', async () => {
    const { session, courseId } = await launchWith(settings({ accept_types: ['file', 'html'] }));
    const shown = await page(session);
    expect(shown.status).to.equal(409);
    expect(shown.headers['content-type']).to.match(/^text\/html/);
    expect(shown.text).to.match(/does not take links to gradebridge/);
    expect(shown.text).to.include('<summary>Technical detail</summary>');
    expect(shown.text).to.include('[&quot;file&quot;,&quot;html&quot;]');
    expect(shown.text).to.include('action="/lti/deep-link/cancel"');
    const res = await post({ session, title: 'Lab', column: 'new', label: 'Lab', points: '5' });
    expect(res.status).to.equal(409);
    expect(await columnsOf(courseId), 'no column the LMS would never receive').to.deep.equal([]);
  });

  it('sends no line item, and makes no column, where the LMS ignores line items (accept_lineitem false)', async () => {
    const { session, courseId } = await launchWith(settings({ accept_lineitem: false }));
    const shown = await page(session);
    expect(shown.status).to.equal(200);
    expect(shown.text).not.to.include('Grade it as');
    expect(shown.text).to.include('does not take line items here');
    const refused = await post({ session, title: 'Lab', column: 'new', label: 'Lab' });
    expect(refused.status).to.equal(400);
    expect(refused.text).to.match(/does not take line items here/);
    expect(await columnsOf(courseId)).to.deep.equal([]);
    const res = await post({ session, title: 'Reading' });
    expect(res.status).to.equal(200);
    expect(items(res.text)).to.have.length(1);
    expect(items(res.text)[0]).not.to.have.property('lineItem');
    expect(await columnsOf(courseId)).to.deep.equal([]);
  });

  it('answers with one item unless the LMS accepts several (accept_multiple)', async () => {
    for (const single of [settings({ accept_multiple: false }), settings()]) {
      const { session, courseId } = await launchWith(single);
      const existing = await addColumn(courseId, 'Quiz');
      const shown = await page(session);
      expect(shown.text).to.include('<select name="column">');
      const res = await post({ session, title: 'Two', column: ['new', String(existing)] });
      expect(res.status).to.equal(400);
      expect(res.text).to.match(/takes one link at a time here/);
      expect(await columnsOf(courseId)).to.deep.equal(['Quiz']);
    }
    const { session, courseId } = await launchWith(settings({ accept_multiple: true }));
    const quiz = await addColumn(courseId, 'Quiz');
    const lab = await addColumn(courseId, 'Lab');
    const shown = await page(session);
    expect(shown.text).to.include('type="checkbox" name="column"');
    const res = await post({ session, title: 'Week 3', column: [String(quiz), String(lab)] });
    expect(res.status, res.text).to.equal(200);
    expect(
      items(res.text).map((i) => [i.title, (i.lineItem as Record<string, unknown>).resourceId]),
    ).to.deep.equal([
      ['Week 3: Quiz', `gradebridge-column-${quiz}`],
      ['Week 3: Lab', `gradebridge-column-${lab}`],
    ]);
  });

  it('tells whether the LMS adds the link at once or asks first (auto_create)', async () => {
    const at = await page((await launchWith(settings({ auto_create: true }))).session);
    expect(at.text).to.include('Your LMS adds what you choose at once.');
    const asks = await page((await launchWith(settings({ auto_create: false }))).session);
    expect(asks.text).to.include('Your LMS shows you what you chose before it adds it.');
    const silent = await page((await launchWith(settings())).session);
    expect(silent.text).not.to.match(/Your LMS (adds|shows)/);
  });

  it('answers missing or unusable settings with a page in plain words, never a 500', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [settings({ accept_types: undefined }), /accept_types is missing/],
      [settings({ accept_types: 'ltiResourceLink' }), /accept_types is not a list/],
      [settings({ accept_types: [] }), /accept_types is empty/],
      [settings({ accept_multiple: 'maybe' }), /accept_multiple is not true or false/],
      [settings({ accept_lineitem: 3 }), /accept_lineitem is not true or false/],
      [settings({ auto_create: {} }), /auto_create is not true or false/],
    ];
    for (const [dl, detail] of cases) {
      const { session, courseId } = await launchWith(dl);
      const shown = await page(session);
      expect(shown.status, JSON.stringify(dl)).to.equal(400);
      expect(shown.text).to.match(/without saying clearly what it accepts here/);
      expect(shown.text).to.include('<summary>Technical detail</summary>');
      expect(shown.text).to.match(detail);
      expect(shown.text).to.include('Return to the LMS without adding anything');
      const res = await post({ session, title: 'Lab', column: 'new', label: 'Lab' });
      expect(res.status, res.text.slice(0, 300)).to.equal(400);
      expect(res.headers['content-type']).to.match(/^text\/html/);
      expect(await columnsOf(courseId)).to.deep.equal([]);
    }
  });

  it('cannot even cancel when the LMS gave no address to return to', async () => {
    const { session } = await launchWith(settings({ deep_link_return_url: 'javascript:alert(1)' }));
    const shown = await page(session);
    expect(shown.status).to.equal(400);
    expect(shown.text).to.match(/gave no address to send it back to/);
    expect(shown.text).not.to.include('action="/lti/deep-link/cancel"');
    const cancel = await ctx.http.post('/lti/deep-link/cancel').type('form').send({ session });
    expect(cancel.status).to.equal(400);
    expect(cancel.text).not.to.include('javascript:alert');
  });

  it('offers Cancel: an empty response to the LMS, and nothing made', async () => {
    const { session, courseId } = await launchWith(settings({ accept_multiple: true }));
    const shown = await page(session);
    expect(shown.text).to.include('action="/lti/deep-link/cancel"');
    expect(shown.text).to.match(
      /<button type="submit" form="deep-link-cancel"[^>]*>Cancel<\/button>/,
    );
    const res = await ctx.http.post('/lti/deep-link/cancel').type('form').send({ session });
    expect(res.status).to.equal(200);
    const { action, claims } = answer(res.text);
    expect(action).to.equal(returnUrl);
    expect(claims).to.deep.include({
      iss: 'dl-client',
      aud: issuer,
      [`${CLAIM}message_type`]: 'LtiDeepLinkingResponse',
      [`${CLAIM}deployment_id`]: 'd1',
      [`${DL}data`]: 'opaque',
    });
    expect(claims[`${DL}content_items`]).to.deep.equal([]);
    expect(await columnsOf(courseId)).to.deep.equal([]);
  });

  it('sends no new line item for a column that already has one on this platform', async () => {
    const { session, courseId } = await launchWith(settings({ accept_multiple: true }));
    const linked = await addColumn(courseId, 'Midterm');
    const elsewhere = await addColumn(courseId, 'Essay');
    const now = isoNow(ctx.clock);
    await linkExternalId(ctx.db, tenantId, 'lineitem', issuer, `${issuer}/li/1`, linked, now);
    await linkExternalId(
      ctx.db,
      tenantId,
      'lineitem',
      'https://other-lms.example.edu',
      'https://other-lms.example.edu/li/1',
      elsewhere,
      now,
    );
    const shown = await page(session);
    expect(shown.text).to.include('Midterm (10 pts), already in the LMS: no new line item');
    const res = await post({
      session,
      title: 'Review',
      column: [String(linked), String(elsewhere)],
    });
    expect(res.status).to.equal(200);
    const [midterm, essay] = items(res.text);
    expect(midterm).not.to.have.property('lineItem');
    expect(essay!.lineItem).to.deep.include({ resourceId: `gradebridge-column-${elsewhere}` });
  });
});

describe('LTI deep linking against the LMS emulator: what the platform accepts', function () {
  this.timeout(60000);
  let ctx: TestContext;
  let server: http.Server;
  let base: string;
  let lms: LmsEmulator;
  let clientId: string;

  before(async () => {
    ctx = await buildContext();
    server = http.createServer(ctx.app.koa.callback());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    lms = await LmsEmulator.start();
    lms.createContext({ id: 'dl-course', title: 'Geology' });
    lms.addMember('dl-course', {
      userId: 'teacher',
      name: 'Mary Anning',
      roles: [ROLE.instructor],
    });
    const urls = toolUrls(base);
    const tool = lms.registerTool({
      name: 'gradebridge',
      loginUrl: urls.login,
      launchUrl: urls.launch,
      keysetUrl: urls.keys,
    });
    clientId = tool.clientId;
    await registerPlatform(ctx.deps, {
      tenantId: (await tenantWithClient(ctx)).tenantId,
      issuer: lms.issuer,
      clientId,
      authenticationEndpoint: lms.endpoints.authorization,
      accessTokenEndpoint: lms.endpoints.token,
      keysetUrl: lms.endpoints.keyset,
      deploymentIds: [tool.deploymentId],
    });
  });
  after(async () => {
    await lms?.close();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await ctx?.deps.exchange.close();
    await ctx?.db.destroy();
    await ctx?.database.drop();
  });

  const deepLink = (browser: Browser, deepLinkingSettings?: Record<string, unknown>) =>
    browser.open(
      lms.loginInitiationUrl({
        toolClientId: clientId,
        userId: 'teacher',
        contextId: 'dl-course',
        messageType: 'LtiDeepLinkingRequest',
        ...(deepLinkingSettings ? { deepLinkingSettings } : {}),
      }),
      { submitForms: true },
    );

  it('returns nothing on Cancel, and the LMS adds nothing', async () => {
    const teacher = new Browser();
    const page = await deepLink(teacher);
    expect(page.status, page.html).to.equal(200);
    const back = await teacher.submit(page, '/lti/deep-link/cancel');
    expect(back.status).to.equal(200);
    expect(back.html).to.include('Nothing was added');
    const last = lms.deepLinkReturns().at(-1)!;
    expect(last).to.deep.include({ accepted: true, contentItems: [] });
    expect(last.createdResourceLinks).to.deep.equal([]);
  });

  it('adds one link per column where the LMS takes several, each with its line item', async () => {
    const teacher = new Browser();
    const first = await deepLink(teacher);
    await teacher.submit(first, '/lti/deep-link', {
      title: 'Rocks',
      column: 'new',
      label: 'Rocks',
    });
    const page = await deepLink(teacher);
    const rocks = /value="(\d+)" \/> Rocks \(100 pts\)/.exec(page.html)?.[1];
    expect(rocks, page.html).to.be.a('string');
    // The browser helper posts one value a field: post the form with two columns directly.
    const session = /name="session" value="([^"]+)"/.exec(page.html)![1]!;
    const res = await fetch(`${base}/lti/deep-link`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `session=${session}&title=Field+trip&column=new&column=${rocks}&label=Trip`,
    });
    expect(res.status).to.equal(200);
    const form = await res.text();
    const action = /<form id="f" method="post" action="([^"]+)"/.exec(form)![1]!;
    const jwtValue = /name="JWT" value="([^"]+)"/.exec(form)![1]!;
    const back = await teacher.open(action, { method: 'POST', form: { JWT: jwtValue } });
    expect(back.status, back.html).to.equal(200);
    const last = lms.deepLinkReturns().at(-1)!;
    expect(last.accepted, last.error).to.equal(true);
    expect(last.createdResourceLinks.map((l) => l.title)).to.deep.equal([
      'Field trip: Trip',
      'Field trip: Rocks',
    ]);
    // Rocks already had its line item from the first link: only Trip's is new.
    expect(last.createdLineItems.map((i) => i.label)).to.deep.equal(['Trip']);
  });

  it('makes no column where the LMS ignores line items, and the LMS makes none either', async () => {
    const teacher = new Browser();
    const page = await deepLink(teacher, { accept_lineitem: false });
    expect(page.html).not.to.include('Grade it as');
    const back = await teacher.submit(page, '/lti/deep-link', { title: 'Reading list' });
    expect(back.status).to.equal(200);
    const last = lms.deepLinkReturns().at(-1)!;
    expect(last.accepted, last.error).to.equal(true);
    expect(last.createdResourceLinks.map((l) => l.title)).to.deep.equal(['Reading list']);
    expect(last.createdLineItems).to.deep.equal([]);
  });
});

describe('LTI deep linking launches whose claims are missing', function () {
  this.timeout(60000);
  let ctx: TestContext;
  let platform: TestPlatform;

  before(async () => {
    ctx = await buildContext();
    platform = await startTestPlatform(ctx, (await tenantWithClient(ctx)).tenantId);
  });
  after(async () => {
    await platform?.close();
    await ctx?.deps.exchange.close();
    await ctx?.db.destroy();
    await ctx?.database.drop();
  });

  const deepLinkingLaunch = async (settings: Record<string, unknown> | undefined) => {
    const { state, nonce, cookie } = await login(ctx, platform);
    const claims = launchClaims(platform, nonce, {
      [`${CLAIM}message_type`]: 'LtiDeepLinkingRequest',
      [`${CLAIM}resource_link`]: undefined,
      ...(settings ? { [`${DL}deep_linking_settings`]: settings } : {}),
    });
    return launch(ctx, { id_token: sign(platform, claims), state }, cookie);
  };

  for (const [what, settings, detail] of [
    ['no deep_linking_settings claim', undefined, /no deep_linking_settings claim/],
    [
      'settings without deep_link_return_url',
      { accept_types: ['ltiResourceLink'] },
      /no deep_link_return_url/,
    ],
  ] as const) {
    it(`refuses a launch with ${what} in plain words, the detail behind a disclosure`, async () => {
      const res = await deepLinkingLaunch(settings);
      expect(res.status).to.equal(400);
      expect(res.headers['content-type']).to.match(/^text\/html/);
      expect(res.text).to.include('without saying where to send it back');
      expect(res.text).to.include('<summary>Technical detail</summary>');
      expect(res.text).to.match(detail);
    });
  }

  it('takes a launch with unusable settings, and its page says so (400, not a 500)', async () => {
    const res = await deepLinkingLaunch({
      deep_link_return_url: `${platform.issuer}/return`,
      accept_types: 'ltiResourceLink',
    });
    expect(res.status, res.text).to.equal(303);
    const page = await ctx.http.get(res.headers.location!);
    expect(page.status).to.equal(400);
    expect(page.text).to.match(/accept_types is not a list/);
    expect(page.text).to.include('Return to the LMS without adding anything');
  });
});
