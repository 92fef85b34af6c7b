import { AppError, ForbiddenError } from '../http/errors.js';
import { DB_INT_MAX, text, z } from '../http/validation.js';
import type { AppKit } from './app-routes.js';
import { approvalsPage, reviewPage } from './final-grade-pages.js';
import {
  approverDecides,
  canApprove,
  chooseColumn,
  finalGradeReview,
  latestDecision,
  teacherConfirms,
  waitingSubmissions,
  type PageSession,
} from './final-grade-service.js';
import { coursePageData } from './gradebook.js';
import { jobOutcome, jobOutcomeIfVisible } from './job-status.js';
import { coursePage, type Outcome } from './pages.js';

const MAX_COMMENT = 2000;
const comment = text().max(MAX_COMMENT).optional();
const jobQuery = z.object({
  job: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
});

/** A refusal of a step (no final column, not waiting any more…), as the page shows it. */
const refusal = (err: AppError): Outcome => ({
  tone: 'bad',
  done: true,
  title: err.message,
  next: err.status === 409 ? 'The page below shows where things stand now.' : null,
});

/**
 * The final-grade workflow's pages under /lti/.../app: the review a teacher
 * confirms (which submits for approval or sends), choosing the final column,
 * and the approver's page with its decisions. Each confirm answers with its
 * outcome (a send's job is followed on the page until it ends).
 */
export function finalGradeRoutes(kit: AppKit): void {
  const deps = kit.deps;
  const reviewRefusal = 'Only course staff can review, submit or send final grades.';

  const renderReview = async (s: PageSession, token: string, outcome: Outcome | null) =>
    reviewPage({
      session: token,
      courseTitle: await kit.courseTitle(s),
      review: await finalGradeReview(deps, s),
      outcome,
    });

  kit.page({
    path: '/final-grades',
    operationId: 'ltiFinalGradesReview',
    summary:
      'Review the final grades a submission for approval (or, approval off, a send) would carry, then confirm (staff)',
    query: jobQuery,
    responses: { 200: { description: 'HTML' }, 403: { description: 'Not course staff' } },
    handler: async (ctx, token, query) => {
      const s = kit.staffSession(token, reviewRefusal);
      const outcome = await jobOutcomeIfVisible(deps, s, query.job, await kit.timeZone(s));
      kit.sendPage(ctx, await renderReview(s, token!, outcome));
    },
  });

  kit.action({
    path: '/send-final',
    operationId: 'ltiSendFinalGrades',
    summary:
      "Confirm the review: submit the course's final grades for approval with an optional comment for the approver, or (approval off) send them to the SIS through Data Sync (staff)",
    body: z.object({ comment }),
    responses: {
      303: { description: 'To the course page, which shows the outcome' },
      200: { description: 'With `Accept: application/json`: the outcome' },
      403: { description: 'Not course staff' },
      409: {
        description: 'The review (or JSON outcome) saying why: no final column, no final grade',
      },
    },
    handler: async (ctx, token, body) => {
      const s = kit.staffSession(token, reviewRefusal);
      let step;
      try {
        step = await teacherConfirms(deps, s, body.comment?.trim() || null);
      } catch (err) {
        if (!(err instanceof AppError) || err.status >= 500) throw err;
        await kit.refused(ctx, err, refusal(err), () => renderReview(s, token, refusal(err)));
        return;
      }
      const outcome: Outcome = step.jobId
        ? await jobOutcome(deps, s, step.jobId, await kit.timeZone(s))
        : { tone: 'ok', done: true, refresh: true, title: step.message };
      kit.done(ctx, token, outcome, step.jobId ? `app?job=${step.jobId}` : 'app');
    },
  });

  kit.action({
    path: '/final-column',
    operationId: 'ltiChooseFinalColumn',
    summary:
      'Choose the final grade column of a course that has none: an ordinary column becomes the external grade column, a weighted or total column is marked final (staff)',
    body: z.object({ column: z.coerce.number().int().positive().max(DB_INT_MAX) }),
    responses: {
      303: { description: 'Back to the course page' },
      200: { description: 'With `Accept: application/json`: the outcome' },
      403: { description: 'Not course staff' },
      409: {
        description:
          'The course page (or JSON outcome) saying why: the course already has one, the column is not there, or it is locked',
      },
    },
    handler: async (ctx, token, body) => {
      const s = kit.staffSession(token, 'Only course staff can choose the final grade column.');
      let message: string;
      try {
        message = await chooseColumn(deps, s, body.column);
      } catch (err) {
        if (!(err instanceof AppError) || err.status >= 500) throw err;
        await kit.refused(ctx, err, refusal(err), async () =>
          coursePage(
            await coursePageData(deps, s, token, { page: 1, q: '', attention: false }, async () =>
              refusal(err),
            ),
          ),
        );
        return;
      }
      kit.done(ctx, token, { tone: 'ok', done: true, refresh: true, title: message }, 'app');
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

  const renderApprovals = async (s: PageSession, token: string, outcome: Outcome | null) =>
    approvalsPage({
      session: token,
      courseTitle: await kit.courseTitle(s),
      timeZone: await kit.timeZone(s),
      submissions: await waitingSubmissions(deps, s),
      latest: await latestDecision(deps, s),
      outcome,
    });

  kit.page({
    path: '/approvals',
    operationId: 'ltiApprovals',
    summary:
      "The tenant's final grades waiting for approval, each with its review, to approve or reject (approvers)",
    query: jobQuery,
    responses: { 200: { description: 'HTML' }, 403: { description: 'Not an approver' } },
    handler: async (ctx, token, query) => {
      const s = await approverSession(token);
      const outcome = await jobOutcomeIfVisible(deps, s, query.job, await kit.timeZone(s));
      kit.sendPage(ctx, await renderApprovals(s, token!, outcome));
    },
  });

  kit.action({
    path: '/approvals/decide',
    operationId: 'ltiDecideFinalGrades',
    summary:
      'Approve or reject a submission of final grades with a comment (approvers; a rejection needs a comment; nobody decides on their own submission)',
    body: z.object({
      submission: z.coerce.number().int().positive().max(DB_INT_MAX),
      decision: z.enum(['approve', 'reject']),
      comment,
    }),
    responses: {
      303: { description: 'Back to the approvals page, which shows the outcome' },
      200: { description: 'With `Accept: application/json`: the outcome' },
      400: { description: 'The approvals page, saying a rejection needs a comment' },
      403: { description: 'Not an approver; or the page, saying it is their own submission' },
      404: { description: 'The page, saying there is no such submission' },
      409: { description: 'The page, saying the submission is no longer waiting' },
    },
    handler: async (ctx, token, body) => {
      const s = await approverSession(token);
      let step;
      try {
        step = await approverDecides(deps, s, {
          submissionId: body.submission,
          decision: body.decision,
          comment: body.comment ?? null,
        });
      } catch (err) {
        if (!(err instanceof AppError) || err.status >= 500) throw err;
        // The core refused (own submission, no comment, no longer waiting): say so on the page.
        await kit.refused(ctx, err, refusal(err), () => renderApprovals(s, token, refusal(err)));
        return;
      }
      const outcome: Outcome = step.jobId
        ? {
            ...(await jobOutcome(deps, s, step.jobId, await kit.timeZone(s))),
            title: step.message,
          }
        : { tone: 'ok', done: true, refresh: true, title: step.message };
      kit.done(
        ctx,
        token,
        outcome,
        step.jobId ? `app/approvals?job=${step.jobId}` : 'app/approvals',
      );
    },
  });
}
