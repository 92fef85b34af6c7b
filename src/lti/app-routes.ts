import { z } from 'zod';
import type { AppDeps } from '../deps.js';
import { isoNow, toIso } from '../db/time.js';
import { AppError, ForbiddenError, NotFoundError } from '../http/errors.js';
import type { DocResponse } from '../http/openapi.js';
import type { AppContext, AppMiddleware, Surface } from '../http/surface.js';
import { DB_INT_MAX } from '../http/validation.js';
import { enqueue } from '../jobs/queue.js';
import { APP_CSP, ASSETS } from './assets.js';
import { LtiServiceError } from './engine.js';
import { learnerEventsSection } from './final-grade-pages.js';
import { finalGradeRoutes } from './final-grade-routes.js';
import {
  learnerFinalGradeEvents,
  queuedJobId,
  tenantTimeZone,
  type PageSession,
} from './final-grade-service.js';
import { coursePageData, type ListQuery } from './gradebook.js';
import { jobOutcome, jobOutcomeIfVisible } from './job-status.js';
import { appBase, coursePage, gradeHistoryPage, outcomeJson, type Outcome } from './pages.js';
import { reconcileRoutes } from './reconcile-pages.js';
import { exchangeState, gradeGrader, gradeSource, syncFailure } from './plain-words.js';
import { createMissingLineItems } from './services.js';

/**
 * The teacher app under /lti: the course page, a grade's history, the
 * status of a job a button queued, and (final-grade-routes.ts) the
 * final-grade review and approvals. Every page has two addresses:
 * `/lti/s/{session}/app/…`, the one its links use (the token once, in the
 * path, so a page of a thousand learners does not repeat it), and the older
 * `/lti/app/…?session=` (forms: a `session` field), still answered.
 * Buttons post forms; the app's script posts them in the background and
 * shows the outcome in place, and without it the page answers 303 back to
 * the page, which shows the outcome from the job's state (`?job=`).
 */

export interface AppSessions {
  session(token: string | undefined): PageSession;
  staffSession(token: string, refusal: string): PageSession;
}

const tokenParams = z.object({ session: z.string().min(1).max(8192) });

/** What the route helpers give the app's pages. */
export class AppKit {
  constructor(
    private readonly surface: Surface,
    readonly deps: AppDeps,
    readonly sessions: AppSessions,
    readonly form: AppMiddleware,
  ) {}

  session(token: string | undefined): PageSession {
    return this.sessions.session(token);
  }

  staffSession(token: string | undefined, refusal: string): PageSession {
    return this.sessions.staffSession(token ?? '', refusal);
  }

  async courseTitle(s: PageSession): Promise<string> {
    const row = await this.deps.db('courses').where({ id: s.courseId }).first('title');
    return (row?.title as string | undefined) ?? 'Course';
  }

  timeZone(s: PageSession): Promise<string> {
    return tenantTimeZone(this.deps, s.tenantId);
  }

  /** An app page: its strict policy, never cached (its links carry the session). */
  sendPage(ctx: AppContext, page: string): void {
    ctx.set('Content-Security-Policy', APP_CSP);
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = page;
  }

  /**
   * Whether the app's script asked (`X-Requested-With: XMLHttpRequest`): it
   * wants the outcome as JSON; anyone else gets the surface's HTML pages.
   */
  wantsJson(ctx: AppContext): boolean {
    return ctx.get('X-Requested-With') === 'XMLHttpRequest';
  }

  /**
   * Answers a staff action: the outcome as JSON for the script, else 303 to
   * `then` (an app path like `app?job=12`) under the session's base.
   */
  done(ctx: AppContext, token: string, outcome: Outcome, then: string): void {
    if (this.wantsJson(ctx)) {
      ctx.set('Cache-Control', 'no-store');
      ctx.body = outcomeJson(outcome);
      return;
    }
    ctx.status = 303;
    ctx.redirect(`${appBase(token)}${then}`);
  }

  /**
   * A refusal of the action itself (not of the session): as JSON for the
   * script, else the page the form is on, showing it, with its status.
   */
  async refused(
    ctx: AppContext,
    err: AppError,
    outcome: Outcome,
    page: () => Promise<string>,
  ): Promise<void> {
    ctx.status = err.status;
    if (this.wantsJson(ctx)) {
      ctx.body = outcomeJson(outcome);
      return;
    }
    this.sendPage(ctx, await page());
    ctx.status = err.status;
  }

