import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { isoNow } from '../../src/db/time.js';
import { inTransaction } from '../../src/db/transaction.js';
import type { DataSyncEmulator } from '../../src/emulators/datasync/index.js';
import { LmsEmulator } from '../../src/emulators/lms/index.js';
import { pollNow } from '../../src/exchange/jobs.js';
import type { ConnectionRow } from '../../src/exchange/service.js';
import { GradeBatch } from '../../src/grades/grade-batch.js';
import { createWorker } from '../../src/job-registry.js';
import { pullAndRecord } from '../../src/lti/services.js';
import { tenantWithClient, type TenantFixture } from '../factories/index.js';
import { Browser } from '../helpers/browser.js';
import { connectLms } from '../helpers/lms-tool.js';
import { buildContext, type TestContext } from '../helpers/context.js';
import { connectedDataSync } from '../helpers/exchange.js';
import { journey } from '../helpers/journey.js';

const M = 'http://purl.imsglobal.org/vocab/lis/v2/membership#';
const COURSE = 'SIS-REC-1';

interface Item {
  userId: string;
  state: string;
  gradebridge: { score: number | null } | null;
  lms: { score: number | null; state: string; error: string | null } | null;
  sis: {
    accepted: { score: number | null } | null;
    state: string;
    error: string | null;
    wouldSend: boolean;
  } | null;
  columnId: number;
}

/**
 * Every grade accounted for, against the LMS and Data Sync emulators with
 * the faults real platforms show: an LMS that keeps an older score while
 * answering 204, one that refuses a learner (422, as Canvas does for the
 * Test Student), a revoked token (401 once), and an SIS that refuses one
 * learner's grade in the details artifact.
 */
