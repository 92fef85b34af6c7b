import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import jwt from 'jsonwebtoken';
import { isoNow } from '../../src/db/time.js';
import { inTransaction } from '../../src/db/transaction.js';
import { addSender } from '../../src/webhooks/senders.js';
import type { TestContext } from './context.js';

/** A Canvas that signs Live Events: its keyset served on loopback, registered as a tenant's sender. */
export interface CanvasSender {
  senderId: number;
  /** The root account uuid its events carry. */
  account: string;
  /** The payload as a JWT signed RS256 with the keyset's key (or another one). */
  sign(payload: object, o?: { key?: KeyObject; kid?: string }): string;
  /** POSTs a body to the sender's URL as Canvas does. */
  post(body: string): ReturnType<TestContext['http']['post']>;
  close(): Promise<void>;
}

export async function canvasSender(
  ctx: TestContext,
  tenantId: number,
  account = 'root-uuid',
): Promise<CanvasSender> {
  const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...keys.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' };
  const server = http.createServer((_req, res) => {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  const { senderId } = await inTransaction(ctx.db, (trx) =>
    addSender(
      trx,
      ctx.deps.secrets,
      ctx.config.publicUrl,
      { tenantId, kind: 'canvas', name: `canvas-${account}`, jwksUrl: url, account },
      isoNow(ctx.clock),
    ),
  );
  return {
    senderId,
    account,
    sign: (payload, o = {}) =>
      jwt.sign(payload, o.key ?? keys.privateKey, { algorithm: 'RS256', keyid: o.kid ?? 'k1' }),
    post: (body) =>
      ctx.http
        .post(`/webhooks/canvas/${senderId}`)
        .set('Content-Type', 'application/jwt')
        .send(body),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A Canvas `grade_change` event in Canvas's own format. */
export function canvasGradeChange(o: {
  eventId: string;
  eventTime: string;
  account: string;
  course: { sis?: string | null; canvasId: string };
  assignment: { canvasId: string; name?: string };
  student: { sis?: string | null; canvasId: string };
  score: number | null;
  grade?: string | null;
  pointsPossible?: number;
  extra?: Record<string, unknown>;
}) {
  return {
    metadata: {
      event_name: 'grade_change',
      event_time: o.eventTime,
      event_id: o.eventId,
      context_type: 'Course',
      context_id: o.course.canvasId,
      context_sis_source_id: o.course.sis ?? null,
      root_account_uuid: o.account,
      producer: 'canvas',
    },
    body: {
      submission_id: `${o.course.canvasId}${o.student.canvasId}`,
      assignment_id: o.assignment.canvasId,
      assignment_name: o.assignment.name ?? null,
      score: o.score,
      grade: o.grade === undefined ? (o.score === null ? null : String(o.score)) : o.grade,
      points_possible: o.pointsPossible ?? 10,
      grader_id: '5',
      student_id: o.student.canvasId,
      student_sis_id: o.student.sis ?? null,
      user_id: o.student.canvasId,
      grading_complete: true,
      muted: false,
      ...o.extra,
    },
  };
}

/**
 * The same change as Canvas sends it in the Caliper 1.1 format (canvas-lms
 * doc/api/data_services/json/caliper/event-types/grade_change.json): no
 * course SIS id, Canvas's ids in urns and `entity_id` extensions.
 */
export function caliperGradeEvent(o: {
  id: string;
  eventTime: string;
  account: string;
  courseCanvasId: string;
  assignmentCanvasId: string;
  student: { sis?: string | null; canvasId: string };
  scoreGiven: number | null;
  grade?: string | null;
  maxScore?: number;
  extensions?: Record<string, unknown>;
}) {
  const canvas = 'com.instructure.canvas';
  const submission = `urn:instructure:canvas:submission:${o.courseCanvasId}${o.student.canvasId}`;
  const assignee = {
    id: `urn:instructure:canvas:user:${o.student.canvasId}`,
    type: 'Person',
    extensions: { [canvas]: { sis_id: o.student.sis ?? null } },
  };
  const assignable = {
    id: `urn:instructure:canvas:assignment:${o.assignmentCanvasId}`,
    type: 'AssignableDigitalResource',
  };
  const grade = o.grade === undefined ? String(o.scoreGiven) : o.grade;
  return {
    '@context': 'http://purl.imsglobal.org/ctx/caliper/v1p1',
    id: o.id,
    type: 'GradeEvent',
    actor: {
      id: 'urn:instructure:canvas:user:21070000000000987',
      type: 'Person',
      extensions: { [canvas]: { root_account_uuid: o.account, root_account_id: '1' } },
    },
    action: 'Graded',
    object: {
      id: submission,
      type: 'Attempt',
      extensions: { [canvas]: { grade, ...o.extensions } },
      assignee,
      assignable,
    },
    eventTime: o.eventTime,
    generated: {
      id: submission,
      type: 'Score',
      extensions: { [canvas]: { grade, ...o.extensions } },
      attempt: { id: submission, type: 'Attempt', assignee, assignable },
      maxScore: o.maxScore ?? 10,
      scoreGiven: o.scoreGiven,
      scoredBy: 'urn:instructure:canvas:user:21070000000000987',
    },
    edApp: { id: 'http://canvas.example/', type: 'SoftwareApplication' },
    group: {
      id: `urn:instructure:canvas:course:${o.courseCanvasId}`,
      type: 'CourseOffering',
      extensions: { [canvas]: { context_type: 'Course', entity_id: o.courseCanvasId } },
    },
    extensions: { [canvas]: { hostname: 'canvas.example', version: '1.0.0' } },
  };
}

/** A Caliper envelope of events, as the JWT's payload. */
export function caliperEnvelope(...data: object[]) {
  return {
    sensor: 'http://canvas.example/',
    sendTime: new Date().toISOString(),
    dataVersion: 'http://purl.imsglobal.org/ctx/caliper/v1p1',
    data,
  };
}
