import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { isoNow } from '../../src/db/time.js';
import { inTransaction } from '../../src/db/transaction.js';
import { LmsEmulator } from '../../src/emulators/lms/index.js';
import { GradeBatch } from '../../src/grades/grade-batch.js';
import { enqueue } from '../../src/jobs/queue.js';
import { createWorker } from '../../src/job-registry.js';
import { replacePlatformEndpoints } from '../../src/lti/registration.js';
import { pullAndRecord } from '../../src/lti/services.js';
import { tenantWithClient, type TenantFixture } from '../factories/index.js';
import { Browser } from '../helpers/browser.js';
import { connectLms } from '../helpers/lms-tool.js';
import { buildContext, type TestContext } from '../helpers/context.js';

const M = 'http://purl.imsglobal.org/vocab/lis/v2/membership#';
const INST = 'http://purl.imsglobal.org/vocab/lis/v2/institution/person#';
const SYS = 'http://purl.imsglobal.org/vocab/lis/v2/system/person#';
const NRPS_SCOPE = 'https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly';

describe('LTI pulls and score passback against the LMS emulator', function () {
  this.timeout(60000);
  let ctx: TestContext;
  let server: http.Server;
  let lms: LmsEmulator;
  let t: TenantFixture;
  let clientId: string;
  let quizId: string;
  let ltiContextId: number;
  let courseId: number;
  const drain = () => createWorker(ctx.deps).drain();

  before(async () => {
    ctx = await buildContext();
    server = http.createServer(ctx.app.koa.callback());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    lms = await LmsEmulator.start();
    t = await tenantWithClient(ctx);
    lms.createContext({ id: 'ctx-pull', title: 'Chemistry 201' });
    lms.addMember('ctx-pull', {
      userId: 'teacher',
      name: 'Marie Curie',
      roles: [`${M}Instructor`],
    });
    lms.addMember('ctx-pull', { userId: 's1', name: 'Linus Pauling', roles: [`${M}Learner`] });
    lms.addMember('ctx-pull', { userId: 's2', name: 'Dorothy Hodgkin', roles: [`${M}Learner`] });
    lms.addResourceLink('ctx-pull', { id: 'link-pull', title: 'Gradebook' });
    const tool = await connectLms(ctx.deps, lms, t.tenantId, base);
    clientId = tool.clientId;
    quizId = lms.addLineItem('ctx-pull', { label: 'Quiz', scoreMaximum: 10 }).id;
    lms.setResult(quizId, 's1', { resultScore: 8 });
    const page = await new Browser().open(
      lms.loginInitiationUrl({
        toolClientId: clientId,
        userId: 'teacher',
        resourceLinkId: 'link-pull',
      }),
      { submitForms: true },
    );
    expect(page.status, page.html).to.equal(200);
    const x = await ctx
      .db('lti_contexts')
      .where({ tenant_id: t.tenantId })
      .first('id', 'course_id');
    ltiContextId = x.id;
    courseId = x.course_id;
  });

  after(async () => {
    await lms?.close();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await ctx?.db.destroy();
    await ctx?.database.drop();
  });

  const roleOf = async (sub: string) =>
    (
      await ctx
        .db('external_ids as e')
        .join('enrollments as en', 'en.user_id', 'e.local_id')
        .where({ 'e.tenant_id': t.tenantId, 'e.kind': 'user', 'e.external_id': sub })
        .where('en.course_id', courseId)
        .first('en.role')
    )?.role as string | undefined;

  const lastPull = async () => {
    const row = await ctx
      .db('lti_contexts')
      .where({ id: ltiContextId })
      .first('last_pull_status', 'last_pull_summary');
    return { status: row.last_pull_status, summary: JSON.parse(row.last_pull_summary) };
  };

  /** Grades a learner in gradebridge, as a teacher's edit would; the passback job is queued with it. */
  const grade = async (sub: string, score: number) => {
    const column = await ctx
      .db('grade_columns')
      .where({ course_id: courseId, name: 'Quiz' })
      .first('id', 'points');
    const user = await ctx
      .db('external_ids')
      .where({ tenant_id: t.tenantId, kind: 'user', external_id: sub })
      .first('local_id');
    const gradedAt = new Date(Date.now() - 1000).toISOString();
    await inTransaction(ctx.db, async (trx) => {
      const batch = new GradeBatch(trx, t.tenantId, gradedAt);
      await batch.load([{ columnId: column.id, userId: user.local_id }]);
      batch.record(
        {
          courseId,
          columnId: column.id,
          userId: user.local_id,
          score,
          grade: String(score),
          pointsPossible: column.points,
          gradedAt,
          graderId: null,
          source: 'teacher',
          idempotencyKey: `pull-test-${sub}-${score}-${Date.now()}`,
        },
        { type: 'GradeChanged', user: 'teacher' },
      );
      await batch.flush();
    });
  };

  it("records each roster member's role from context roles only", async () => {
    lms.addMember('ctx-pull', {
      userId: 'teaches-elsewhere',
      roles: [`${M}Learner`, `${INST}Instructor`, `${SYS}User`],
    });
    lms.addMember('ctx-pull', { userId: 'observer', roles: [`${M}Mentor`], mentees: ['s1'] });
    lms.addMember('ctx-pull', { userId: 'account-admin', roles: [`${INST}Administrator`] });
    lms.addMember('ctx-pull', {
      userId: 'assistant',
      roles: [
        `${M}Instructor`,
        'http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant',
      ],
    });
    await pullAndRecord(ctx.deps, ltiContextId);
    expect((await lastPull()).status).to.equal('ok');
    expect({
      teacher: await roleOf('teacher'),
      s1: await roleOf('s1'),
      teachesElsewhere: await roleOf('teaches-elsewhere'),
      observer: await roleOf('observer'),
      accountAdmin: await roleOf('account-admin'),
      assistant: await roleOf('assistant'),
    }).to.deep.equal({
      teacher: 'Instructor',
      s1: 'Learner',
      teachesElsewhere: 'Learner',
      observer: 'Mentor',
      accountAdmin: 'None',
      assistant: 'TeachingAssistant',
    });
  });

  it('names a person the SIS created without a name from the roster, and keeps names current', async () => {
    const now = isoNow(ctx.clock);
    await ctx.db('users').insert({
      tenant_id: t.tenantId,
      uuid: 'sis-nameless-0001',
      batch_uid: 'SIS-NAMELESS-1',
      name: null,
      kind: 'person',
      created_at: now,
      updated_at: now,
    });
    lms.addMember('ctx-pull', {
      userId: 'nameless',
      name: 'Rosalind Franklin',
      roles: [`${M}Learner`],
      lisPersonSourcedId: 'SIS-NAMELESS-1',
    });
    await pullAndRecord(ctx.deps, ltiContextId);
    const named = await ctx
      .db('users')
      .where({ tenant_id: t.tenantId, batch_uid: 'SIS-NAMELESS-1' })
      .first('name');
    expect(named.name).to.equal('Rosalind Franklin');
  });

  it('renews an access token the platform revoked, and the pull succeeds', async () => {
    await pullAndRecord(ctx.deps, ltiContextId);
    const before = lms.stats.tokenRequests;
    // The platform forgets every token it issued (a restart, a revocation).
    expect(lms.revokeAccessTokens()).to.be.greaterThan(0);
    lms.setResult(quizId, 's2', { resultScore: 6 });
    const summary = await pullAndRecord(ctx.deps, ltiContextId);
    expect(summary.versions).to.equal(1);
    expect((await lastPull()).status).to.equal('ok');
    // One new token per set of scopes the pull uses (roster, line items, results), no more.
    const renewed = lms.stats.tokenRequests - before;
    expect(renewed).to.be.within(1, 3);
    // The new tokens are kept: the next pull asks for none.
    const again = lms.stats.tokenRequests;
    await pullAndRecord(ctx.deps, ltiContextId);
    expect(lms.stats.tokenRequests).to.equal(again);
  });

  it('sends a score with a new token when the platform revoked the cached one', async () => {
    await grade('s1', 9);
    await drain();
    expect(lms.results(quizId).find((r) => r.userId === 's1')).to.deep.include({ resultScore: 9 });
    const before = lms.stats.tokenRequests;
    lms.revokeAccessTokens();
    await grade('s1', 9.5);
    await drain();
    expect(lms.results(quizId).find((r) => r.userId === 's1')).to.deep.include({
      resultScore: 9.5,
    });
    expect(lms.stats.tokenRequests - before).to.equal(1);
    const job = await ctx
      .db('jobs')
      .where({ name: 'lti.score', tenant_id: t.tenantId })
      .orderBy('id', 'desc')
      .first('state', 'attempts');
    expect(job).to.deep.include({ state: 'done', attempts: 1 });
  });

  it('pulls names and labels with NUL characters, lone surrogates or too many characters', async () => {
    lms.addMember('ctx-pull', {
      userId: 's-odd',
      name: `Ro\u0000salind ${'F'.repeat(600)}`,
      email: `r\u0000f@example.edu`,
      roles: [`${M}Learner`],
    });
    lms.addMember('ctx-pull', { userId: 'bad\u0000id', name: 'Nobody', roles: [`${M}Learner`] });
    const item = lms.addLineItem('ctx-pull', {
      label: `Lab\u0000 \uD800report ${'x'.repeat(1000)}`,
      scoreMaximum: 5,
    });
    lms.setResult(item.id, 's-odd', { resultScore: 4 });
    await pullAndRecord(ctx.deps, ltiContextId);
    expect((await lastPull()).status).to.equal('ok');
    const user = await ctx
      .db('external_ids as e')
      .join('users as u', 'u.id', 'e.local_id')
      .where({ 'e.tenant_id': t.tenantId, 'e.kind': 'user', 'e.external_id': 's-odd' })
      .first('u.name', 'u.email');
    expect(user.name).to.equal(`Rosalind ${'F'.repeat(246)}`);
    expect(user.email).to.equal('rf@example.edu');
    const column = await ctx
      .db('grade_columns')
      .where({ course_id: courseId })
      .where('name', 'like', 'Lab%')
      .first('name');
    expect(column.name).to.equal(`Lab \uFFFDreport ${'x'.repeat(333 - 13 - 12)}`);
    const unknown = await ctx
      .db('external_ids')
      .where({ tenant_id: t.tenantId, kind: 'user' })
      .where('external_id', 'like', 'bad%');
    expect(unknown).to.have.length(0);
  });

  describe('when a new token is refused too (the tool was removed from the course)', () => {
    before(() => lms.setToolAvailable('ctx-pull', clientId, false));
    after(() => lms.setToolAvailable('ctx-pull', clientId, true));

    it('reports the failed pull after one renewal, and logs it with the job id', async () => {
      // A roster token is cached, then revoked: the pull renews it once, and is refused again.
      await ctx.deps.lti.engine.accessToken(lms.issuer, clientId, [NRPS_SCOPE]);
      lms.revokeAccessTokens();
      const before = lms.stats.tokenRequests;
      const jobId = await enqueue(ctx.db, 'lti.pull', { ltiContextId }, isoNow(ctx.clock), {
        tenantId: t.tenantId,
        queueKey: `lti.pull:${ltiContextId}`,
        maxAttempts: 3,
      });
      await drain();
      const pull = await lastPull();
      expect(pull.status).to.equal('failed');
      expect(pull.summary.error)
        .to.match(/401/)
        .and.match(/refused/i);
      expect(pull.summary.error).to.include(
        'Access Token not linked to a Tool associated with this Context',
      );
      // One renewal, then the refusal is reported: no loop of token requests.
      expect(lms.stats.tokenRequests - before).to.equal(1);
      const logged = ctx.logs.lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.msg === 'LTI pull failed' && String(l.job) === String(jobId));
      expect(logged, ctx.logs.text().slice(-2000)).to.not.equal(undefined);
      expect(logged).to.deep.include({ ltiContextId, status: 401 });
    });

    it('gives up a score after one renewal, says why, and logs it with the job id', async () => {
      const before = lms.stats.tokenRequests;
      await grade('s2', 4);
      await drain();
      const job = await ctx
        .db('jobs')
        .where({ name: 'lti.score', tenant_id: t.tenantId })
        .orderBy('id', 'desc')
        .first('id', 'state', 'attempts', 'last_error');
      expect(job).to.deep.include({ state: 'dead', attempts: 1 });
      expect(job.last_error).to.match(/401/).and.include('Access Token not linked');
      expect(lms.stats.tokenRequests - before).to.be.at.most(2);
      const logged = ctx.logs.lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.msg === 'LTI score not sent' && String(l.job) === String(job.id));
      expect(logged, ctx.logs.text().slice(-2000)).to.deep.include({ status: 401 });
    });
  });

  it("says when the platform's token endpoint refuses a token, without a retry loop", async () => {
    // The token URL changed on purpose (what an administrator does with `platform replace-endpoints`).
    const register = (token: string) =>
      replacePlatformEndpoints(ctx.deps, {
        tenantId: t.tenantId,
        issuer: lms.issuer,
        clientId,
        accessTokenEndpoint: token,
        reason: 'test: a token endpoint that refuses',
        actor: 'test',
      });
    await ctx.deps.lti.engine.dropAccessTokens(lms.issuer, clientId);
    await register(`${lms.url}/no-token-here`);
    try {
      await pullAndRecord(ctx.deps, ltiContextId).catch(() => undefined);
      const pull = await lastPull();
      expect(pull.status).to.equal('failed');
      expect(pull.summary.error).to.match(
        /^the platform's token endpoint refused an access token for the roster \(Names and Roles\) \(404: /,
      );
    } finally {
      await register(lms.endpoints.token);
    }
    await pullAndRecord(ctx.deps, ltiContextId);
    expect((await lastPull()).status).to.equal('ok');
  });
});
