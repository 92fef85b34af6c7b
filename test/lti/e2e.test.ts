import { expect } from 'chai';
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { inTransaction } from '../../src/db/transaction.js';
import { LmsEmulator } from '../../src/emulators/lms/index.js';
import { GradeBatch } from '../../src/grades/grade-batch.js';
import { createWorker } from '../../src/job-registry.js';
import { registrationLink } from '../../src/lti/dynamic-registration.js';
import { tenantWithClient, type TenantFixture } from '../factories/index.js';
import { Browser } from '../helpers/browser.js';
import { connectLms } from '../helpers/lms-tool.js';
import { buildContext, type TestContext } from '../helpers/context.js';
import { journey } from '../helpers/journey.js';

const ROLE = {
  instructor: 'http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor',
  learner: 'http://purl.imsglobal.org/vocab/lis/v2/membership#Learner',
};

describe('LTI end to end against the LMS emulator', function () {
  this.timeout(60000);
  let ctx: TestContext;
  let server: http.Server;
  let base: string;
  let lms: LmsEmulator;
  let t: TenantFixture;
  let clientId: string;
  let quizId: string;
  const drain = () => createWorker(ctx.deps).drain();

  before(async () => {
    ctx = await buildContext();
    server = http.createServer(ctx.app.koa.callback());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    lms = await LmsEmulator.start();
    t = await tenantWithClient(ctx, { scopes: ['journey', 'history'] });
    // The SIS made the course first, through Journey; the launch links to it by its LIS sourcedid.
    await journey(ctx, t.token, 'gradableItemsAPI', [
      { courseId: 'SIS-BIO-101', name: 'Final Exam', itemType: 'TEST', points: 50 },
    ]);
    lms.createContext({
      id: 'ctx-bio',
      label: 'BIO101',
      title: 'Biology 101',
      lisCourseSourcedId: 'SIS-BIO-101',
    });
    lms.addMember('ctx-bio', {
      userId: 'teacher',
      name: 'Rosalind Franklin',
      email: 'rf@example.edu',
      roles: [ROLE.instructor],
    });
    for (const [id, name] of [
      ['s1', 'Alan Turing'],
      ['s2', 'Grace Hopper'],
      ['s3', 'Katherine Johnson'],
    ]) {
      lms.addMember('ctx-bio', { userId: id!, name, roles: [ROLE.learner] });
    }
    lms.addResourceLink('ctx-bio', { id: 'link-1', title: 'Gradebook' });
    const tool = await connectLms(ctx.deps, lms, t.tenantId, base);
    clientId = tool.clientId;
    quizId = lms.addLineItem('ctx-bio', {
      label: 'Quiz 1',
      scoreMaximum: 10,
      resourceId: 'quiz-1',
    }).id;
    lms.setResult(quizId, 's1', { resultScore: 8 });
    lms.setResult(quizId, 's2', { resultScore: 6.5 });
    const labId = lms.addLineItem('ctx-bio', { label: 'Lab', scoreMaximum: 20 }).id;
    lms.setResult(labId, 's1', { resultScore: 15 });
  });

  after(async () => {
    await lms?.close();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await ctx?.db.destroy();
    await ctx?.database.drop();
  });

  const launchAs = (browser: Browser, userId: string, messageType?: 'LtiDeepLinkingRequest') =>
    browser.open(
      lms.loginInitiationUrl({
        toolClientId: clientId,
        userId,
        contextId: 'ctx-bio',
        ...(messageType ? { messageType } : { resourceLinkId: 'link-1' }),
      }),
      { submitForms: true },
    );

  it('launches the teacher, pulls roster, line items and results, and records nothing new the second time', async () => {
    const teacher = new Browser();
    let page = await launchAs(teacher, 'teacher');
    expect(page.status, page.html).to.equal(200);
    expect(page.url).to.match(/\/lti\/app\?session=/);
    expect(page.html, page.html)
      .to.include('Biology 101')
      .and.include('Rosalind Franklin')
      .and.include('Final Exam');
    const course = await ctx
      .db('courses')
      .where({ tenant_id: t.tenantId, batch_uid: 'SIS-BIO-101' });
    expect(course).to.have.length(1);

    page = await teacher.submit(page, '/lti/app/pull');
    expect(page.html).to.include('A pull from the LMS is queued.');
    expect(await drain()).to.be.at.least(1);
    page = await teacher.open(page.url.replace(/&notice=.*/, ''));
    expect(page.html).to.include('succeeded');
    for (const name of ['Alan Turing', 'Grace Hopper', 'Katherine Johnson'])
      expect(page.html).to.include(name);
    expect(page.html).to.include('Quiz 1').and.include('Lab');

    const versions = await ctx
      .db('grade_versions')
      .where({ tenant_id: t.tenantId, source: 'ags' })
      .orderBy('id');
    expect(versions.map((v) => v.score)).to.have.members([8, 6.5, 15]);
    const roster = await ctx
      .db('enrollments as e')
      .join('users as u', 'u.id', 'e.user_id')
      .where({ 'e.course_id': course[0].id })
      .select('u.name', 'e.role');
    expect(roster.filter((r) => r.role === 'Learner').map((r) => r.name)).to.have.members([
      'Alan Turing',
      'Grace Hopper',
      'Katherine Johnson',
    ]);

    const count = versions.length;
    page = await teacher.submit(page, '/lti/app/pull');
    await drain();
    expect(
      await ctx.db('grade_versions').where({ tenant_id: t.tenantId, source: 'ags' }),
    ).to.have.length(count);

    // A result that changes in the LMS becomes one new version.
    lms.setResult(quizId, 's2', { resultScore: 9 });
    await teacher.submit(page, '/lti/app/pull');
    await drain();
    const after = await ctx
      .db('grade_versions')
      .where({ tenant_id: t.tenantId, source: 'ags' })
      .orderBy('id');
    expect(after).to.have.length(count + 1);
    expect(after.at(-1)!.score).to.equal(9);
  });

  it('sends a grade written in gradebridge back to the LMS as a score', async () => {
    await journey(ctx, t.token, 'gradeValueAPI', [
      { courseId: 'SIS-BIO-101', userId: 'anyone', name: 'Quiz 1', value: '7' },
    ]);
    const quiz = await ctx
      .db('grade_columns as c')
      .join('courses as k', 'k.id', 'c.course_id')
      .where({ 'k.batch_uid': 'SIS-BIO-101', 'c.name': 'Quiz 1' })
      .first('c.id');
    const s3 = await ctx
      .db('external_ids')
      .where({ tenant_id: t.tenantId, kind: 'user', external_id: 's3' })
      .first('local_id');
    const s3user = await ctx.db('users').where({ id: s3.local_id }).first('batch_uid', 'uuid');
    expect(s3user.batch_uid).to.equal(null);
    // Grade s3 by the gradebook's own writer, as a teacher's edit would.
    const gradedAt = '2026-11-22T10:00:00.000Z';
    await inTransaction(ctx.db, async (trx) => {
      const batch = new GradeBatch(trx, t.tenantId, gradedAt);
      await batch.load([{ columnId: quiz.id, userId: s3.local_id }]);
      batch.record(
        {
          courseId: (await trx('grade_columns').where({ id: quiz.id }).first('course_id'))
            .course_id,
          columnId: quiz.id,
          userId: s3.local_id,
          score: 9.5,
          grade: '9.5',
          pointsPossible: 10,
          gradedAt,
          graderId: null,
          source: 'teacher',
          idempotencyKey: 'e2e-teacher-1',
        },
        { type: 'GradeChanged', user: 'teacher' },
      );
      await batch.flush();
    });
    await drain();
    const scores = lms.scores(quizId);
    const sent = scores.find((s) => s.score.userId === 's3');
    expect(sent, JSON.stringify(scores)).to.not.equal(undefined);
    expect(sent!.ignored).to.equal(false);
    expect(sent!.score).to.deep.include({
      userId: 's3',
      scoreGiven: 9.5,
      scoreMaximum: 10,
      timestamp: gradedAt,
      activityProgress: 'Completed',
      gradingProgress: 'FullyGraded',
    });
    expect(lms.results(quizId).find((r) => r.userId === 's3')).to.deep.include({
      resultScore: 9.5,
    });
    // Grades pulled from the LMS are not echoed back to it.
    expect(scores.filter((s) => s.score.userId === 's1')).to.have.length(0);
  });

  it('creates line items for columns made through Journey, and passes their grades back', async () => {
    const teacher = new Browser();
    const page = await launchAs(teacher, 'teacher');
    const after = await teacher.submit(page, '/lti/app/lineitems');
    // Back on the course page, which says where the columns stand (the script shows "1 line item created").
    expect(after.html).to.include('Every column is a line item in the LMS.');
    const created = lms.lineItems('ctx-bio').find((i) => i.label === 'Final Exam');
    expect(created).to.deep.include({ scoreMaximum: 50, tag: 'gradebridge' });
    expect(created!.resourceId).to.match(/^gradebridge-column-\d+$/);
    const s1 = await ctx
      .db('external_ids')
      .where({ tenant_id: t.tenantId, kind: 'user', external_id: 's1' })
      .first('local_id');
    const s1user = await ctx.db('users').where({ id: s1.local_id }).first('batch_uid');
    await ctx
      .db('users')
      .where({ id: s1.local_id })
      .update({ batch_uid: s1user.batch_uid ?? 'SIS-S1' });
    await journey(ctx, t.token, 'gradeValueAPI', [
      { courseId: 'SIS-BIO-101', userId: 'SIS-S1', name: 'Final Exam', value: '41' },
    ]);
    await drain();
    expect(lms.scores(created!.id).map((s) => [s.score.userId, s.score.scoreGiven])).to.deep.equal([
      ['s1', 41],
    ]);
  });

  it('shows a learner only their own grades', async () => {
    const learner = new Browser();
    const page = await launchAs(learner, 's1');
    expect(page.status).to.equal(200);
    expect(page.html).to.include('Your grades').and.include('Alan Turing');
    expect(page.html).not.to.include('Grace Hopper');
    expect(page.html).not.to.include('/lti/app/pull');
  });

  it('places a gradebridge link with a new line item through deep linking', async () => {
    const teacher = new Browser();
    const page = await launchAs(teacher, 'teacher', 'LtiDeepLinkingRequest');
    expect(page.url).to.match(/\/lti\/deep-link\?session=/);
    const back = await teacher.submit(page, '/lti/deep-link', {
      title: 'Weekly check-in',
      column: 'new',
      label: 'Check-in',
      points: '5',
    });
    expect(back.status).to.be.below(400);
    const returns = lms.deepLinkReturns();
    const last = returns.at(-1)!;
    expect(last.accepted, last.error).to.equal(true);
    expect(last.contentItems).to.have.length(1);
    const item = last.contentItems[0] as Record<string, unknown>;
    expect(item).to.deep.include({
      type: 'ltiResourceLink',
      title: 'Weekly check-in',
      url: `${base}/lti/launch`,
    });
    expect(item.lineItem).to.deep.include({
      scoreMaximum: 5,
      label: 'Check-in',
      tag: 'gradebridge',
    });
    // Empty optional fields are left out of the signed response.
    const keys = Object.keys(last.claims!);
    expect(keys).not.to.include('https://purl.imsglobal.org/spec/lti-dl/claim/errormsg');
    expect(keys).not.to.include('https://purl.imsglobal.org/spec/lti-dl/claim/log');
    expect(Object.values(item).every((v) => v !== '' && v !== null && v !== undefined)).to.equal(
      true,
    );
    expect(last.header).to.deep.include({ alg: 'RS256' });
    const column = await ctx
      .db('grade_columns')
      .where({ tenant_id: t.tenantId, name: 'Check-in' })
      .first('id', 'points');
    expect(column.points).to.equal(5);
    expect(
      lms.lineItems('ctx-bio').some((i) => i.resourceId === `gradebridge-column-${column.id}`),
    ).to.equal(true);
  });

  it('pulls from the command line with a JSON summary', async () => {
    lms.setResult(quizId, 's1', { resultScore: 10 });
    const { stdout } = await promisify(execFile)(
      'npm',
      [
        'run',
        '--silent',
        'cli',
        '--',
        'lti',
        'pull',
        '--tenant',
        String(t.tenantId),
        '--context',
        'ctx-bio',
        '--json',
      ],
      {
        env: {
          ...process.env,
          DATA_DIR: ctx.database.dataDir,
          ...(ctx.database.url ? { DATABASE_URL: ctx.database.url } : {}),
        },
      },
    );
    const out = JSON.parse(stdout);
    expect(out).to.deep.include({ tenantId: t.tenantId, context: 'ctx-bio' });
    expect(out.read.members).to.equal(4);
    expect(out.read.lineItems).to.be.at.least(3);
    expect(out.recorded.versions).to.equal(1);
  });

  it('registers a platform by LTI Dynamic Registration for the tenant in the link', async () => {
    const other = await tenantWithClient(ctx);
    const registered = await lms.startDynamicRegistration(
      (await registrationLink(ctx.deps, base, other.tenantId)).url,
    );
    const rows = await ctx.db('lti_deployments').where({ tenant_id: other.tenantId });
    expect(rows.map((r) => [r.client_id, r.deployment_id])).to.deep.equal([
      [registered.clientId, registered.deploymentId],
    ]);
    const browser = new Browser();
    const page = await browser.open(
      lms.loginInitiationUrl({
        toolClientId: registered.clientId,
        userId: 'teacher',
        contextId: 'ctx-bio',
        resourceLinkId: 'link-1',
      }),
      { submitForms: true },
    );
    expect(page.status, page.html).to.equal(200);
    expect(page.html).to.include('Biology 101');
    const forged = await fetch(
      `${base}/lti/register?link=forged&openid_configuration=${encodeURIComponent(lms.endpoints.openidConfiguration)}`,
    );
    expect(forged.status).to.equal(400);
    expect(await forged.text()).to.include('registration link is not valid');
  });
});
