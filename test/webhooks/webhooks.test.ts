import { expect } from 'chai';
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import jwt from 'jsonwebtoken';
import { isoNow } from '../../src/db/time.js';
import { inTransaction } from '../../src/db/transaction.js';
import type { DataSyncEmulator } from '../../src/emulators/datasync/index.js';
import type { ConnectionRow } from '../../src/exchange/service.js';
import { createWorker } from '../../src/job-registry.js';
import { signBody } from '../../src/webhooks/signature.js';
import { addSender } from '../../src/webhooks/senders.js';
import { tenantWithClient, uniqueId, type TenantFixture } from '../factories/index.js';
import { buildContext, type TestContext } from '../helpers/context.js';
import {
  connectedDataSync,
  courseCondition,
  gradedCourses,
  type GradedCourse,
} from '../helpers/exchange.js';

describe('webhooks: Data Sync notices, Canvas Live Events, signed grade webhooks', function () {
  this.timeout(30000);
  let ctx: TestContext;
  let t: TenantFixture;
  let course: GradedCourse;
  const drain = () => createWorker(ctx.deps).drain();
  const now = () => Math.floor(Date.now() / 1000);
  /** A time `seconds` from now: events are newer than the grades the fixtures wrote. */
  const at = (seconds = 0) => new Date(Date.now() + seconds * 1000).toISOString();
  const grade = async (column: string, user: string) =>
    ctx
      .db('submissions as s')
      .join('grade_columns as c', 'c.id', 's.column_id')
      .join('users as u', 'u.id', 's.user_id')
      .join('courses as k', 'k.id', 's.course_id')
      .where({ 'k.batch_uid': course.courseId, 'c.name': column, 'u.batch_uid': user })
      .first('s.score', 's.grade');
  const versions = () => ctx.db('grade_versions').count({ n: '*' }).first();

  before(async () => {
    ctx = await buildContext();
    t = await tenantWithClient(ctx, { scopes: ['journey'] });
    [course] = await gradedCourses(ctx, t, {
      prefix: uniqueId('W'),
      courses: 1,
      columns: 2,
      learners: 3,
    });
  });
  after(async () => {
    await ctx.deps.exchange.close();
    await ctx.db.destroy();
    await ctx.database.drop();
  });

  describe('signed grade webhook', () => {
    let sender: { senderId: number; secret?: string };
    before(async () => {
      sender = await inTransaction(ctx.db, (trx) =>
        addSender(
          trx,
          ctx.deps.secrets,
          ctx.config.publicUrl,
          { tenantId: t.tenantId, kind: 'hmac', name: 'grader' },
          isoNow(ctx.clock),
        ),
      );
    });
    const event = (id: string, data: Record<string, unknown>) =>
      JSON.stringify({ id, type: 'grade.changed', occurred_at: at(), data });
    const post = (body: string, signature?: string) =>
      ctx.http
        .post(`/webhooks/grades/${sender.senderId}`)
        .set('Content-Type', 'application/json')
        .set('X-Gradebridge-Signature', signature ?? signBody(sender.secret!, body, now()))
        .send(body);

    it('records a grade once: verified, answered with 202, processed by a job; a replay is a 200 duplicate', async () => {
      const body = event('evt-1', {
        course: course.courseId,
        column: course.columns[0],
        user: course.learners[0],
        score: 7.5,
      });
      const first = await post(body);
      expect(first.status).to.equal(202);
      expect(first.body).to.deep.equal({ status: 'accepted', eventId: 'evt-1' });
      const replay = await post(body);
      expect(replay.status).to.equal(200);
      expect(replay.body.status).to.equal('duplicate');
      await drain();
      expect(await grade(course.columns[0]!, course.learners[0]!)).to.deep.equal({
        score: 7.5,
        grade: '7.5',
      });
      const version = await ctx
        .db('grade_versions')
        .where({ source: 'webhook' })
        .first('graded_at', 'idempotency_key');
      expect(version.idempotency_key).to.equal(`hmac:${sender.senderId}:evt-1`);
      const recorded = await ctx.db('webhook_events').where({ event_id: 'evt-1' });
      expect(recorded).to.have.length(1);
      expect(recorded[0]).to.include({ status: 'processed' });
    });

    it('refuses a bad, missing, stale or replayed-with-another-body signature, recording nothing', async () => {
      const before = await versions();
      const body = event('evt-2', {
        course: course.courseId,
        column: course.columns[0],
        user: course.learners[1],
        score: 1,
      });
      const cases: Array<[string | undefined, RegExp]> = [
        ['t=1,v1=00', /outside the allowed window/],
        [signBody('not-the-secret', body, now()), /does not match/],
        [signBody(sender.secret!, body, now() - 3600), /outside the allowed window/],
        [signBody(sender.secret!, `${body} `, now()), /does not match/],
        ['garbage', /malformed/],
      ];
      for (const [signature, message] of cases) {
        const res = await post(body, signature);
        expect(res.status, String(signature)).to.equal(401);
        expect(res.body.error.code).to.equal('bad_signature');
        expect(res.body.error.message).to.match(message);
      }
      const missing = await ctx.http
        .post(`/webhooks/grades/${sender.senderId}`)
        .set('Content-Type', 'application/json')
        .send(body);
      expect(missing.status).to.equal(401);
      expect(await ctx.db('webhook_events').where({ event_id: 'evt-2' })).to.have.length(0);
      expect(await versions()).to.deep.equal(before);
    });

    it('refuses a malformed body with 400 and an unknown course with 422, recording nothing', async () => {
      const bad = [
        'not json',
        JSON.stringify({ id: 'evt-3', type: 'grade.changed' }),
        event('evt-3', { course: course.courseId, column: 'x', user: 'y', score: 'ten' }),
        event('evt-3', {
          course: course.courseId,
          column: 'x',
          user: 'y',
          score: 1,
          surprise: true,
        }),
      ];
      for (const body of bad) {
        const res = await post(body);
        expect(res.status, body).to.equal(400);
        expect(res.body.error.code).to.equal('malformed');
      }
      const unknown = await post(
        event('evt-4', { course: 'NOPE', column: 'x', user: 'y', score: 1 }),
      );
      expect(unknown.status).to.equal(422);
      expect(unknown.body.error.code).to.equal('unknown_course');
      expect(await ctx.db('webhook_events').whereIn('event_id', ['evt-3', 'evt-4'])).to.have.length(
        0,
      );
      const wrongSender = await ctx.http
        .post('/webhooks/grades/999999')
        .set('Content-Type', 'application/json')
        .send('{}');
      expect(wrongSender.status).to.equal(404);
    });
  });

  describe('Canvas Live Events', () => {
    const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    let jwks: http.Server;
    let senderId: number;
    before(async () => {
      const jwk = {
        ...keys.publicKey.export({ format: 'jwk' }),
        kid: 'k1',
        alg: 'RS256',
        use: 'sig',
      };
      jwks = http.createServer((_req, res) => {
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ keys: [jwk] }));
      });
      await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
      const url = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`;
      senderId = (
        await inTransaction(ctx.db, (trx) =>
          addSender(
            trx,
            ctx.deps.secrets,
            ctx.config.publicUrl,
            {
              tenantId: t.tenantId,
              kind: 'canvas',
              name: 'canvas',
              jwksUrl: url,
              account: 'root-uuid',
            },
            isoNow(ctx.clock),
          ),
        )
      ).senderId;
    });
    after(() => new Promise<void>((r) => jwks.close(() => r())));

    const sign = (
      payload: object,
      o: { key?: typeof keys.privateKey; kid?: string; alg?: jwt.Algorithm } = {},
    ) =>
      jwt.sign(payload, o.key ?? keys.privateKey, {
        algorithm: o.alg ?? 'RS256',
        keyid: o.kid ?? 'k1',
      });
    const gradeChange = (
      eventId: string,
      body: Record<string, unknown>,
      context = course.courseId,
    ) => ({
      metadata: {
        event_name: 'grade_change',
        event_time: at(),
        event_id: eventId,
        context_type: 'Course',
        context_id: '4242',
        context_sis_source_id: context,
        root_account_uuid: 'root-uuid',
      },
      body: {
        submission_id: '1',
        assignment_id: '900',
        assignment_name: course.columns[1],
        score: 9,
        grade: '9',
        points_possible: 10,
        student_id: '77',
        student_sis_id: course.learners[2],
        grader_id: '5',
        ...body,
      },
    });
    const post = (token: string) =>
      ctx.http
        .post(`/webhooks/canvas/${senderId}`)
        .set('Content-Type', 'application/jwt')
        .send(token);

    it('turns grade_change and then submission_updated into versions; a replay is a duplicate', async () => {
      const token = sign(gradeChange('ce-1', {}));
      expect((await post(token)).status).to.equal(202);
      expect((await post(token)).body.status).to.equal('duplicate');
      await drain();
      expect(await grade(course.columns[1]!, course.learners[2]!)).to.deep.equal({
        score: 9,
        grade: '9',
      });
      // submission_updated names neither the assignment nor the student by SIS id: the ids learnt above resolve them.
      const updated = sign({
        metadata: {
          ...gradeChange('x', {}).metadata,
          event_name: 'submission_updated',
          event_id: 'ce-2',
        },
        body: {
          submission_id: '1',
          assignment_id: '900',
          user_id: '77',
          score: 6,
          grade: '6',
          late: true,
          workflow_state: 'graded',
          graded_at: at(60),
        },
      });
      expect((await post(updated)).status).to.equal(202);
      await drain();
      expect(await grade(course.columns[1]!, course.learners[2]!)).to.deep.equal({
        score: 6,
        grade: '6',
      });
      const sources = await ctx
        .db('grade_versions')
        .where({ source: 'live_event' })
        .count({ n: '*' })
        .first();
      expect(Number(sources!.n)).to.equal(2);
    });

    it('records an event for an unknown course as ignored (Canvas expects a 2xx), writing no grade', async () => {
      const before = await versions();
      const unknown = gradeChange('ce-3', {}, 'NO-SUCH-COURSE');
      unknown.metadata.context_id = '9999';
      expect((await post(sign(unknown))).status).to.equal(202);
      await drain();
      const row = await ctx
        .db('webhook_events')
        .where({ event_id: 'ce-3' })
        .first('status', 'detail');
      expect(row).to.deep.equal({ status: 'ignored', detail: 'unknown course' });
      expect(await versions()).to.deep.equal(before);
    });

    it('refuses forged events: HS256 with the public key, another key, an unknown kid, alg none; and malformed ones', async () => {
      const payload = gradeChange('ce-4', {});
      const publicPem = keys.publicKey.export({ type: 'spki', format: 'pem' }) as string;
      const forged = [
        jwt.sign(payload, publicPem, { algorithm: 'HS256', keyid: 'k1' }),
        sign(payload, { key: other.privateKey }),
        sign(payload, { kid: 'k9' }),
        `${Buffer.from(JSON.stringify({ alg: 'none', kid: 'k1' })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.`,
      ];
      for (const token of forged) {
        const res = await post(token);
        expect(res.status).to.equal(401);
        expect(res.body.error.code).to.equal('bad_signature');
      }
      // Correctly signed, but for another school on the same Canvas.
      const foreign = gradeChange('ce-5', {});
      foreign.metadata.root_account_uuid = 'another-school';
      const wrongAccount = await post(sign(foreign));
      expect(wrongAccount.status).to.equal(403);
      expect(wrongAccount.body.error.code).to.equal('wrong_account');
      expect(await ctx.db('webhook_events').where({ event_id: 'ce-5' })).to.have.length(0);
      expect((await post('not a jwt')).status).to.equal(400);
      const noMetadata = await post(sign({ body: {} }));
      expect(noMetadata.status).to.equal(400);
      expect(noMetadata.body.error.code).to.equal('malformed');
      expect(await ctx.db('webhook_events').where({ event_id: 'ce-4' })).to.have.length(0);
    });
  });

  describe('Data Sync notices', () => {
    let ds: DataSyncEmulator;
    let conn: ConnectionRow;
    let server: http.Server;
    before(async () => {
      ({ ds, conn } = await connectedDataSync(ctx, t.tenantId));
      server = http.createServer(ctx.app.koa.callback());
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      ds.setNotice({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/datasync/${conn.id}`,
        secret: ctx.deps.exchange.noticeSecret(conn),
      });
    });
    after(async () => {
      await ds.close();
      await new Promise<void>((r) => server.close(() => r()));
    });

    it('starts the exchange a notice announces, and answers it', async () => {
      const remote = ds.createExchange({
        query: { type: 'summary', conditions: [courseCondition(course.courseId) as never] },
        courseAppId: 'app-1',
      });
      await ds.noticesSettled();
      expect(ds.notices.map((n) => n.status)).to.deep.equal(['delivered']);
      await drain();
      expect(ds.exchange(remote.id)!.state).to.equal('completed');
      expect(ds.received(remote.id).summaries).to.have.length(course.learners.length);
      const row = await ctx.db('exchanges').where({ remote_id: remote.id }).first('trigger');
      expect(row.trigger).to.equal('notice');
    });

    it('refuses a notice with a bad signature', async () => {
      const body = JSON.stringify({
        id: 'n-1',
        type: 'grades.exchange.created',
        data: { exchange_id: 'x' },
      });
      const res = await ctx.http
        .post(`/webhooks/datasync/${conn.id}`)
        .set('Content-Type', 'application/json')
        .set('X-DataSync-Signature', signBody('wrong', body, now()))
        .send(body);
      expect(res.status).to.equal(401);
      expect(await ctx.db('webhook_events').where({ event_id: 'n-1' })).to.have.length(0);
    });
  });
});