describe('reconciliation: what the LMS holds, what gradebridge holds, what the SIS accepted', function () {
  this.timeout(120000);
  let ctx: TestContext;
  let server: http.Server;
  let lms: LmsEmulator;
  let ds: DataSyncEmulator;
  let conn: ConnectionRow;
  let t: TenantFixture;
  let quizId: string;
  let ltiContextId: number;
  let courseId: number;
  let columnId: number;
  let teacherSession: string;
  let clientId: string;
  const drain = () => createWorker(ctx.deps).drain();
  const learners = ['s1', 's2', 's3', 's4'];

  before(async () => {
    ctx = await buildContext();
    server = http.createServer(ctx.app.koa.callback());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t = await tenantWithClient(ctx, { scopes: ['journey', 'reconcile', 'admin'] });
    // The SIS made the course; the LMS course links to it by its LIS sourcedid.
    await journey(ctx, t.token, 'userMetadataAPI', [{ courseId: COURSE, userId: 'placeholder' }]);
    await ctx.db('enrollments').where({ tenant_id: t.tenantId }).delete();
    lms = await LmsEmulator.start();
    lms.createContext({ id: 'ctx-rec', title: 'Physics 101', lisCourseSourcedId: COURSE });
    lms.addMember('ctx-rec', {
      userId: 'teacher',
      name: 'Emmy Noether',
      roles: [`${M}Instructor`],
    });
    for (const s of learners)
      lms.addMember('ctx-rec', {
        userId: s,
        name: `Learner ${s}`,
        roles: [`${M}Learner`],
        lisPersonSourcedId: `SIS-${s}`,
      });
    lms.addResourceLink('ctx-rec', { id: 'link-rec', title: 'Gradebook' });
    const tool = await connectLms(ctx.deps, lms, t.tenantId, base);
    quizId = lms.addLineItem('ctx-rec', { label: 'Quiz', scoreMaximum: 10 }).id;
    learners.forEach((s, i) => lms.setResult(quizId, s, { resultScore: 8 - i }));
    const page = await new Browser().open(
      lms.loginInitiationUrl({
        toolClientId: tool.clientId,
        userId: 'teacher',
        resourceLinkId: 'link-rec',
      }),
      { submitForms: true },
    );
    expect(page.status, page.html).to.equal(200);
    teacherSession = new URL(page.url).searchParams.get('session')!;
    clientId = tool.clientId;
    const x = await ctx
      .db('lti_contexts')
      .where({ tenant_id: t.tenantId })
      .first('id', 'course_id');
    ltiContextId = x.id;
    courseId = x.course_id;
    ({ ds, conn } = await connectedDataSync(ctx, t.tenantId));
    await pullAndRecord(ctx.deps, ltiContextId);
    columnId = (
      await ctx.db('grade_columns').where({ course_id: courseId, name: 'Quiz' }).first('id')
    ).id;
  });

  after(async () => {
    await ds?.close();
    await lms?.close();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await ctx?.deps.exchange.close();
    await ctx?.db.destroy();
    await ctx?.database.drop();
  });

  const report = async (query = '') =>
    (
      await ctx.http
        .get(`/gradebridge/v1/reconcile?course=${COURSE}${query}`)
        .set('Authorization', `Bearer ${t.token}`)
        .expect(200)
    ).body as { counts: Record<string, number>; items: Item[] };
  const byLearner = async () =>
    Object.fromEntries(
      (await report('')).items
        .filter((i) => i.columnId === columnId)
        .map((i) => [i.userId.replace('SIS-', ''), i]),
    ) as Record<string, Item>;
  const exchange = async () => {
    const remote = ds.createExchange({
      query: {
        type: 'assignment_scores',
        conditions: [
          {
            scope: 'course',
            scope_by: 'id',
            scope_id: { name: COURSE, $sys: { source_id: { sis: COURSE } } },
          },
        ],
      },
      courseAppId: 'app-1',
    });
    await pollNow(ctx.deps, conn, ctx.deps.logger);
    return ds.received(remote.id);
  };
  /** A teacher's edit in gradebridge: a version, and the score goes back to the LMS. */
  const grade = async (sub: string, score: number) => {
    const user = await ctx
      .db('external_ids')
      .where({ tenant_id: t.tenantId, kind: 'user', external_id: sub })
      .first('local_id');
    const gradedAt = isoNow(ctx.clock);
    await inTransaction(ctx.db, async (trx) => {
      const batch = new GradeBatch(trx, t.tenantId, gradedAt);
      await batch.load([{ columnId, userId: user.local_id }]);
      batch.record(
        {
          courseId,
          columnId,
          userId: user.local_id,
          score,
          grade: String(score),
          pointsPossible: 10,
          gradedAt,
          graderId: null,
          source: 'teacher',
          idempotencyKey: `rec-${sub}-${score}-${Date.now()}`,
        },
        { type: 'GradeChanged', user: 'teacher' },
      );
      await batch.flush();
    });
  };
  const repairOf = (user: string, action: string) =>
    ctx.http
      .post('/gradebridge/v1/reconcile/repairs')
      .set('Authorization', `Bearer ${t.token}`)
      .send({ course: COURSE, column: columnId, user: `SIS-${user}`, action });

  it('finds each fault as drift with the right state, and repairs make it in sync without sending a grade twice', async () => {
    // The LMS keeps s2's older score, refuses s3, and has revoked the cached token.
    lms.keepOlderScore('s2');
    lms.refuseScores('s3');
    await grade('s1', 9);
    await grade('s2', 4);
    await grade('s3', 3);
    lms.revokeAccessTokens();
    await drain();
    // The SIS refuses s4's grade.
    ds.failPerson('SIS-s4', 'integration_error');
    const first = await exchange();
    expect(first.scores.map((s) => s.personSourceId).sort()).to.deep.equal(
      learners.map((s) => `SIS-${s}`),
    );

    let r = await byLearner();
    expect(r.s1!.state).to.equal('in_sync');
    expect(r.s1!.lms).to.deep.include({ score: 9, state: 'in_sync' });
    expect(r.s1!.sis!.accepted).to.deep.include({ score: 9 });
    expect(r.s2!.state).to.equal('lms_differs');
    expect(r.s2!.lms).to.deep.include({ score: 7 });
    expect(r.s2!.gradebridge!.score).to.equal(4);
    expect(r.s3!.state).to.equal('failed');
    expect(r.s3!.lms!.error).to.match(/422/);
    expect(r.s4!.state).to.equal('failed');
    expect(r.s4!.sis!.state).to.equal('failed');
    // What would go out now: the refused grade goes again, the accepted ones do not.
    expect(r.s4!.sis!.wouldSend).to.equal(true);
    expect(r.s1!.sis!.wouldSend).to.equal(false);

    // A pull sees the LMS's 7 for s2 but does not take it over the grade gradebridge sent.
    await pullAndRecord(ctx.deps, ltiContextId);
    r = await byLearner();
    expect(r.s2!.gradebridge!.score).to.equal(4);
    expect(r.s2!.state).to.equal('lms_differs');

    // Drift is on /metrics.
    const metrics = await ctx.http
      .get('/metrics')
      .set('Authorization', `Bearer ${t.token}`)
      .expect(200);
    expect(metrics.text).to.match(
      new RegExp(`gradebridge_grade_drift\\{tenant="${t.tenantId}",state="lms_differs"\\} 1`),
    );
    expect(metrics.text).to.match(
      new RegExp(`gradebridge_grade_drift\\{tenant="${t.tenantId}",state="failed"\\} 2`),
    );

    // Repairs: take the LMS's value for s2, resend s3 to the LMS, resend s4 to the SIS.
    lms.clearScoreFaults();
    ds.acceptPerson('SIS-s4');
    expect((await repairOf('s2', 'accept_lms').expect(200)).body.done).to.match(
      /took the LMS's value/,
    );
    await repairOf('s3', 'resend_lms').expect(200);
    await repairOf('s4', 'resend_sis').expect(200);
    await drain();
    const second = await exchange();
    // Only what changed or was asked for goes again: s2's new value and s4's refused one.
    expect(second.scores.map((s) => [s.personSourceId, s.score]).sort()).to.deep.equal([
      ['SIS-s2', 7],
      ['SIS-s4', 5],
    ]);
    r = await byLearner();
    for (const s of learners) expect(r[s]!.state, s).to.equal('in_sync');
    const third = await exchange();
    expect(third.scores).to.deep.equal([]);
    const actions = await ctx
      .db('reconcile_actions')
      .where({ course_id: courseId })
      .orderBy('id')
      .pluck('action');
    expect(actions).to.deep.equal(['accept_lms', 'resend_lms', 'resend_sis']);
    expect((await report('&state=failed')).items).to.deep.equal([]);
    const drift = await ctx
      .db('grade_drift')
      .where({ course_id: courseId })
      .whereNull('resolved_at');
    expect(drift).to.deep.equal([]);
  });

  it('calls a grade sent to the SIS without an outcome unknown after the configured time', async () => {
    await grade('s1', 10);
    await exchange();
    // The consumer never reported on it.
    const user = await ctx
      .db('users')
      .where({ tenant_id: t.tenantId, batch_uid: 'SIS-s1' })
      .first('id');
    await ctx
      .db('exchange_sends')
      .where({ column_id: columnId, user_id: user.id })
      .orderBy('id', 'desc')
      .limit(1)
      .update({ sis_outcome: null });
    let r = await byLearner();
    expect(r.s1!.sis!.state).to.equal('waiting');
    ctx.clock.advance(61 * 60_000);
    r = await byLearner();
    expect(r.s1!.state).to.equal('unknown');
    ctx.clock.release();
    // The consumer's answer arrives after all.
    await ctx
      .db('exchange_sends')
      .where({ column_id: columnId, user_id: user.id })
      .orderBy('id', 'desc')
      .limit(1)
      .update({ sis_outcome: 'accepted', outcome_at: isoNow(ctx.clock) });
    expect((await byLearner()).s1!.sis!.state).to.equal('in_sync');
  });

  describe('on the course page, for course staff', () => {
    const words = (h: string) =>
      h
        .replace(/<style>[\s\S]*?<\/style>|<details>[\s\S]*?<\/details>/g, '')
        .replace(/<[^>]*>/g, ' ')
        .replace(/&#39;/g, "'")
        .replace(/\s+/g, ' ');
    const app = (session: string, path = '') => `/lti/s/${encodeURIComponent(session)}/app${path}`;
    const userOf = async (sub: string) =>
      (
        await ctx
          .db('external_ids')
          .where({ tenant_id: t.tenantId, kind: 'user', external_id: sub })
          .first('local_id')
      ).local_id as number;
    const act = (form: Record<string, string>) =>
      ctx.http
        .post(app(teacherSession, '/reconcile/repair'))
        .type('form')
        .set({ Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest' })
        .send(form);

    it('says in words where each grade differs, offers only the repairs that apply, and records who repaired', async () => {
      lms.keepOlderScore('s2');
      await grade('s2', 2);
      await drain();
      lms.clearScoreFaults();

      // The course page says what the last comparison found, and when; opening the comparison redoes it.
      const before = words((await ctx.http.get(app(teacherSession)).expect(200)).text);
      expect(before).to.match(
        /No difference found between the LMS, gradebridge and the SIS, when last compared/,
      );
      const page = await ctx.http.get(app(teacherSession, '/reconcile')).expect(200);
      const course = words((await ctx.http.get(app(teacherSession)).expect(200)).text);
      expect(course).to.include('1 grade differs between the LMS, gradebridge and the SIS');
      const text = words(page.text);
      expect(text)
        .to.include('The LMS holds another value')
        .and.include('Learner s2')
        .and.not.include('Learner s3');
      expect(page.text).to.include('Take the LMS’s value');
      expect(page.text).to.include('Send ours to the LMS again');
      const all = words(
        (await ctx.http.get(app(teacherSession, '/reconcile?all=1')).expect(200)).text,
      );
      expect(all).to.include('Learner s3').and.include('The same everywhere');

      const done = await act({
        column: String(columnId),
        user: String(await userOf('s2')),
        action: 'accept_lms',
      }).expect(200);
      expect(done.body.outcome.title).to.equal('The LMS’s value is now gradebridge’s grade.');
      const last = await ctx.db('reconcile_actions').orderBy('id', 'desc').first();
      expect(last).to.deep.include({ action: 'accept_lms', actor_name: 'Emmy Noether' });
      const after = words((await ctx.http.get(app(teacherSession, '/reconcile')).expect(200)).text);
      expect(after).to.include('Every grade is the same in the LMS, gradebridge and the SIS.');
      expect(words((await ctx.http.get(app(teacherSession)).expect(200)).text)).to.include(
        'No difference found',
      );
      // The dry run is the exchange: what the report says would go out is what the next one carries.
      const predicted = Object.values(await byLearner())
        .filter((i) => i.sis?.wouldSend)
        .map((i) => i.userId)
        .sort();
      const next = await exchange();
      expect(next.scores.map((x) => x.personSourceId).sort()).to.deep.equal(predicted);
    });

    it('refuses a repair that does not apply, or for someone not in the course, in words', async () => {
      const other = await ctx
        .db('users')
        .where({ tenant_id: t.tenantId, batch_uid: 'placeholder' });
      const stranger = other[0]?.id ?? 999999;
      const notHere = await act({
        column: String(columnId),
        user: String(stranger),
        action: 'resend_lms',
      });
      expect(notHere.status, JSON.stringify(notHere.body)).to.equal(404);
      expect(notHere.body.outcome.title).to.equal('Nothing was changed.');
      expect(notHere.body.outcome.html).to.include('That learner is not in this course.');
      // A plain form post (no script) gets the page, saying so, with the same status.
      const plain = await ctx.http
        .post(app(teacherSession, '/reconcile/repair'))
        .type('form')
        .send({ column: '999999', user: String(await userOf('s1')), action: 'accept_lms' });
      expect(plain.status).to.equal(404);
      expect(words(plain.text)).to.include('There is no such column in this course.');
      expect(await ctx.db('reconcile_actions').where({ course_id: courseId })).to.have.length(4);
    });

    it('shows the comparison to course staff only', async () => {
      const res = await new Browser().open(
        lms.loginInitiationUrl({
          toolClientId: clientId,
          userId: 's1',
          resourceLinkId: 'link-rec',
        }),
        { submitForms: true },
      );
      const learner = new URL(res.url).searchParams.get('session')!;
      const refused = await ctx.http.get(app(learner, '/reconcile'));
      expect(refused.status).to.equal(403);
      expect(words(refused.text)).to.include('Only course staff can compare and repair grades.');
      expect(words((await ctx.http.get(app(learner)).expect(200)).text)).not.to.include(
        'Every grade accounted for',
      );
      const post = await ctx.http
        .post(app(learner, '/reconcile/repair'))
        .type('form')
        .send({ column: String(columnId), user: String(await userOf('s1')), action: 'resend_sis' });
      expect(post.status).to.equal(403);
    });
  });
});
