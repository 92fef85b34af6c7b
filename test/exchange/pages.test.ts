import { expect } from 'chai';
import type { DataSyncEmulator } from '../../src/emulators/datasync/index.js';
import { isoNow } from '../../src/db/time.js';
import { inTransaction } from '../../src/db/transaction.js';
import { pollNow } from '../../src/exchange/jobs.js';
import type { ConnectionRow } from '../../src/exchange/service.js';
import { recordLaunch } from '../../src/lti/launch.js';
import { readClaims } from '../../src/lti/launch-check.js';
import { registerPlatform } from '../../src/lti/registration.js';
import { tenantWithClient, uniqueId, type TenantFixture } from '../factories/index.js';
import { buildContext, type TestContext } from '../helpers/context.js';
import {
  connectedDataSync,
  courseCondition,
  gradedCourses,
  type GradedCourse,
} from '../helpers/exchange.js';

const CLAIM = 'https://purl.imsglobal.org/spec/lti/claim/';

describe('course page: final grades to the SIS and each grade’s sync state', function () {
  this.timeout(30000);
  let ctx: TestContext;
  let t: TenantFixture;
  let course: GradedCourse;
  let ds: DataSyncEmulator;
  let conn: ConnectionRow;
  let staff: string;
  let learner: { token: string; userId: number };
  let remoteId: string;
  const issuer = 'https://lms.pages.example';

  /** A launch into the Journey course (linked by its LIS sourcedid), and a session for the page. */
  async function launch(sub: string, role: string, personSourcedId?: string) {
    const deployment = await ctx.db('lti_deployments').where({ issuer }).first('id');
    const claims = readClaims(
      {
        iss: issuer,
        aud: 'pages-client',
        sub,
        [`${CLAIM}version`]: '1.3.0',
        [`${CLAIM}message_type`]: 'LtiResourceLinkRequest',
        [`${CLAIM}deployment_id`]: 'd1',
        [`${CLAIM}roles`]: [role],
        [`${CLAIM}resource_link`]: { id: 'rl' },
        [`${CLAIM}context`]: { id: 'ctx-pages', title: 'Pages' },
        [`${CLAIM}lis`]: {
          course_offering_sourcedid: course.courseId,
          ...(personSourcedId ? { person_sourcedid: personSourcedId } : {}),
        },
      },
      'pages-client',
    );
    const r = await inTransaction(ctx.db, (trx) =>
      recordLaunch(
        trx,
        { claims, tenantId: t.tenantId, deploymentRowId: deployment.id },
        isoNow(ctx.clock),
      ),
    );
    return {
      userId: r.userId,
      token: ctx.deps.lti.sessions.issue({
        tenantId: r.tenantId,
        userId: r.userId,
        courseId: r.courseId,
        ltiContextId: r.ltiContextId,
        staff: r.staff,
      }),
    };
  }

  before(async () => {
    ctx = await buildContext();
    t = await tenantWithClient(ctx, { scopes: ['journey'] });
    [course] = (await gradedCourses(ctx, t, {
      prefix: uniqueId('P'),
      courses: 1,
      columns: 2,
      learners: 3,
    })) as [GradedCourse];
    await registerPlatform(ctx.deps, {
      tenantId: t.tenantId,
      issuer,
      clientId: 'pages-client',
      authenticationEndpoint: `${issuer}/auth`,
      accessTokenEndpoint: `${issuer}/token`,
      keysetUrl: `${issuer}/jwks`,
      deploymentIds: ['d1'],
    });
    staff = (
      await launch('teacher', 'http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor')
    ).token;
    learner = await launch(
      'learner-0',
      'http://purl.imsglobal.org/vocab/lis/v2/membership#Learner',
      course.learners[0],
    );
    ({ ds, conn } = await connectedDataSync(ctx, t.tenantId));
    // The consumer refuses one learner's grades; everyone else's go through.
    ds.failPerson(course.learners[1]!, 'student_not_enrolled');
    remoteId = ds.createExchange({
      query: { type: 'assignment_scores', conditions: [courseCondition(course.courseId) as never] },
      courseAppId: 'app-1',
    }).id;
    await pollNow(ctx.deps, conn, ctx.deps.logger);
  });
  after(async () => {
    await ds.close();
    await ctx.deps.exchange.close();
    await ctx.db.destroy();
    await ctx.database.drop();
  });

  const columnId = async (name: string) =>
    (
      await ctx
        .db('grade_columns as g')
        .join('courses as c', 'c.id', 'g.course_id')
        .where({ 'c.batch_uid': course.courseId, 'g.name': name })
        .first('g.id')
    ).id as number;
  const userId = async (batchUid: string) =>
    (await ctx.db('users').where({ batch_uid: batchUid }).first('id')).id as number;

  it("shows staff each grade's sync state, the last exchange and a button to send final grades", async () => {
    const page = await ctx.http.get('/lti/app').query({ session: staff });
    expect(page.status).to.equal(200);
    expect(page.text).to.include('Final grades to the SIS (Data Sync)');
    expect(page.text).to.include('Send final grades');
    expect(page.text).to.match(/Last exchange:\s*<strong class="ok"\s*>completed<\/strong/);
    expect(page.text).to.match(/<i class="m sent" role="img" aria-label="sent">✓<\/i>/);
    // A refusal shows its reason in the grade's cell (a disclosure a keyboard or a finger opens).
    expect(page.text).to.match(
      /<summary><i class="m failed" role="img" aria-label="not sent, why">✗<\/i><\/summary><span class="reason">The SIS has no enrollment for this learner in this course\. <span class="muted">\(student_not_enrolled\)/,
    );
    // Two assignments and the final grade for two learners sent; the refused learner's three failed.
    expect(page.text.match(/class="m sent" role="img"/g)).to.have.length(6);
    expect(page.text.match(/class="m failed" role="img"/g)).to.have.length(3);
  });

  it("lists a grade's versions with the exchanges that carried them", async () => {
    const column = await columnId(course.columns[0]!);
    const sent = await ctx.http
      .get('/lti/app/grade')
      .query({ session: staff, column, user: await userId(course.learners[0]!) });
    expect(sent.status).to.equal(200);
    expect(sent.text).to.include('<span class="ok">Sent to the SIS</span>');
    expect(sent.text).to.match(
      new RegExp(`<details>[\\s\\S]*<dt>Exchange</dt>\\s*<dd><code>${remoteId}</code>`),
    );
    const failed = await ctx.http
      .get('/lti/app/grade')
      .query({ session: staff, column, user: await userId(course.learners[1]!) });
    expect(failed.text).to.include('student_not_enrolled');
    const unknown = await ctx.http
      .get('/lti/app/grade')
      .query({ session: staff, column: 999999, user: 1 });
    expect(unknown.status).to.equal(404);
  });

  it('lets a learner see only their own grade history, and not send final grades', async () => {
    const column = await columnId(course.columns[0]!);
    const own = await ctx.http
      .get('/lti/app/grade')
      .query({ session: learner.token, column, user: learner.userId });
    expect(own.status).to.equal(200);
    const other = await ctx.http
      .get('/lti/app/grade')
      .query({ session: learner.token, column, user: await userId(course.learners[1]!) });
    expect(other.status).to.equal(403);
    const send = await ctx.http
      .post('/lti/app/send-final')
      .type('form')
      .send({ session: learner.token });
    expect(send.status).to.equal(403);
    const page = await ctx.http.get('/lti/app').query({ session: learner.token });
    expect(page.text).not.to.include('Send final grades');
  });

  it('queues a send of final grades for the course, once', async () => {
    const first = await ctx.http.post('/lti/app/send-final').type('form').send({ session: staff });
    expect(first.status).to.equal(303);
    // Back to the course page following the send's job (no message in the URL).
    expect(first.headers.location).to.match(/^\/lti\/s\/[^/]+\/app\?job=\d+$/);
    const second = await ctx.http.post('/lti/app/send-final').type('form').send({ session: staff });
    expect(second.headers.location).to.equal(first.headers.location);
    const jobs = await ctx.db('jobs').where({ name: 'datasync.request', state: 'queued' });
    expect(jobs).to.have.length(1);
    const page = await ctx.http.get(first.headers.location!);
    expect(page.text)
      .to.include('Final grades will be sent to the SIS: waiting to start.')
      .and.include('a send is queued');
  });
});
