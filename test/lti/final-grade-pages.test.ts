import { expect } from 'chai';
import type { DataSyncEmulator } from '../../src/emulators/datasync/index.js';
import { isoNow } from '../../src/db/time.js';
import { inTransaction } from '../../src/db/transaction.js';
import { setApprovalMode } from '../../src/grades/final-grade-workflow.js';
import { createWorker } from '../../src/job-registry.js';
import { tenantWithClient, uniqueId, type TenantFixture } from '../factories/index.js';
import { buildContext, type TestContext } from '../helpers/context.js';
import { connectedDataSync, gradedCourses, type GradedCourse } from '../helpers/exchange.js';
import { journey } from '../helpers/journey.js';
import {
  launch,
  launchClaims,
  login,
  LTI,
  sign,
  startTestPlatform,
  type TestPlatform,
} from '../helpers/lti-platform.js';

const ROLE = {
  instructor: 'http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor',
  learner: 'http://purl.imsglobal.org/vocab/lis/v2/membership#Learner',
  administrator: 'http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator',
};

/** The text a person reads: tags dropped, entities of quotes decoded, spaces collapsed. */
const words = (html: string) =>
  html
    .replace(/<[^>]*>/g, ' ')
    .replace(/&#39;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ');

/** The page without its "Technical detail" disclosures: what a person sees at first. */
const visible = (html: string) =>
  words(html.replace(/<style>[\s\S]*?<\/style>|<details>[\s\S]*?<\/details>/g, ''));

/** What a button's outcome says, as the app's script shows it in place (no message in a URL). */
const said = (res: { body: { outcome?: { title?: string } } }) => res.body.outcome?.title ?? '';

describe('LTI pages: final grades reviewed, submitted, approved or rejected', function () {
  this.timeout(60000);
  let ctx: TestContext;

  before(async () => {
    ctx = await buildContext();
  });
  after(async () => {
    await ctx.deps.exchange.close();
    await ctx.db.destroy();
    await ctx.database.drop();
  });

  /** A real launch (login, signed id_token, launch) into a course; returns the session token. */
  async function launchAs(
    platform: TestPlatform,
    o: {
      sub: string;
      name: string;
      roles: string[];
      context: string;
      course?: string;
      person?: string;
    },
  ): Promise<string> {
    const l = await login(ctx, platform);
    const claims = launchClaims(platform, l.nonce, {
      sub: o.sub,
      name: o.name,
      email: `${o.sub}@example.edu`,
      [`${LTI}roles`]: o.roles,
      [`${LTI}context`]: { id: o.context, label: o.context, title: `Course ${o.context}` },
      ...(o.course || o.person
        ? {
            [`${LTI}lis`]: {
              ...(o.course ? { course_offering_sourcedid: o.course } : {}),
              ...(o.person ? { person_sourcedid: o.person } : {}),
            },
          }
        : {}),
    });
    const res = await launch(ctx, { id_token: sign(platform, claims), state: l.state }, l.cookie);
    expect(res.status, res.text).to.equal(303);
    return new URL(res.headers.location!, 'http://tool').searchParams.get('session')!;
  }

  const page = async (path: string, session: string, expectStatus = 200) => {
    const res = await ctx.http.get(path).query(path.includes('session=') ? {} : { session });
    expect(res.status, res.text).to.equal(expectStatus);
    expect(res.headers['content-type']).to.match(/^text\/html/);
    return res.text;
  };
  const post = (path: string, form: Record<string, string>) =>
    ctx.http.post(path).type('form').send(form).redirects(0);
  /** The same post as the app's script sends it: the answer is the outcome. */
  const act = (path: string, form: Record<string, string>) =>
    ctx.http
      .post(path)
      .type('form')
      .set({ Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest' })
      .send(form)
      .redirects(0);

  describe('with approval required', () => {
    let t: TenantFixture;
    let platform: TestPlatform;
    let course: GradedCourse;
    let ds: DataSyncEmulator;
    let teacher: string;
    let registrar: string;
    let dean: string;
    let learner: string;
    let newcomer: string;
    const context = 'ctx-fg';

    before(async () => {
      t = await tenantWithClient(ctx, { scopes: ['journey'] });
      await inTransaction(ctx.db, (trx) =>
        setApprovalMode(trx, t.tenantId, 'required', isoNow(ctx.clock)),
      );
      [course] = (await gradedCourses(ctx, t, {
        prefix: uniqueId('FG'),
        courses: 1,
        columns: 2,
        learners: 3,
      })) as [GradedCourse];
      ({ ds } = await connectedDataSync(ctx, t.tenantId));
      platform = await startTestPlatform(ctx, t.tenantId);
      teacher = await launchAs(platform, {
        sub: 'teacher',
        name: 'Ada Lovelace',
        roles: [ROLE.instructor],
        context,
        course: course.courseId,
      });
      // An account administrator: an approver, with no rights in the course.
      registrar = await launchAs(platform, {
        sub: 'registrar',
        name: 'Grace Hopper',
        roles: [ROLE.administrator],
        context,
        course: course.courseId,
      });
      // Teaches the course and is an administrator too: may approve, but not what they submitted.
      dean = await launchAs(platform, {
        sub: 'dean',
        name: 'Dean Rowe',
        roles: [ROLE.instructor, ROLE.administrator],
        context,
        course: course.courseId,
      });
      learner = await launchAs(platform, {
        sub: 'learner-1',
        name: 'Student One',
        roles: [ROLE.learner],
        context,
        course: course.courseId,
        person: course.learners[0],
      });
      // Enrolled from the LMS with no grade: held back from a submission.
      newcomer = await launchAs(platform, {
        sub: 'newcomer',
        name: 'Newt Comer',
        roles: [ROLE.learner],
        context,
        course: course.courseId,
      });
    });
    after(async () => {
      await ds.close();
      await platform.close();
    });

    const learnerId = async (batchUid: string) =>
      (await ctx.db('users').where({ tenant_id: t.tenantId, batch_uid: batchUid }).first('id'))
        .id as number;
    const finalColumnId = async () =>
      (
        await ctx
          .db('grade_columns as g')
          .join('courses as c', 'c.id', 'g.course_id')
          .where({ 'c.batch_uid': course.courseId, 'g.name': 'Final' })
          .first('g.id')
      ).id as number;
    const pendingId = async () =>
      (
        await ctx
          .db('final_grade_submissions')
          .where({ tenant_id: t.tenantId, state: 'submitted' })
          .first('id')
      ).id as number;

    it('tells the teacher approval is required, names the final column, and says what the button does', async () => {
      const text = visible(await page('/lti/app', teacher));
      expect(text)
        .to.include('Approval required')
        .and.include('Final grade column: Final')
        .and.include('No final grades have been submitted for approval yet.')
        .and.include('A submission now would carry 3 final grades')
        .and.include('1 learner is held back')
        .and.include('Submit final grades for approval')
        .and.not.include('Send final grades');
      const html = await page('/lti/app', teacher);
      // The session once, in the page's base; the links relative to it.
      expect(html).to.include(`<base href="/lti/s/${teacher}/" />`);
      expect(html).to.include('href="app/final-grades"');
      // Not an approver: no link to the approvals page.
      expect(html).not.to.include('/lti/app/approvals');
    });

    it('shows the teacher a review of every learner before anything is submitted', async () => {
      const html = await page('/lti/app/final-grades', teacher);
      const text = visible(html);
      expect(text)
        .to.include('Review final grades before you submit them for approval')
        .and.include('3 final grades from the column Final go to the approver')
        .and.include('1 learner is held back: Newt Comer (has no final grade yet')
        .and.include('Not submitted yet')
        .and.include('Held back:');
      for (const id of course.learners) expect(html).to.include(id); // person ids: technical detail
      // Codes only behind the disclosure.
      expect(text).not.to.include('no_final_grade');
      expect(html).to.match(/<details>[\s\S]*no_final_grade[\s\S]*<\/details>/);
      // The confirm form posts to send-final, with a labelled comment.
      expect(html).to.match(/<form\s+method="post"\s+action="app\/send-final"/);
      expect(html).to.match(/<label for="comment"[^>]*>Comment for the approver \(optional\)/);
      expect(html).to.match(/<textarea id="comment" name="comment"/);
      expect(html).to.include('Submit final grades for approval</button>');
      // Reviewing submits nothing.
      expect(await ctx.db('final_grade_submissions').where({ tenant_id: t.tenantId })).to.be.empty;
    });

    it('refuses the review, the confirm and the approvals page to a learner, who sees none of the workflow', async () => {
      expect(await page('/lti/app/final-grades', learner, 403)).to.include(
        'Only course staff can review, submit or send final grades.',
      );
      const send = await post('/lti/app/send-final', { session: learner, comment: 'x' });
      expect(send.status).to.equal(403);
      expect(await page('/lti/app/approvals', learner, 403)).to.include(
        'Only an approver can see and decide',
      );
      const own = visible(await page('/lti/app', learner));
      expect(own).to.include('Your grades');
      for (const hidden of ['Final grades', 'Approval', 'approval', 'submitted', 'Newt Comer'])
        expect(own).not.to.include(hidden);
      expect(await page('/lti/app', newcomer)).not.to.include('final-grades');
    });

    it('submits the final grades with the teacher’s comment, and the course page says they wait for approval', async () => {
      const res = await post('/lti/app/send-final', {
        session: teacher,
        comment: 'Term 1 finals',
      });
      expect(res.status).to.equal(303);
      expect(res.headers.location).to.equal(`/lti/s/${teacher}/app`);
      const text = visible(await page(res.headers.location!, teacher));
      expect(text)
        .to.match(
          /Final grades were submitted by Ada Lovelace on \d+ \w+ \d{4}, \d\d:\d\d UTC and wait for approval \(3 final grades\)\. Their comment: “Term 1 finals”/,
        )
        .and.include('Submitted 3 final grades for approval')
        .and.include('Term 1 finals');
      const review = visible(await page('/lti/app/final-grades', teacher));
      expect(review).to.include('Waiting for approval').and.include('submitting again replaces');
    });

    it('refuses the approvals page to a teacher who is not an approver', async () => {
      expect(await page('/lti/app/approvals', teacher, 403)).to.include(
        'Only an approver can see and decide on final grades waiting for approval.',
      );
      const decide = await post('/lti/app/approvals/decide', {
        session: teacher,
        submission: String(await pendingId()),
        decision: 'approve',
      });
      expect(decide.status).to.equal(403);
      expect(await ctx.db('final_grade_submissions').where({ state: 'approved' })).to.be.empty;
    });

    it('lists the waiting submission for an approver, with its values, and refuses a rejection without a comment', async () => {
      const course_ = visible(await page('/lti/app', registrar));
      expect(course_).to.include('Approvals: final grades waiting for your decision (1)');
      const html = await page('/lti/app/approvals', registrar);
      const text = visible(html);
      expect(text)
        .to.include('Final grades waiting for approval')
        .and.include(course.courseId)
        .and.match(/3 final grades from the column Final, submitted by Ada Lovelace on/)
        .and.include('Their comment: “Term 1 finals”')
        .and.include('Not in this submission: Newt Comer (has no final grade yet');
      expect(html).to.match(/<label for="approve-comment-\d+">Comment \(optional\)/);
      expect(html).to.match(/<label for="reject-comment-\d+"\s*>What should the teacher change\?/);
      expect(html).to.include('Approve these final grades</button>');

      const refused = await post('/lti/app/approvals/decide', {
        session: registrar,
        submission: String(await pendingId()),
        decision: 'reject',
        comment: '  ',
      });
      expect(refused.status).to.equal(400);
      expect(visible(refused.text)).to.include(
        'A rejection needs a comment that tells the teacher what to change.',
      );
      expect(await ctx.db('final_grade_submissions').where({ state: 'rejected' })).to.be.empty;
    });

    it('rejects with a comment that the teacher then reads on the course page', async () => {
      const res = await post('/lti/app/approvals/decide', {
        session: registrar,
        submission: String(await pendingId()),
        decision: 'reject',
        comment: 'Newt Comer needs a final grade',
      });
      expect(res.status).to.equal(303);
      const after = visible(await page(res.headers.location!, registrar));
      expect(after)
        .to.include('Rejected: the teacher sees your comment and can submit again.')
        .and.include('No final grades are waiting for approval.');
      const text = visible(await page('/lti/app', teacher));
      expect(text)
        .to.match(/Rejected by Grace Hopper on .*: “Newt Comer needs a final grade”/)
        .and.include('submit the final grades again')
        .and.include('Rejected the final grades');
    });

    it('lets the dean resubmit but not approve their own submission; another approver approves and the send is queued', async () => {
      const res = await act('/lti/app/send-final', { session: dean, comment: 'Resubmitted' });
      expect(said(res)).to.equal('3 final grades are submitted for approval.');
      const own = await page('/lti/app/approvals', dean);
      expect(visible(own)).to.include(
        'You submitted these final grades: another approver must approve or reject them.',
      );
      expect(own).not.to.include('Approve these final grades');
      const refused = await post('/lti/app/approvals/decide', {
        session: dean,
        submission: String(await pendingId()),
        decision: 'approve',
      });
      expect(refused.status).to.equal(403);
      expect(visible(refused.text)).to.include(
        'Nobody approves or rejects their own submission: another approver must decide.',
      );

      const approved = await act('/lti/app/approvals/decide', {
        session: registrar,
        submission: String(await pendingId()),
        decision: 'approve',
        comment: 'Looks right',
      });
      expect(approved.status).to.equal(200);
      expect(said(approved)).to.equal('Approved: 3 final grades are being sent to the SIS.');
      // The page follows the send's job until it ends.
      expect(approved.body.outcome.poll).to.match(/^app\/jobs\/\d+$/);
      expect(
        await ctx.db('jobs').where({ tenant_id: t.tenantId, name: 'datasync.request' }),
      ).to.have.length(1);
      const text = visible(await page('/lti/app', teacher));
      expect(text)
        .to.match(
          /Approved by Grace Hopper on .* \(3 final grades, submitted by Dean Rowe\): “Looks right”/,
        )
        .and.include('The approved values are what the SIS receives.')
        .and.include('Approved the final grades')
        .and.include('Submitted 3 final grades for approval');
    });

    it('sends the approved values, and the review says so per learner', async () => {
      // Before the send, the review is the dry run: what would go out, compared with the SIS.
      const dry = visible(await page('/lti/app/final-grades', teacher));
      expect(dry)
        .to.include('The SIS accepted')
        .and.include('3 final grades differ from what the SIS holds and would go out');
      await createWorker(ctx.deps).drain();
      const review = visible(await page('/lti/app/final-grades', teacher));
      expect(review).to.include('Sent to the SIS');
      expect(review.match(/Sent to the SIS/g)).to.have.length(3);
      expect(review)
        .to.include('The same everywhere: 3')
        .and.include('0 final grades differ from what the SIS holds');
    });

    it('marks a grade changed after approval on the course page and in that final grade’s history', async () => {
      await journey(ctx, t.token, 'gradeValueAPI', [
        { courseId: course.courseId, userId: course.learners[1], name: 'Assignment 1', value: '0' },
      ]);
      const text = visible(await page('/lti/app', teacher));
      expect(text)
        .to.include(`1 grade changed since approval (${course.learners[1]})`)
        .and.include('The SIS keeps the approved values until the changed grades are submitted')
        .and.match(/final grade changed after it was approved \(approved [\d.]+, now [\d.]+\)/);

      const user = await learnerId(course.learners[1]!);
      const history = visible(
        await page(`/lti/app/grade?column=${await finalColumnId()}&user=${user}`, teacher),
      );
      expect(history)
        .to.include('Approval of this final grade')
        .and.include('final grade changed after it was approved')
        .and.include('Approved the final grades')
        .and.include('Rejected the final grades')
        .and.include('Newt Comer needs a final grade');
      // Another column's history has no approval steps; nor does the learner's own view.
      const assignment = (
        await ctx
          .db('grade_columns as g')
          .join('courses as c', 'c.id', 'g.course_id')
          .where({ 'c.batch_uid': course.courseId, 'g.name': 'Assignment 1' })
          .first('g.id')
      ).id as number;
      expect(
        visible(await page(`/lti/app/grade?column=${assignment}&user=${user}`, teacher)),
      ).not.to.include('Approval of this final grade');
      const ownUser = await learnerId(course.learners[0]!);
      expect(
        visible(
          await page(`/lti/app/grade?column=${await finalColumnId()}&user=${ownUser}`, learner),
        ),
      ).not.to.include('Approval of this final grade');
    });
  });

  describe('with approval off', () => {
    let t: TenantFixture;
    let platform: TestPlatform;
    let course: GradedCourse;
    let ds: DataSyncEmulator;
    let teacher: string;
    let learner: string;

    before(async () => {
      t = await tenantWithClient(ctx, { scopes: ['journey'] });
      [course] = (await gradedCourses(ctx, t, {
        prefix: uniqueId('OFF'),
        courses: 1,
        columns: 1,
        learners: 2,
      })) as [GradedCourse];
      ({ ds } = await connectedDataSync(ctx, t.tenantId));
      platform = await startTestPlatform(ctx, t.tenantId);
      teacher = await launchAs(platform, {
        sub: 'teacher',
        name: 'Ada Lovelace',
        roles: [ROLE.instructor],
        context: 'ctx-off',
        course: course.courseId,
      });
      learner = await launchAs(platform, {
        sub: 'learner',
        name: 'Student',
        roles: [ROLE.learner],
        context: 'ctx-off',
        course: course.courseId,
        person: course.learners[0],
      });
    });
    after(async () => {
      await ds.close();
      await platform.close();
    });

    it('labels the button "Send final grades", reviews the send, and queues it on confirm', async () => {
      const text = visible(await page('/lti/app', teacher));
      expect(text)
        .to.include('Approval off')
        .and.include('Send final grades')
        .and.include('A send now carries 2 final grades, 2 of them changed since the last send')
        .and.not.include('Submit final grades for approval');
      const reviewHtml = await page('/lti/app/final-grades', teacher);
      // A send records no comment, so the review asks for none.
      expect(reviewHtml).not.to.include('name="comment"');
      expect(reviewHtml).to.include('Send final grades</button>');
      const review = visible(reviewHtml);
      expect(review)
        .to.include('Review final grades before you send them')
        .and.include('2 final grades from the column Final go to the SIS through Data Sync')
        .and.include('Not sent yet')
        .and.include('None is held back.');
      const res = await act('/lti/app/send-final', { session: teacher });
      expect(said(res)).to.equal('Final grades will be sent to the SIS: waiting to start.');
      expect(await ctx.db('final_grade_submissions').where({ tenant_id: t.tenantId })).to.be.empty;
    });

    it('refuses the approvals page to a teacher and a learner', async () => {
      await page('/lti/app/approvals', teacher, 403);
      await page('/lti/app/approvals', learner, 403);
      expect(await page('/lti/app', learner)).not.to.include('Send final grades');
    });
  });

  describe('a course without a final grade column', () => {
    let t: TenantFixture;
    let platform: TestPlatform;
    const courseId = uniqueId('NOFINAL');
    const otherId = uniqueId('ORDINARY');
    let teacher: string;
    let otherTeacher: string;
    let learner: string;

    before(async () => {
      t = await tenantWithClient(ctx, { scopes: ['journey'] });
      await inTransaction(ctx.db, (trx) =>
        setApprovalMode(trx, t.tenantId, 'required', isoNow(ctx.clock)),
      );
      for (const id of [courseId, otherId])
        await journey(ctx, t.token, 'gradableItemsAPI', [
          { courseId: id, name: 'Essay', itemType: 'ASSIGNMENT', points: 10 },
          {
            courseId: id,
            name: 'Course total',
            itemType: 'TOTAL_COLUMN',
            points: 10,
            mapping: 'Essay',
          },
        ]);
      await journey(ctx, t.token, 'gradeValueAPI', [
        { courseId, userId: `${courseId}-s1`, name: 'Essay', value: '7' },
      ]);
      platform = await startTestPlatform(ctx, t.tenantId);
      teacher = await launchAs(platform, {
        sub: 'teacher',
        name: 'Ada Lovelace',
        roles: [ROLE.instructor],
        context: 'ctx-none',
        course: courseId,
      });
      otherTeacher = await launchAs(platform, {
        sub: 'teacher',
        name: 'Ada Lovelace',
        roles: [ROLE.instructor],
        context: 'ctx-ordinary',
        course: otherId,
      });
      learner = await launchAs(platform, {
        sub: 'learner',
        name: 'Student',
        roles: [ROLE.learner],
        context: 'ctx-none',
        course: courseId,
        person: `${courseId}-s1`,
      });
    });
    after(async () => {
      await platform.close();
    });

    const columnOf = async (batchUid: string, name: string) =>
      ctx
        .db('grade_columns as g')
        .join('courses as c', 'c.id', 'g.course_id')
        .where({ 'c.tenant_id': t.tenantId, 'c.batch_uid': batchUid, 'g.name': name })
        .first('g.id', 'g.is_final', 'g.is_external');

    it('says so plainly and offers the course’s columns to choose from; the review has nothing to confirm', async () => {
      const html = await page('/lti/app', teacher);
      const text = visible(html);
      expect(text).to.include('No final grade column yet: choose one below');
      expect(text).not.to.include('Submit final grades for approval');
      expect(html).to.match(/<form method="post" action="app\/final-column" data-live>/);
      expect(html).to.match(/<label for="final-column">Final grade column<\/label>/);
      expect(text)
        .to.include('Essay (10 pts)')
        .and.include('Course total (10 pts, weighted or total)');
      const review = await page('/lti/app/final-grades', teacher);
      expect(visible(review)).to.include('No final grade column yet:');
      expect(review).not.to.include('action="app/send-final"');
    });

    it('refuses the choice to a learner', async () => {
      const total = await columnOf(courseId, 'Course total');
      const res = await post('/lti/app/final-column', {
        session: learner,
        column: String(total.id),
      });
      expect(res.status).to.equal(403);
      expect((await columnOf(courseId, 'Course total')).is_final).to.be.oneOf([false, 0]);
    });

    it('marks a total column final, after which the teacher can review and submit', async () => {
      const total = await columnOf(courseId, 'Course total');
      const res = await act('/lti/app/final-column', {
        session: teacher,
        column: String(total.id),
      });
      expect(res.status).to.equal(200);
      expect(said(res)).to.equal(
        'Course total is now the final grade column (a weighted or total column marked final).',
      );
      expect((await columnOf(courseId, 'Course total')).is_final).to.be.oneOf([true, 1]);
      const text = visible(await page('/lti/app', teacher));
      expect(text)
        .to.include('Final grade column: Course total')
        .and.include('Submit final grades for approval')
        .and.not.include('No final grade column yet');
      expect(await page('/lti/app/final-grades', teacher)).to.include('action="app/send-final"');
      // A second choice is refused: the course has its final column.
      const again = await post('/lti/app/final-column', {
        session: teacher,
        column: String((await columnOf(courseId, 'Essay')).id),
      });
      expect(again.status).to.equal(409);
      expect(visible(again.text)).to.include(
        'This course already has a final grade column: Course total.',
      );
    });

    it('makes an ordinary column the external grade column, and no other course’s column', async () => {
      const foreign = await columnOf(courseId, 'Essay');
      const refused = await post('/lti/app/final-column', {
        session: otherTeacher,
        column: String(foreign.id),
      });
      expect(refused.status).to.equal(409);
      expect(visible(refused.text)).to.include('That column is not in this course.');
      const essay = await columnOf(otherId, 'Essay');
      const res = await act('/lti/app/final-column', {
        session: otherTeacher,
        column: String(essay.id),
      });
      expect(said(res)).to.equal(
        "Essay is now the final grade column (the course's external grade column).",
      );
      expect((await columnOf(otherId, 'Essay')).is_external).to.be.oneOf([true, 1]);
      expect(visible(await page('/lti/app', otherTeacher))).to.include('Final grade column: Essay');
    });
  });

  it('documents the pages in /openapi.json', async () => {
    const doc = (await ctx.http.get('/openapi.json').expect(200)).body as {
      paths: Record<string, Record<string, unknown>>;
    };
    expect(doc.paths['/lti/app/final-grades']).to.have.property('get');
    expect(doc.paths['/lti/app/send-final']).to.have.property('post');
    expect(doc.paths['/lti/app/final-column']).to.have.property('post');
    expect(doc.paths['/lti/app/approvals']).to.have.property('get');
    expect(doc.paths['/lti/app/approvals/decide']).to.have.property('post');
  });
});
