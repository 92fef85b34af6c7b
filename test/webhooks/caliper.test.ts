import { expect } from 'chai';
import { generateKeyPairSync } from 'node:crypto';
import { createWorker } from '../../src/job-registry.js';
import { tenantWithClient, uniqueId, type TenantFixture } from '../factories/index.js';
import {
  caliperEnvelope,
  caliperGradeEvent,
  canvasGradeChange,
  canvasSender,
  type CanvasSender,
} from '../helpers/canvas-events.js';
import { buildContext, type TestContext } from '../helpers/context.js';
import { journey } from '../helpers/journey.js';

/** Canvas Live Events as Canvas sends them: its own format or Caliper 1.1, signed; excused submissions. */
describe('webhooks: Canvas Live Events in the Caliper format, unsigned events, excused grades', function () {
  this.timeout(30000);
  let ctx: TestContext;
  let t: TenantFixture;
  let canvas: CanvasSender;
  let course: string;
  const drain = () => createWorker(ctx.deps).drain();
  const later = (seconds: number) => new Date(Date.now() + seconds * 1000).toISOString();

  before(async () => {
    ctx = await buildContext();
    t = await tenantWithClient(ctx, { scopes: ['journey'] });
    canvas = await canvasSender(ctx, t.tenantId, 'caliper-root');
    course = uniqueId('CAL');
    await journey(ctx, t.token, 'gradableItemsAPI', [
      { courseId: course, name: 'Lab', itemType: 'ASSIGNMENT', points: 10 },
    ]);
  });
  after(async () => {
    await canvas.close();
    await ctx.deps.exchange.close();
    await ctx.db.destroy();
    await ctx.database.drop();
  });

  const grade = (column: string, user: string) =>
    ctx
      .db('submissions as s')
      .join('grade_columns as c', 'c.id', 's.column_id')
      .join('users as u', 'u.id', 's.user_id')
      .join('courses as k', 'k.id', 's.course_id')
      .where({ 'k.batch_uid': course, 'c.name': column, 'u.batch_uid': user })
      .first('s.score', 's.grade', 's.excused', 's.id');
  const lastVersion = async (submissionId: number) =>
    ctx
      .db('grade_versions')
      .where({ submission_id: submissionId })
      .orderBy('id', 'desc')
      .first('score', 'grade', 'excused', 'source', 'points_possible', 'graded_at');
  const event = (eventId: string) =>
    ctx
      .db('webhook_events')
      .where({ sender: `canvas:${canvas.senderId}`, event_id: eventId })
      .first('event_type', 'status', 'detail');
  const caliper = (
    id: string,
    o: Partial<Parameters<typeof caliperGradeEvent>[0]> = {},
  ): ReturnType<typeof caliperGradeEvent> =>
    caliperGradeEvent({
      id,
      eventTime: later(0),
      account: canvas.account,
      courseCanvasId: '5001',
      assignmentCanvasId: '6001',
      student: { sis: 'cal-s1', canvasId: '4001' },
      scoreGiven: 7,
      ...o,
    });
  const canvasChange = (
    eventId: string,
    o: Partial<Parameters<typeof canvasGradeChange>[0]> = {},
  ) =>
    canvasGradeChange({
      eventId,
      eventTime: later(0),
      account: canvas.account,
      course: { sis: course, canvasId: '5001' },
      assignment: { canvasId: '6001', name: 'Lab' },
      student: { sis: 'cal-s1', canvasId: '4001' },
      score: 5,
      ...o,
    });

  it("records a Caliper GradeEvent as the same grade change as Canvas's own format", async () => {
    // Caliper names the course by Canvas's id alone: unknown until an event in Canvas's format (with the SIS id) was seen.
    expect(
      (await canvas.post(canvas.sign(caliperEnvelope(caliper('urn:uuid:early'))))).status,
    ).to.equal(202);
    await drain();
    expect(await event('urn:uuid:early')).to.include({
      status: 'ignored',
      detail: 'unknown course',
    });

    expect((await canvas.post(canvas.sign(canvasChange('own-1')))).status).to.equal(202);
    await drain();
    expect(await grade('Lab', 'cal-s1')).to.include({ score: 5, grade: '5' });

    const res = await canvas.post(
      canvas.sign(caliperEnvelope(caliper('urn:uuid:cal-1', { eventTime: later(5) }))),
    );
    expect(res.status).to.equal(202);
    expect(res.body).to.deep.equal({ status: 'accepted', eventId: 'urn:uuid:cal-1' });
    // A replay is a duplicate, as for Canvas's format.
    const replay = await canvas.post(canvas.sign(caliperEnvelope(caliper('urn:uuid:cal-1'))));
    expect(replay.status).to.equal(200);
    expect(replay.body.status).to.equal('duplicate');
    await drain();
    expect(await event('urn:uuid:cal-1')).to.deep.equal({
      event_type: 'grade_change',
      status: 'processed',
      detail: 'recorded',
    });
    const now = await grade('Lab', 'cal-s1');
    expect(now).to.include({ score: 7, grade: '7' });
    expect(await lastVersion(now.id)).to.include({
      score: 7,
      grade: '7',
      source: 'live_event',
      points_possible: 10,
    });
  });

  it('finds a new learner by the SIS id in the assignee extension, and records every event of an envelope', async () => {
    const res = await canvas.post(
      canvas.sign(
        caliperEnvelope(
          caliper('urn:uuid:cal-2', {
            student: { sis: 'cal-s2', canvasId: '4002' },
            scoreGiven: 8,
          }),
          caliper('urn:uuid:cal-3', {
            student: { sis: 'cal-s3', canvasId: '4003' },
            scoreGiven: 9,
          }),
        ),
      ),
    );
    expect(res.status).to.equal(202);
    await drain();
    expect(await grade('Lab', 'cal-s2')).to.include({ score: 8 });
    expect(await grade('Lab', 'cal-s3')).to.include({ score: 9 });
  });

  it('ignores a Caliper grade for an assignment it cannot name, and events that carry no grade', async () => {
    await canvas.post(
      canvas.sign(caliperEnvelope(caliper('urn:uuid:cal-4', { assignmentCanvasId: '6999' }))),
    );
    const other = { ...caliper('urn:uuid:cal-5'), type: 'NavigationEvent', action: 'NavigatedTo' };
    await canvas.post(canvas.sign(caliperEnvelope(other)));
    await drain();
    expect(await event('urn:uuid:cal-4')).to.include({
      status: 'ignored',
      detail: 'unknown column',
    });
    expect(await event('urn:uuid:cal-5')).to.include({
      event_type: 'NavigationEvent:NavigatedTo',
      status: 'ignored',
    });
  });

  it("refuses a Caliper event of another school's account, or of none, and a malformed envelope", async () => {
    const foreign = await canvas.post(
      canvas.sign(caliperEnvelope(caliper('urn:uuid:cal-6', { account: 'another-school' }))),
    );
    expect(foreign.status).to.equal(403);
    expect(foreign.body.error.code).to.equal('wrong_account');
    const anonymous = caliper('urn:uuid:cal-7');
    anonymous.actor.extensions = {} as never;
    expect((await canvas.post(canvas.sign(caliperEnvelope(anonymous)))).status).to.equal(403);
    // One foreign event refuses the envelope: nothing of it is recorded.
    const mixed = await canvas.post(
      canvas.sign(
        caliperEnvelope(
          caliper('urn:uuid:cal-8'),
          caliper('urn:uuid:cal-9', { account: 'another-school' }),
        ),
      ),
    );
    expect(mixed.status).to.equal(403);
    const empty = await canvas.post(canvas.sign(caliperEnvelope()));
    expect(empty.status).to.equal(400);
    expect(empty.body.error.code).to.equal('malformed');
    const noId = await canvas.post(canvas.sign(caliperEnvelope({ type: 'GradeEvent' })));
    expect(noId.status).to.equal(400);
    expect(
      await ctx
        .db('webhook_events')
        .whereIn('event_id', [
          'urn:uuid:cal-6',
          'urn:uuid:cal-7',
          'urn:uuid:cal-8',
          'urn:uuid:cal-9',
        ]),
    ).to.have.length(0);
  });

  it('refuses unsigned events, in either format, with 401 unsigned, recording nothing', async () => {
    const before = await ctx.db('webhook_events').count({ n: '*' }).first();
    for (const body of [
      JSON.stringify(canvasChange('unsigned-1')),
      JSON.stringify(caliperEnvelope(caliper('urn:uuid:unsigned-2'))),
    ]) {
      const res = await canvas.post(body);
      expect(res.status).to.equal(401);
      expect(res.body.error.code).to.equal('unsigned');
      expect(res.body.error.message).to.match(/Unsigned events are refused/);
    }
    // Signed with a key that is not in the sender's keyset: refused too.
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const forged = await canvas.post(
      canvas.sign(caliperEnvelope(caliper('urn:uuid:forged')), { key: stranger.privateKey }),
    );
    expect(forged.status).to.equal(401);
    expect(await ctx.db('webhook_events').count({ n: '*' }).first()).to.deep.equal(before);
  });

  it('records excused submissions as excused, in both formats, until a grade is given', async () => {
    const student = { sis: 'cal-s4', canvasId: '4004' };
    const steps: Array<[object, { score: number | null; excused: boolean }]> = [
      [
        canvasChange('ex-1', { student, score: 6, eventTime: later(10) }),
        { score: 6, excused: false },
      ],
      // Canvas's own format: the `excused` flag (with no score or grade) ...
      [
        canvasChange('ex-2', {
          student,
          score: null,
          grade: null,
          eventTime: later(11),
          extra: { excused: true },
        }),
        { score: null, excused: true },
      ],
      [
        canvasChange('ex-3', { student, score: 4, eventTime: later(12) }),
        { score: 4, excused: false },
      ],
      // ... or the grade EX that Canvas shows for an excused submission.
      [
        canvasChange('ex-4', { student, score: null, grade: 'EX', eventTime: later(13) }),
        { score: null, excused: true },
      ],
      [
        caliperEnvelope(caliper('urn:uuid:ex-5', { student, scoreGiven: 9, eventTime: later(14) })),
        { score: 9, excused: false },
      ],
      // Caliper: the excused flag in the Canvas extension.
      [
        caliperEnvelope(
          caliper('urn:uuid:ex-6', {
            student,
            scoreGiven: null,
            grade: null,
            eventTime: later(15),
            extensions: { excused: true },
          }),
        ),
        { score: null, excused: true },
      ],
    ];
    for (const [payload, expected] of steps) {
      expect((await canvas.post(canvas.sign(payload))).status).to.equal(202);
      await drain();
      const now = await grade('Lab', 'cal-s4');
      expect({ score: now.score, excused: !!now.excused }, JSON.stringify(payload)).to.deep.equal(
        expected,
      );
      const version = await lastVersion(now.id);
      expect({ score: version.score, excused: !!version.excused }).to.deep.equal(expected);
      if (expected.excused) expect(version.grade).to.equal(null);
    }
  });
});
