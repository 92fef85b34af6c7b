import type { AppDeps } from '../deps.js';
import { AppError, ForbiddenError } from '../http/errors.js';
import type { AppContext, AppMiddleware, Surface } from '../http/surface.js';
import { DB_INT_MAX, text, z } from '../http/validation.js';
import { approvalsPage, reviewPage } from './final-grade-pages.js';
import {
  approverDecides,
  canApprove,
  chooseColumn,
  finalGradeReview,
  teacherConfirms,
  waitingSubmissions,
  type PageSession,
} from './final-grade-service.js';

/** What the LTI surface lends its final-grade pages: sessions, the course page's URL, HTML answers. */
export interface LtiPageKit {
  session(token: string | undefined): PageSession;
  staffSession(token: string, refusal: string): PageSession;
  appUrl(token: string, notice?: string): string;
  sendHtml(ctx: AppContext, page: string): void;
  courseTitle(s: PageSession): Promise<string>;
  form: AppMiddleware;
}

const MAX_COMMENT = 2000;
const comment = text().max(MAX_COMMENT).optional();
const approvalsQuery = z.object({
  session: z.string().optional(),
  notice: z.string().max(300).optional(),
});

const approvalsUrl = (token: string, notice?: string) =>
  `/lti/app/approvals?session=${encodeURIComponent(token)}${notice ? `&notice=${encodeURIComponent(notice)}` : ''}`;

/**
 * The final-grade workflow's pages under /lti/app: the review a teacher
 * confirms (which submits for approval or sends), choosing the final column,
 * and the approver's page with its decisions.
 */
export function finalGradeRoutes(surface: Surface, deps: AppDeps, kit: LtiPageKit): void {
  const reviewRefusal = 'Only course staff can review, submit or send final grades.';

  surface.route({
    method: 'get',
    path: '/app/final-grades',
    operationId: 'ltiFinalGradesReview',
    summary:
      'Review the final grades a submission for approval (or, approval off, a send) would carry, then confirm (staff)',
    query: z.object({ session: z.string().optional() }),
    responses: { 200: { description: 'HTML' }, 403: { description: 'Not course staff' } },
    handler: async (ctx, { query }) => {
      const s = kit.staffSession(query.session ?? '', reviewRefusal);
      const review = await finalGradeReview(deps, s);
      kit.sendHtml(
        ctx,
        reviewPage({
          session: query.session!,
          courseTitle: await kit.courseTitle(s),
          review,
        }),
      );
    },
  });

  surface.route({
    method: 'post',
    path: '/app/send-final',
    operationId: 'ltiSendFinalGrades',
    summary:
      "Confirm the review: submit the course's final grades for approval with an optional comment for the approver, or (approval off) send them to the SIS through Data Sync (staff)",
    bodyParser: kit.form,
    body: z.object({ session: z.string(), comment }),
    responses: {
      303: { description: 'Back to the course page with what was done' },
      403: { description: 'Not course staff' },
      409: { description: 'No final grade column, no final grade to submit, or no Data Sync' },
    },
    handler: async (ctx, { body }) => {
      const s = kit.staffSession(body.session, reviewRefusal);
      const notice = await teacherConfirms(deps, s, body.comment?.trim() || null);
      ctx.status = 303;
      ctx.redirect(kit.appUrl(body.session, notice));
    },
  });

  surface.route({
    method: 'post',
    path: '/app/final-column',
    operationId: 'ltiChooseFinalColumn',
    summary:
      'Choose the final grade column of a course that has none: an ordinary column becomes the external grade column, a weighted or total column is marked final (staff)',
    bodyParser: kit.form,
    body: z.object({
      session: z.string(),
      column: z.coerce.number().int().positive().max(DB_INT_MAX),
    }),
    responses: {
      303: { description: 'Back to the course page' },
      403: { description: 'Not course staff' },
      409: { description: 'The course already has one, the column is not there, or it is locked' },
    },
    handler: async (ctx, { body }) => {
      const s = kit.staffSession(
        body.session,
        'Only course staff can choose the final grade column.',
      );
      const notice = await chooseColumn(deps, s, body.column);
      ctx.status = 303;
      ctx.redirect(kit.appUrl(body.session, notice));
    },
  });

  const approverSession = async (token: string | undefined) => {
    const s = kit.session(token);
    if (!(await canApprove(deps, s)))
      throw new ForbiddenError(
        'Only an approver can see and decide on final grades waiting for approval.',
      );
    return s;
  };

  const renderApprovals = async (
    ctx: AppContext,
    s: PageSession,
    token: string,
    message: { notice?: string | null; error?: string | null },
  ) =>
    kit.sendHtml(
      ctx,
      approvalsPage({
        session: token,
        courseTitle: await kit.courseTitle(s),
        submissions: await waitingSubmissions(deps, s),
        notice: message.notice ?? null,
        error: message.error ?? null,
      }),
    );

  surface.route({
    method: 'get',
    path: '/app/approvals',
    operationId: 'ltiApprovals',
    summary:
      "The tenant's final grades waiting for approval, each with its review, to approve or reject (approvers)",
    query: approvalsQuery,
    responses: { 200: { description: 'HTML' }, 403: { description: 'Not an approver' } },
    handler: async (ctx, { query }) => {
      const s = await approverSession(query.session);
      await renderApprovals(ctx, s, query.session!, { notice: query.notice });
    },
  });

  surface.route({
    method: 'post',
    path: '/app/approvals/decide',
    operationId: 'ltiDecideFinalGrades',
    summary:
      'Approve or reject a submission of final grades with a comment (approvers; a rejection needs a comment; nobody decides on their own submission)',
    bodyParser: kit.form,
    body: z.object({
      session: z.string(),
      submission: z.coerce.number().int().positive().max(DB_INT_MAX),
      decision: z.enum(['approve', 'reject']),
      comment,
    }),
    responses: {
      303: { description: 'Back to the approvals page with what was done' },
      400: { description: 'The approvals page, saying a rejection needs a comment' },
      403: { description: 'Not an approver; or the page, saying it is their own submission' },
      404: { description: 'The page, saying there is no such submission' },
      409: { description: 'The page, saying the submission is no longer waiting' },
    },
    handler: async (ctx, { body }) => {
      const s = await approverSession(body.session);
      let notice: string;
      try {
        notice = await approverDecides(deps, s, {
          submissionId: body.submission,
          decision: body.decision,
          comment: body.comment ?? null,
        });
      } catch (err) {
        if (!(err instanceof AppError) || err.status >= 500) throw err;
        // The core refused (own submission, no comment, no longer waiting): say so on the page.
        ctx.status = err.status;
        await renderApprovals(ctx, s, body.session, { error: err.message });
        return;
      }
      ctx.status = 303;
      ctx.redirect(approvalsUrl(body.session, notice));
    },
  });
}
