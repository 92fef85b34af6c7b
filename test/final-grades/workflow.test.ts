import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ensureUsersByBatchUid } from '../../src/courses/service.js';
import { isoNow } from '../../src/db/time.js';
import { inTransaction } from '../../src/db/transaction.js';
import { setApprovalMode } from '../../src/grades/final-grade-workflow.js';
import { tenantWithClient, uniqueId, type TenantFixture } from '../factories/index.js';
import { buildContext, type TestContext } from '../helpers/context.js';
import { gradedCourses, type GradedCourse } from '../helpers/exchange.js';
import { journey } from '../helpers/journey.js';
import { processEnv } from '../helpers/server-process.js';

const run = promisify(execFile);
const API = '/gradebridge/v1';

/** A second API client of the same tenant, with other scopes. */
async function clientOf(ctx: TestContext, t: TenantFixture, scopes: string[], name: string) {
  const { createApiClient } = await import('../../src/tenants/service.js');
  return inTransaction(ctx.db, async (trx) => {
    const { client } = await createApiClient(
      trx,
      { tenantId: t.tenantId, scopes, name },
      isoNow(ctx.clock),
    );
    return ctx.deps.tokens.issue({
      clientId: client.clientId,
      tenantId: t.tenantId,
      apiClientId: client.id,
      scopes,
    }).token;
  });
}

