import { expect } from 'chai';
import { isoNow } from '../../src/db/time.js';
import { inTransaction } from '../../src/db/transaction.js';
import { createWorker } from '../../src/job-registry.js';
import { addSender } from '../../src/webhooks/senders.js';
import { signBody } from '../../src/webhooks/signature.js';
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

/**
 * Events delivered out of order (Canvas retries, queues, several workers):
 * the current grade is the newest by the sender's own time, and every event
 * is in the history.
 */
describe('webhooks: late events never move a grade backwards', function () {
  this.timeout(30000);
  let ctx: TestContext;
  let t: TenantFixture;
  let course: string;
  const drain = () => createWorker(ctx.deps).drain();

  before(async () => {
    ctx = await buildContext();
    t = await tenantWithClient(ctx, { scopes: ['journey', 'history'] });
    course = uniqueId('ORDER');
    await journey(ctx, t.token, 'gradableItemsAPI', [
      { courseId: course, name: 'Quiz', itemType: 'TEST', points: 10 },
      { courseId: course, name: 'Essay', itemType: 'ASSIGNMENT', points: 10 },
      {
        courseId: course,
        name: 'Total',
        itemType: 'TOTAL_COLUMN',
        points: 20,
        mapping: 'Quiz,Essay',
      },
    ]);
  });
  after(async () => {
    await ctx.deps.exchange.close();
    await ctx.db.destroy();
    await ctx.database.drop();
  });

  const ids = async (column: string, user: string) => {
    const c = await ctx
      .db('grade_columns as c')
      .join('courses as k', 'k.id', 'c.course_id')
      .where({ 'k.tenant_id': t.tenantId, 'k.batch_uid': course, 'c.name': column })
      .first('c.id', 'k.id as course_id');
    const u = await ctx.db('users').where({ tenant_id: t.tenantId, batch_uid: user }).first('id');
    return { courseId: c.course_id as number, columnId: c.id as number, userId: u?.id as number };
  };
  const current = async (column: string, user: string) => {
    const { columnId, userId } = await ids(column, user);
    return ctx.db('submissions').where({ column_id: columnId, user_id: userId }).first();
  };
  /** The grade's versions in the order they were recorded. */
  const history = async (column: string, user: string) => {
    const { columnId, userId } = await ids(column, user);
    return (
      await ctx
        .db('grade_versions')
        .where({ column_id: columnId, user_id: userId })
        .orderBy('id')
        .select('score', 'excused', 'graded_at')
    ).map((v) => v.score as number | null);
  };
  const canvasFeed = async (column: string, user: string) => {
    const { courseId, columnId, userId } = await ids(column, user);
    const res = await ctx.http
      .get(
        `/api/v1/courses/${courseId}/gradebook_history/feed?assignment_id=${columnId}&user_id=${userId}&per_page=100`,
      )
      .set('Authorization', `Bearer ${t.token}`)
      .expect(200);
    return res.body as Array<{ score: number | null; graded_at: string }>;
  };
  const details = async (sender: string) =>
    (
      await ctx
        .db('webhook_events')
        .where({ tenant_id: t.tenantId, sender })
        .orderBy('id')
        .select('event_id', 'status', 'detail')
    ).map((r) => [r.event_id, r.detail]);

  describe('signed grade webhook (occurred_at)', () => {
    let sender: { senderId: number; secret?: string };
    before(async () => {
      sender = await inTransaction(ctx.db, (trx) =>
        addSender(
          trx,
          ctx.deps.secrets,
          ctx.config.publicUrl,
          { tenantId: t.tenantId, kind: 'hmac', name: 'ordering' },
          isoNow(ctx.clock),
        ),
      );
    });
    const post = (id: string, occurredAt: string, score: number, user = 'o-s1') => {
      const body = JSON.stringify({
        id,
        type: 'grade.changed',
        occurred_at: occurredAt,
        data: { course, column: 'Quiz', user, score },
      });
      return ctx.http
        .post(`/webhooks/grades/${sender.senderId}`)
        .set('Content-Type', 'application/json')
        .set(
          'X-Gradebridge-Signature',
          signBody(sender.secret!, body, Math.floor(Date.now() / 1000)),
        )
        .send(body)
        .expect(202)
        .then(drain);
    };

    it('keeps the newest grade when older events arrive after it, and records every event', async () => {
      // Made at 10:00, 10:01 and 10:02; delivered newest first, then the two older ones.
      await post('h-3', '2026-06-01T10:02:00Z', 8);
      await post('h-1', '2026-06-01T10:00:00Z', 5);
      await post('h-2', '2026-06-01T10:01:00Z', 6);
      expect((await current('Quiz', 'o-s1')).score).to.equal(8);
      expect(await history('Quiz', 'o-s1')).to.deep.equal([8, 5, 6]);
      expect(await details(`hmac:${sender.senderId}`)).to.deep.equal([
        ['h-3', 'recorded'],
        ['h-1', 'late'],
        ['h-2', 'late'],
      ]);
      // The total column follows the current grade only.
      expect((await current('Total', 'o-s1')).score).to.equal(8);
      // Canvas-style history: the feed lists every event (newest recorded first) ...
      expect((await canvasFeed('Quiz', 'o-s1')).map((v) => v.score)).to.deep.equal([6, 5, 8]);
      // ... and a day's submissions show them in the order the grades were given.
      const { courseId, columnId } = await ids('Quiz', 'o-s1');
      const day = await ctx.http
        .get(
          `/api/v1/courses/${courseId}/gradebook_history/2026-06-01/graders/0/assignments/${columnId}/submissions`,
        )
        .set('Authorization', `Bearer ${t.token}`)
        .expect(200);
      const versions = (
        day.body as Array<{
          versions: Array<{
            new_grade: string;
            previous_grade: string | null;
            current_grade: string;
          }>;
        }>
      )[0]!.versions;
      expect(versions.map((v) => [v.previous_grade, v.new_grade, v.current_grade])).to.deep.equal([
        ['6', '8', '8'],
        ['5', '6', '8'],
        [null, '5', '8'],
      ]);
    });

    it('orders a Journey value by its arrival: an event made before it arrived is late', async () => {
      await post('h-4', new Date(Date.now() - 5 * 60_000).toISOString(), 7, 'o-s2');
      expect((await current('Quiz', 'o-s2')).score).to.equal(7);
      await journey(ctx, t.token, 'gradeValueAPI', [
        { courseId: course, userId: 'o-s2', name: 'Quiz', value: '9' },
      ]);
      // Made a minute ago, delivered now: the SIS's 9 (recorded since) stands.
      await post('h-5', new Date(Date.now() - 60_000).toISOString(), 2, 'o-s2');
      expect((await current('Quiz', 'o-s2')).score).to.equal(9);
      expect(await history('Quiz', 'o-s2')).to.deep.equal([7, 9, 2]);
      // A newer event still replaces it.
      await post('h-6', new Date(Date.now() + 1000).toISOString(), 10, 'o-s2');
      expect((await current('Quiz', 'o-s2')).score).to.equal(10);
    });
  });

  describe('Canvas Live Events (metadata.event_time), in both formats', () => {
    let canvas: CanvasSender;
    before(async () => {
      canvas = await canvasSender(ctx, t.tenantId, 'order-root');
    });
    after(() => canvas.close());
    const change = (eventId: string, eventTime: string, score: number | null, extra = {}) =>
      canvasGradeChange({
        eventId,
        eventTime,
        account: canvas.account,
        course: { sis: course, canvasId: '7001' },
        assignment: { canvasId: '8001', name: 'Essay' },
        student: { sis: 'o-s3', canvasId: '9001' },
        score,
        extra,
      });
    /** Delivers a signed event; it is processed before the next one arrives. */
    const deliver = async (payload: object) => {
      expect((await canvas.post(canvas.sign(payload))).status).to.equal(202);
      await drain();
    };
    const caliper = (id: string, eventTime: string, scoreGiven: number) =>
      caliperGradeEvent({
        id,
        eventTime,
        account: canvas.account,
        courseCanvasId: '7001',
        assignmentCanvasId: '8001',
        student: { sis: 'o-s3', canvasId: '9001' },
        scoreGiven,
      });

    it('keeps the newest grade whatever the delivery order, and records every event', async () => {
      // Canvas's format first: it names the course by its SIS id, so Canvas's course id is learnt.
      await deliver(change('c-2', '2026-06-02T09:02:00Z', 7));
      // Then, out of order: an older Canvas event, a newer Caliper one, an older Caliper one.
      await deliver(change('c-1', '2026-06-02T09:01:00Z', 4));
      await deliver(caliperEnvelope(caliper('urn:uuid:c-4', '2026-06-02T09:04:00.000Z', 9)));
      await deliver(caliperEnvelope(caliper('urn:uuid:c-3', '2026-06-02T09:03:00.000Z', 3)));
      expect((await current('Essay', 'o-s3')).score).to.equal(9);
      expect(await history('Essay', 'o-s3')).to.deep.equal([7, 4, 9, 3]);
      expect(await details(`canvas:${canvas.senderId}`)).to.deep.equal([
        ['c-2', 'recorded'],
        ['c-1', 'late'],
        ['urn:uuid:c-4', 'recorded'],
        ['urn:uuid:c-3', 'late'],
      ]);
      expect((await canvasFeed('Essay', 'o-s3')).map((v) => v.score)).to.deep.equal([3, 9, 4, 7]);
    });

    it('orders submission_updated by its event time, else the submission updated_at', async () => {
      const updated = (eventId: string, body: Record<string, unknown>, eventTime?: string) => ({
        metadata: {
          event_name: 'submission_updated',
          ...(eventTime ? { event_time: eventTime } : {}),
          event_id: eventId,
          context_type: 'Course',
          context_id: '7001',
          context_sis_source_id: course,
          root_account_uuid: canvas.account,
        },
        body: { assignment_id: '8001', user_id: '9001', workflow_state: 'graded', ...body },
      });
      // Graded at 09:10 and marked late at 09:20 (graded_at unchanged), delivered the other way round.
      await deliver(
        updated('u-2', {
          score: 6,
          grade: '6',
          late: true,
          graded_at: '2026-06-02T09:10:00Z',
          updated_at: '2026-06-02T09:20:00Z',
        }),
      );
      await deliver(
        updated(
          'u-1',
          { score: 5, grade: '5', late: false, graded_at: '2026-06-02T09:10:00Z' },
          '2026-06-02T09:10:00Z',
        ),
      );
      const now = await current('Essay', 'o-s3');
      expect(now.score).to.equal(6);
      expect(!!now.late).to.equal(true);
      expect((await history('Essay', 'o-s3')).slice(-2)).to.deep.equal([6, 5]);
    });
  });
});
