import { koaBody } from 'koa-body';
import { bearerAuth } from '../auth/bearer.js';
import { isoNow } from '../db/time.js';
import { inTransaction } from '../db/transaction.js';
import type { AppDeps } from '../deps.js';
import {
  finalGradeEvents,
  pendingSubmissions,
  type Actor,
} from '../grades/final-grade-workflow.js';
import { finalGradeStatus } from '../grades/final-grades.js';
import { renderPlainError } from '../http/error-handler.js';
import { NotFoundError } from '../http/errors.js';
import type { ApiDocs } from '../http/openapi.js';
import { Surface, type AppContext } from '../http/surface.js';
import { DB_INT_MAX, text, z } from '../http/validation.js';
import { decide, submit } from './actions.js';
import { presentEvent, presentStatus, presentSubmission } from './presenters.js';

const MAX_COMMENT = 2000;
const courseParams = z.object({
  course: text().min(1).max(333).describe("the course's SIS id (its Journey courseId)"),
});
const submissionParams = z.object({
  id: z.coerce.number().int().positive().max(DB_INT_MAX).describe('the submission id'),
});
const commentBody = z.strictObject({
  comment: text().max(MAX_COMMENT).nullish().describe('a comment recorded with the step'),
});
const rejectBody = z.strictObject({
  comment: text()
    .min(1)
    .max(MAX_COMMENT)
    .describe('what the teacher should change (required for a rejection)'),
});

/**
 * Final grades through the service's own REST API: a course's status, its
 * workflow events, submitting for approval (scope `final-grades`), and the
 * approver's decisions (scope `approval`). The caller is the API client: its
 * grader identity is who submitted or decided.
 */
export function finalGradesSurface(deps: AppDeps, docs: ApiDocs): Surface {
  const surface = new Surface(
    {
      name: 'final-grades',
      prefix: '/gradebridge/v1',
      tag: 'Final grades',
      description:
        "Review, submit, approve and reject a course's final grades. Scope `final-grades` reads and submits; scope `approval` reads and decides. Courses are named by their SIS id (Journey courseId); another tenant's course does not exist.",
      renderError: renderPlainError,
      auth: null,
      security: [{ bearer: [] }],
    },
    docs,
  );
  const reader = bearerAuth({
    db: deps.db,
    tokens: deps.tokens,
    scope: ['final-grades', 'approval'],
  });
  const submitter = bearerAuth({ db: deps.db, tokens: deps.tokens, scope: 'final-grades' });
  const approver = bearerAuth({ db: deps.db, tokens: deps.tokens, scope: 'approval' });
  const json = koaBody({ json: true, urlencoded: false, text: false, jsonLimit: '64kb' });

  const actor = (ctx: AppContext): Actor => {
    const p = ctx.state.principal!;
    return { userId: p.graderUserId, name: p.name, canApprove: p.scopes.has('approval') };
  };
  const courseOf = async (ctx: AppContext, batchUid: string) => {
    const course = await deps
      .db('courses')
      .where({ tenant_id: ctx.state.principal!.tenantId, batch_uid: batchUid })
      .first('id');
    if (!course) throw new NotFoundError(`There is no course "${batchUid}".`);
    return course.id as number;
  };
  const decision = (kind: 'approve' | 'reject') =>
    surface.route({
      method: 'post',
      path: `/final-grades/submissions/:id/${kind}`,
      operationId: kind === 'approve' ? 'finalGradesApprove' : 'finalGradesReject',
      summary:
        kind === 'approve'
          ? 'Approve a submission: its values become what the SIS receives (scope approval)'
          : 'Reject a submission with a comment for the teacher (scope approval)',
      auth: approver,
      bodyParser: json,
      params: submissionParams,
      body: kind === 'approve' ? commentBody : rejectBody,
      responses: {
        200: { description: 'The submission as decided' },
        400: { description: 'A rejection without a comment' },
        403: { description: 'Not an approver, or the approver submitted it' },
        404: { description: "No such submission in the client's tenant" },
        409: { description: 'The submission is not waiting for a decision' },
      },
      handler: async (ctx, { params, body }) => {
        const result = await inTransaction(deps.db, (trx) =>
          decide(deps, trx, {
            tenantId: ctx.state.principal!.tenantId,
            submissionId: params.id,
            decision: kind,
            actor: actor(ctx),
            comment: body.comment ?? null,
            now: isoNow(deps.clock),
          }),
        );
        ctx.body = {
          submission: presentSubmission(result.submission),
          sendQueued: result.sendQueued,
        };
      },
    });

  surface.route({
    method: 'get',
    path: '/courses/:course/final-grades',
    operationId: 'finalGradesStatus',
    summary:
      "A course's final grades: per learner the value, state and flags, and what a send would carry",
    auth: reader,
    params: courseParams,
    responses: {
      200: { description: 'The status' },
      404: { description: "No such course in the client's tenant" },
    },
    handler: async (ctx, { params }) => {
      const courseId = await courseOf(ctx, params.course);
      const status = await finalGradeStatus(deps.db, ctx.state.principal!.tenantId, courseId);
      ctx.body = presentStatus(status!);
    },
  });
  surface.route({
    method: 'get',
    path: '/courses/:course/final-grades/events',
    operationId: 'finalGradesEvents',
    summary: "Every step of a course's final-grade workflow, newest first",
    auth: reader,
    params: courseParams,
    responses: { 200: { description: 'The events' }, 404: { description: 'No such course' } },
    handler: async (ctx, { params }) => {
      const courseId = await courseOf(ctx, params.course);
      const events = await finalGradeEvents(deps.db, ctx.state.principal!.tenantId, courseId);
      ctx.body = { events: events.map(presentEvent) };
    },
  });
  surface.route({
    method: 'post',
    path: '/courses/:course/final-grades/submissions',
    operationId: 'finalGradesSubmit',
    summary:
      "Submit the course's final grades for approval: a snapshot of them now (scope final-grades)",
    auth: submitter,
    bodyParser: json,
    params: courseParams,
    body: commentBody,
    responses: {
      201: { description: 'The submission' },
      404: { description: 'No such course' },
      409: { description: 'No final grade column, or no final grade to submit' },
    },
    handler: async (ctx, { params, body }) => {
      const courseId = await courseOf(ctx, params.course);
      const result = await inTransaction(deps.db, (trx) =>
        submit(deps, trx, {
          tenantId: ctx.state.principal!.tenantId,
          courseId,
          actor: actor(ctx),
          comment: body.comment ?? null,
          now: isoNow(deps.clock),
        }),
      );
      ctx.status = 201;
      ctx.body = { submission: presentSubmission(result.submission) };
    },
  });
  surface.route({
    method: 'get',
    path: '/final-grades/submissions',
    operationId: 'finalGradesPending',
    summary: "The tenant's submissions waiting for a decision (scope approval)",
    auth: approver,
    responses: { 200: { description: 'The waiting submissions, oldest first' } },
    handler: async (ctx) => {
      ctx.body = { submissions: await pendingSubmissions(deps.db, ctx.state.principal!.tenantId) };
    },
  });
  decision('approve');
  decision('reject');
  return surface;
}