  /** A page, at its path under the session's base and at its older address with `?session=`. */
  page<Q extends z.ZodObject>(spec: {
    path: string;
    operationId: string;
    summary: string;
    query: Q;
    responses: Record<string, DocResponse>;
    handler: (ctx: AppContext, token: string | undefined, query: z.output<Q>) => Promise<void>;
  }): void {
    this.surface.route({
      method: 'get',
      path: `/s/:session/app${spec.path}`,
      operationId: spec.operationId,
      summary: spec.summary,
      params: tokenParams,
      query: spec.query,
      responses: spec.responses,
      handler: (ctx, { params, query }) => spec.handler(ctx, params.session, query as z.output<Q>),
    });
    this.surface.route({
      method: 'get',
      path: `/app${spec.path}`,
      operationId: `${spec.operationId}Query`,
      summary: `${spec.summary}; older address, the session in the query`,
      query: spec.query.extend({ session: z.string().max(8192).optional() }),
      responses: spec.responses,
      handler: (ctx, { query }) =>
        spec.handler(ctx, (query as { session?: string }).session, query as z.output<Q>),
    });
  }

  /** A form post, at its path under the session's base and at its older address with a `session` field. */
  action<B extends z.ZodObject>(spec: {
    path: string;
    operationId: string;
    summary: string;
    body: B;
    responses: Record<string, DocResponse>;
    handler: (ctx: AppContext, token: string, body: z.output<B>) => Promise<void>;
  }): void {
    this.surface.route({
      method: 'post',
      path: `/s/:session/app${spec.path}`,
      operationId: spec.operationId,
      summary: spec.summary,
      bodyParser: this.form,
      params: tokenParams,
      body: spec.body,
      bodyContentTypes: ['application/x-www-form-urlencoded'],
      responses: spec.responses,
      handler: (ctx, { params, body }) => spec.handler(ctx, params.session, body as z.output<B>),
    });
    this.surface.route({
      method: 'post',
      path: `/app${spec.path}`,
      operationId: `${spec.operationId}Field`,
      summary: `${spec.summary}; older address, the session in a form field`,
      bodyParser: this.form,
      body: spec.body.extend({ session: z.string().max(8192) }),
      bodyContentTypes: ['application/x-www-form-urlencoded'],
      responses: spec.responses,
      handler: (ctx, { body }) =>
        spec.handler(ctx, (body as { session: string }).session, body as z.output<B>),
    });
  }
}

const listQuery = z.object({
  page: z.coerce.number().int().min(1).max(100000).optional(),
  q: z.string().max(100).optional(),
  attention: z.enum(['1', 'on', 'true']).optional(),
  job: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
});

const pageResponses = { 200: { description: 'HTML' } };
const actionResponses = {
  303: { description: 'Back to the page, which shows the outcome' },
  200: {
    description:
      "With `X-Requested-With: XMLHttpRequest` (the page's script): the outcome ({outcome: {html, done, poll}})",
  },
};

/** In plain words why line items could not be created. */
function lineItemFailure(err: Error): Outcome {
  const m = err.message;
  const text = /no line items endpoint/.test(m)
    ? 'This launch gave no line item service, so gradebridge cannot create line items from here.'
    : /line item scope/.test(m)
      ? 'The LMS did not allow gradebridge to create line items.'
      : err instanceof LtiServiceError
        ? 'The LMS refused, or could not be reached.'
        : 'Something went wrong while creating them.';
  return {
    tone: 'bad',
    done: true,
    title: 'No line items were created.',
    text,
    next: 'Ask your LMS administrator to check gradebridge’s access to grades, then try again.',
    detail: [
      ['Error', m],
      ...(err instanceof LtiServiceError
        ? ([['LMS answered', `${err.status} ${err.detail}`]] as Array<[string, string]>)
        : []),
    ],
  };
}