describe('final grades: review, submit, approve, reject', function () {
  this.timeout(120000);
  let ctx: TestContext;
  let t: TenantFixture;
  let course: GradedCourse;
  let teacher: string;
  let approver: string;
  let both: string;

  before(async () => {
    ctx = await buildContext();
    t = await tenantWithClient(ctx, { scopes: ['journey', 'final-grades'] });
    [course] = await gradedCourses(ctx, t, {
      prefix: uniqueId('FG'),
      courses: 1,
      columns: 2,
      learners: 3,
    });
    teacher = t.token;
    approver = await clientOf(ctx, t, ['approval'], 'Registrar office');
    both = await clientOf(ctx, t, ['final-grades', 'approval'], 'Dean');
    await inTransaction(ctx.db, (trx) =>
      setApprovalMode(trx, t.tenantId, 'required', isoNow(ctx.clock)),
    );
  });
  after(async () => {
    await ctx.deps.exchange.close();
    await ctx.db.destroy();
    await ctx.database.drop();
  });

  const status = async (token = teacher) =>
    (
      await ctx.http
        .get(`${API}/courses/${course.courseId}/final-grades`)
        .set('Authorization', `Bearer ${token}`)
        .expect(200)
    ).body;
  const post = (path: string, token: string, body: Record<string, unknown> = {}) =>
    ctx.http.post(`${API}${path}`).set('Authorization', `Bearer ${token}`).send(body);
  const submitNow = async (token = teacher, comment?: string) =>
    (
      await post(`/courses/${course.courseId}/final-grades/submissions`, token, { comment }).expect(
        201,
      )
    ).body.submission;

  it('goes submit, reject, resubmit, approve, change after approval, resubmit, approve', async () => {
    let s = await status();
    expect(s.approvalMode).to.equal('required');
    expect(s.finalColumn).to.include({ name: 'Final' });
    expect(s.learners).to.have.length(3);
    expect(s.learners.every((l: { state: string }) => l.state === 'draft')).to.equal(true);
    // Nothing approved: a send now carries no final grade.
    expect(s.send.finalGrades).to.equal(0);

    const first = await submitNow(teacher, 'end of term');
    expect(first).to.include({ state: 'submitted', learners: 3, comment: 'end of term' });
    s = await status();
    expect(s.pending.id).to.equal(first.id);
    expect(s.learners.map((l: { state: string }) => l.state)).to.deep.equal([
      'submitted',
      'submitted',
      'submitted',
    ]);

    // A rejection needs a comment; the teacher sees it.
    await post(`/final-grades/submissions/${first.id}/reject`, approver, {}).expect(400);
    const rejected = await post(`/final-grades/submissions/${first.id}/reject`, approver, {
      comment: 'Learner 2 is missing the essay',
    }).expect(200);
    expect(rejected.body.submission).to.include({
      state: 'rejected',
      decidedBy: 'Registrar office',
      decisionComment: 'Learner 2 is missing the essay',
    });
    s = await status();
    expect(s.rejected.decisionComment).to.equal('Learner 2 is missing the essay');
    expect(s.learners[0].state).to.equal('rejected');
    await post(`/final-grades/submissions/${first.id}/approve`, approver).expect(409);

    const second = await submitNow();
    // Only approvers decide, and nobody decides on their own submission.
    await post(`/final-grades/submissions/${second.id}/approve`, teacher).expect(403);
    const own = await submitNow(both);
    expect((await status()).pending.id).to.equal(own.id);
    const refused = await post(`/final-grades/submissions/${own.id}/approve`, both).expect(403);
    expect(refused.body.error.message).to.match(/own submission/);
    const approved = await post(`/final-grades/submissions/${own.id}/approve`, approver, {
      comment: 'ok',
    }).expect(200);
    expect(approved.body).to.deep.include({ sendQueued: false });
    expect(approved.body.submission.state).to.equal('approved');
    s = await status();
    expect(s.pending).to.equal(null);
    expect(s.learners.every((l: { state: string }) => l.state === 'approved')).to.equal(true);
    expect(s.send.finalGrades).to.equal(3);
    const before = s.learners.find((l: { userId: string }) => l.userId === course.learners[0]);

    // A grade changes after approval: recorded, marked, and the approved value stays what goes out.
    await journey(ctx, t.token, 'gradeValueAPI', [
      {
        courseId: course.courseId,
        userId: course.learners[0],
        name: course.columns[0],
        value: '0',
      },
    ]);
    s = await status();
    const changed = s.learners.find((l: { userId: string }) => l.userId === course.learners[0]);
    expect(changed.state).to.equal('changed_since_approval');
    expect(changed.flags).to.include('changed_since_approval');
    expect(changed.outgoing).to.deep.equal(before.approved);
    expect(changed.score).to.not.equal(before.score);
    const events = (
      await ctx.http
        .get(`${API}/courses/${course.courseId}/final-grades/events`)
        .set('Authorization', `Bearer ${approver}`)
        .expect(200)
    ).body.events.map((e: { kind: string }) => e.kind);
    expect(events).to.deep.equal([
      'changed_since_approval',
      'approved',
      'submitted',
      'replaced',
      'submitted',
      'rejected',
      'submitted',
    ]);

    const third = await submitNow();
    await post(`/final-grades/submissions/${third.id}/approve`, approver).expect(200);
    s = await status();
    const now = s.learners.find((l: { userId: string }) => l.userId === course.learners[0]);
    expect(now.state).to.equal('approved');
    expect(now.outgoing).to.deep.equal({ score: now.score, grade: now.grade });
  });

  it("refuses another tenant's course and clients without the scopes", async () => {
    const other = await tenantWithClient(ctx, { scopes: ['final-grades', 'approval'] });
    await ctx.http
      .get(`${API}/courses/${course.courseId}/final-grades`)
      .set('Authorization', `Bearer ${other.token}`)
      .expect(404);
    const pending = (
      await post(`/courses/${course.courseId}/final-grades/submissions`, teacher).expect(201)
    ).body.submission;
    await post(`/final-grades/submissions/${pending.id}/approve`, other.token).expect(404);
    const journeyOnly = await tenantWithClient(ctx, { scopes: ['journey'] });
    await ctx.http
      .get(`${API}/courses/${course.courseId}/final-grades`)
      .set('Authorization', `Bearer ${journeyOnly.token}`)
      .expect(403);
    await ctx.http.get(`${API}/courses/${course.courseId}/final-grades`).expect(401);
    const listed = await ctx.http
      .get(`${API}/final-grades/submissions`)
      .set('Authorization', `Bearer ${approver}`)
      .expect(200);
    expect(listed.body.submissions.map((x: { id: number }) => x.id)).to.deep.equal([pending.id]);
  });

  it('holds back a learner without a final grade and says why', async () => {
    const [c] = await gradedCourses(ctx, t, {
      prefix: uniqueId('FH'),
      courses: 1,
      columns: 2,
      learners: 2,
    });
    await journey(ctx, t.token, 'userMetadataAPI', [{ courseId: c!.courseId, userId: 'newcomer' }]);
    const s = (
      await ctx.http
        .get(`${API}/courses/${c!.courseId}/final-grades`)
        .set('Authorization', `Bearer ${teacher}`)
        .expect(200)
    ).body;
    const newcomer = s.learners.find((l: { userId: string }) => l.userId === 'newcomer');
    expect(newcomer.blocked).to.equal(true);
    expect(newcomer.flags).to.include('no_final_grade');
    expect(newcomer.flags).to.include('missing_grade');
    expect(s.send.blocked).to.equal(1);
    const submitted = (
      await post(`/courses/${c!.courseId}/final-grades/submissions`, teacher).expect(201)
    ).body.submission;
    expect(submitted.learners).to.equal(2);
  });

  describe('from the command line', () => {
    const cli = async (...args: string[]) => {
      try {
        const { stdout } = await run('npm', ['run', '--silent', 'cli', '--', ...args, '--json'], {
          env: processEnv(ctx.database),
        });
        return { code: 0, out: JSON.parse(stdout), err: '' };
      } catch (err) {
        const e = err as { code: number; stderr: string };
        return { code: e.code, out: null, err: e.stderr };
      }
    };

    it("submits in a teacher's name, refuses the wrong approvers, approves and prints the status", async () => {
      const [c] = await gradedCourses(ctx, t, {
        prefix: uniqueId('FC'),
        courses: 1,
        columns: 2,
        learners: 2,
      });
      await journey(ctx, t.token, 'userMetadataAPI', [
        { courseId: c!.courseId, userId: 'ms-teacher' },
      ]);
      // The registrar is a person of the tenant, not enrolled in the course.
      await inTransaction(ctx.db, (trx) =>
        ensureUsersByBatchUid(trx, t.tenantId, ['registrar-1'], isoNow(ctx.clock)),
      );
      await ctx
        .db('enrollments')
        .whereIn(
          'user_id',
          ctx.db('users').where({ tenant_id: t.tenantId, batch_uid: 'ms-teacher' }).select('id'),
        )
        .update({ role: 'Instructor' });
      const tenant = String(t.tenantId);
      const course = ['--tenant', tenant, '--course', c!.courseId];

      expect(
        (await cli('tenant', 'set-approval', '--tenant', tenant, '--mode', 'sometimes')).code,
      ).to.equal(1);
      expect(
        (await cli('tenant', 'set-approval', '--tenant', tenant, '--mode', 'required')).out,
      ).to.deep.equal({
        tenantId: t.tenantId,
        approvalMode: 'required',
      });
      // Only course staff submit.
      const notStaff = await cli('final-grades', 'submit', ...course, '--user', 'registrar-1');
      expect(notStaff.code).to.equal(1);
      expect(notStaff.err).to.match(/not course staff/);
      const submitted = await cli(
        'final-grades',
        'submit',
        ...course,
        '--user',
        'ms-teacher',
        '--comment',
        'final',
      );
      expect(submitted.out.submission).to.include({
        state: 'submitted',
        submittedBy: 'ms-teacher',
        comment: 'final',
      });

      const notApprover = await cli('final-grades', 'approve', ...course, '--user', 'registrar-1');
      expect(notApprover.code).to.equal(1);
      expect(notApprover.err).to.match(/not an approver/);
      expect(
        (await cli('approver', 'add', '--tenant', tenant, '--user', 'ms-teacher')).out.added,
      ).to.equal(true);
      const own = await cli('final-grades', 'approve', ...course, '--user', 'ms-teacher');
      expect(own.code).to.equal(1);
      expect(own.err).to.match(/own submission/);
      await cli('approver', 'add', '--tenant', tenant, '--user', 'registrar-1');
      const noComment = await cli('final-grades', 'reject', ...course, '--user', 'registrar-1');
      expect(noComment.code).to.equal(1);
      const approved = await cli(
        'final-grades',
        'approve',
        ...course,
        '--user',
        'registrar-1',
        '--comment',
        'fine',
      );
      expect(approved.out.submission).to.include({
        state: 'approved',
        decidedBy: 'registrar-1',
        decisionComment: 'fine',
      });

      const shown = await cli('final-grades', 'status', ...course);
      expect(shown.out.approvalMode).to.equal('required');
      for (const l of shown.out.learners) {
        expect(l).to.include.keys('userId', 'score', 'grade', 'state', 'flags');
        expect(l.state).to.equal('approved');
      }
      expect(shown.out.learners.map((l: { userId: string }) => l.userId).sort()).to.deep.equal(
        [...c!.learners].sort(),
      );
    });
  });
});