/** The app's routes (the course page, grade history, job status, assets) and the final-grade pages. */
export function appRoutes(
  surface: Surface,
  deps: AppDeps,
  sessions: AppSessions,
  form: AppMiddleware,
): void {
  const kit = new AppKit(surface, deps, sessions, form);

  const renderCourse = async (
    s: PageSession,
    token: string,
    list: ListQuery,
    outcome: (zone: string) => Promise<Outcome | null>,
  ) => coursePage(await coursePageData(deps, s, token, list, outcome));

  const listOf = (query: z.output<typeof listQuery>): ListQuery => ({
    page: query.page ?? 1,
    q: query.q ?? '',
    attention: !!query.attention,
  });

  kit.page({
    path: '',
    operationId: 'ltiCoursePage',
    summary:
      "The course page after a launch: staff see the course's grades (searched, filtered to those needing attention, 100 learners a page), learners their own",
    query: listQuery,
    responses: pageResponses,
    handler: async (ctx, token, query) => {
      const s = kit.session(token);
      kit.sendPage(
        ctx,
        await renderCourse(s, token!, listOf(query), (zone) =>
          jobOutcomeIfVisible(deps, s, query.job, zone),
        ),
      );
    },
  });

  surface.route({
    method: 'get',
    path: '/s/:session/app/jobs/:job',
    operationId: 'ltiJobStatus',
    summary:
      'Where a job a button queued stands (a pull, a send of final grades), in plain words: the course page polls it',
    params: tokenParams.extend({
      job: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    }),
    responses: {
      200: {
        description:
          '{id, state, outcome: {tone, done, title, next, html, poll, refresh}}: done says it will not change any more',
      },
      401: { description: 'The session expired' },
      404: { description: 'No such job for this course' },
    },
    handler: async (ctx, { params }) => {
      ctx.set('Cache-Control', 'no-store');
      try {
        const s = kit.session(params.session);
        const outcome = await jobOutcome(deps, s, params.job, await kit.timeZone(s));
        const row = await deps.db('jobs').where({ id: params.job }).first('state');
        ctx.body = { id: params.job, state: row?.state ?? null, ...outcomeJson(outcome) };
      } catch (err) {
        // The script gets its refusals as outcomes; anyone else the surface's HTML page.
        if (!(err instanceof AppError) || err.status >= 500 || !kit.wantsJson(ctx)) throw err;
        ctx.status = err.status;
        ctx.body = {
          id: params.job,
          state: null,
          ...outcomeJson({
            tone: 'bad',
            done: true,
            title: err.message,
            next: err.status === 401 ? 'Open gradebridge from your course again.' : null,
          }),
        };
      }
    },
  });

  kit.action({
    path: '/pull',
    operationId: 'ltiPullNow',
    summary: 'Queue a pull of line items, results and roster from the LMS (staff)',
    body: z.object({}),
    responses: actionResponses,
    handler: async (ctx, token) => {
      const s = kit.staffSession(token, 'Only course staff can pull grades.');
      const queueKey = `lti.pull:${s.ltiContextId}`;
      const id =
        (await enqueue(deps.db, 'lti.pull', { ltiContextId: s.ltiContextId }, isoNow(deps.clock), {
          tenantId: s.tenantId,
          queueKey,
          maxAttempts: 3,
        })) ?? (await queuedJobId(deps, queueKey));
      const outcome = id
        ? await jobOutcome(deps, s, id, await kit.timeZone(s))
        : ({ tone: 'info', done: true, title: 'A pull from the LMS was already queued.' } as const);
      kit.done(ctx, token, outcome, id ? `app?job=${id}` : 'app');
    },
  });

  kit.action({
    path: '/lineitems',
    operationId: 'ltiCreateLineItems',
    summary: 'Create LMS line items for the columns that have none (staff)',
    body: z.object({}),
    responses: {
      ...actionResponses,
      409: {
        description:
          'The course page (or JSON outcome) saying why: the launch gave no line item service',
      },
      502: { description: 'The course page (or JSON outcome) saying why: the LMS failed' },
    },
    handler: async (ctx, token) => {
      const s = kit.staffSession(token, 'Only course staff can create line items.');
      let created: number;
      try {
        created = await createMissingLineItems(deps, s.ltiContextId);
      } catch (err) {
        ctx.state.log.warn(
          {
            err,
            ltiContextId: s.ltiContextId,
            ...(err instanceof LtiServiceError ? { status: err.status, answer: err.detail } : {}),
          },
          'LTI line items not created',
        );
        const outcome = lineItemFailure(err as Error);
        // Nothing to create them with is the launch's limit (409); the LMS failing is a 502.
        const limit = /no line items endpoint|line item scope/.test((err as Error).message);
        const refusal = limit
          ? new AppError(409, 'no_line_item_service', outcome.title)
          : new AppError(502, 'lms_failed', outcome.title);
        await kit.refused(ctx, refusal, outcome, () =>
          renderCourse(s, token, listOf({}), async () => outcome),
        );
        return;
      }
      kit.done(
        ctx,
        token,
        {
          tone: 'ok',
          done: true,
          refresh: true,
          title: `${created} line item${created === 1 ? '' : 's'} created in the LMS.`,
          text: created === 0 ? 'Every column already had one.' : null,
        },
        'app',
      );
    },
  });

  kit.page({
    path: '/grade',
    operationId: 'ltiGradeHistory',
    summary: "One grade's history, with its sends to the SIS (staff, or the learner's own)",
    query: z.object({
      column: z.coerce.number().int().positive().max(DB_INT_MAX),
      user: z.coerce.number().int().positive().max(DB_INT_MAX),
    }),
    responses: pageResponses,
    handler: async (ctx, token, query) => {
      const s = kit.session(token);
      if (!s.staff && !s.visibleUserIds.includes(query.user))
        throw new ForbiddenError(
          s.visibleUserIds.length === 1 && s.visibleUserIds[0] === s.userId
            ? 'You can see only your own grades.'
            : 'You cannot see this grade.',
        );
      const column = await deps
        .db('grade_columns')
        .where({ id: query.column, course_id: s.courseId })
        .first('id', 'name');
      const learner = await deps
        .db('enrollments as e')
        .join('users as u', 'u.id', 'e.user_id')
        .where({ 'e.course_id': s.courseId, 'e.user_id': query.user })
        .first('u.name', 'u.email', 'u.batch_uid');
      if (!column || !learner) throw new NotFoundError('No such grade in this course.');
      const versions = await deps
        .db('grade_versions as v')
        .leftJoin('users as g', 'g.id', 'v.grader_id')
        .where({ 'v.column_id': column.id, 'v.user_id': query.user })
        .orderBy('v.id', 'desc')
        .select('v.id', 'v.score', 'v.grade', 'v.graded_at', 'v.source', 'g.name as grader');
      const sends = await deps
        .db('exchange_sends as x')
        .join('exchanges as e', 'e.id', 'x.exchange_id')
        .where({ 'x.column_id': column.id, 'x.user_id': query.user })
        .orderBy('x.id')
        .select(
          'x.version_id',
          'x.kind',
          'x.status',
          'x.error_code',
          'x.error_message',
          'x.updated_at',
          'e.remote_id',
          'e.state as exchange_state',
        );
      const learnerName = learner.name ?? learner.email ?? learner.batch_uid ?? 'Learner';
      const zone = await kit.timeZone(s);
      const events = await learnerFinalGradeEvents(deps, s, column.id, query.user);
      kit.sendPage(
        ctx,
        gradeHistoryPage({
          session: token!,
          courseTitle: await kit.courseTitle(s),
          columnName: column.name,
          learnerName,
          timeZone: zone,
          workflow: events ? learnerEventsSection(events, learnerName, zone) : null,
          versions: versions.map((v) => ({
            id: Number(v.id),
            score: v.score,
            grade: v.grade,
            gradedAt: toIso(v.graded_at)!,
            source: v.source,
            from: gradeSource(v.source),
            by: gradeGrader(v.grader ?? null, v.source),
            sends: sends
              .filter((x) => Number(x.version_id) === Number(v.id))
              .map((x) => ({
                tone:
                  x.status === 'sent'
                    ? ('ok' as const)
                    : x.status === 'failed'
                      ? ('bad' as const)
                      : ('info' as const),
                words:
                  x.status === 'sent'
                    ? `Sent to the SIS${x.kind === 'summary' ? ' as the final grade' : ''}`
                    : x.status === 'failed'
                      ? `Not sent: ${syncFailure(x.error_code, x.error_message)}`
                      : `Being sent (${exchangeState(x.exchange_state).words})`,
                at: toIso(x.updated_at)!,
                detail: [
                  ['Exchange', String(x.remote_id)],
                  ['Status', String(x.status)],
                  ...(x.error_code
                    ? ([['Error', `${x.error_code}: ${x.error_message ?? ''}`]] as Array<
                        [string, string]
                      >)
                    : []),
                ],
              })),
          })),
        }),
      );
    },
  });

  surface.route({
    method: 'get',
    path: '/assets/:name',
    operationId: 'ltiAsset',
    summary: "The app's stylesheet and script",
    params: z.object({ name: z.enum(Object.keys(ASSETS) as [string, ...string[]]) }),
    responses: { 200: { description: 'CSS or JavaScript' }, 400: { description: 'No such asset' } },
    handler: (ctx, { params }) => {
      const asset = ASSETS[params.name]!;
      ctx.set('Cache-Control', 'public, max-age=86400');
      ctx.type = asset.type;
      ctx.body = asset.body;
    },
  });

  finalGradeRoutes(kit);
  reconcileRoutes(kit);
}
