import { koaBody } from 'koa-body';
import type { AppDeps } from '../deps.js';
import { isoNow, toIso } from '../db/time.js';
import { inTransaction } from '../db/transaction.js';
import {
  AppError,
  BadRequestError,
  ForbiddenError,
  NotFoundError,
  UnauthorizedError,
} from '../http/errors.js';
import type { ApiDocs } from '../http/openapi.js';
import { requestBaseUrl, Surface, type AppContext, type ErrorRenderer } from '../http/surface.js';
import { DB_INT_MAX, z } from '../http/validation.js';
import { parseJson } from '../grades/json.js';
import { enqueue } from '../jobs/queue.js';
import { LtiServiceError, type DeepLinkingSettings, type LtiRequest } from './engine.js';
import type { VerifiedLaunch } from './launch-check.js';
import { recordLaunch, unchangedLaunch, visibleLearners } from './launch.js';
import { approverLink, finalGradeSection, learnerEventsSection } from './final-grade-pages.js';
import { finalGradeRoutes } from './final-grade-routes.js';
import {
  approverWaiting,
  courseFinalGrades,
  learnerFinalGradeEvents,
  type PageSession,
} from './final-grade-service.js';
import {
  coursePage,
  deepLinkPage,
  errorPage,
  autoSubmitPage,
  layout,
  html,
  gradeHistoryPage,
  type CoursePageData,
  type GradeCell,
  type SyncState,
} from './pages.js';
import { dynamicRegistration, RegistrationError, toolUrls } from './registration.js';
import {
  createColumn,
  createMissingLineItems,
  lineItemFor,
  loadLtiContext,
  serviceContext,
  type LtiColumn,
} from './services.js';

type Session = PageSession;

function sendHtml(ctx: AppContext, page: string): void {
  ctx.type = 'text/html; charset=utf-8';
  ctx.body = page;
}

/** The code of a 502 whose message says in plain words what the LMS did wrong. */
const LMS_FAILED = 'lms_failed';

/** LTI pages answer errors as HTML pages the LMS frame can show. */
const renderLtiError: ErrorRenderer = (ctx, error) => {
  ctx.status = error.status;
  const worded = error.status < 500 || error.code === LMS_FAILED;
  sendHtml(
    ctx,
    errorPage(
      error.status,
      worded ? error.message : 'Something went wrong; try again.',
      ctx.state.requestId,
    ),
  );
};

type DeepLinkSession = Session & { deepLinking: DeepLinkingSettings };

const form = koaBody({
  urlencoded: true,
  json: false,
  text: false,
  multipart: false,
  formLimit: '16kb',
});

/** The LTI 1.3 tool under /lti: login, launch, keys, dynamic registration, the course page and deep linking. */
export function ltiSurface(deps: AppDeps, docs: ApiDocs): Surface {
  const surface = new Surface(
    {
      name: 'lti',
      prefix: '/lti',
      tag: 'LTI 1.3 tool',
      description:
        'What an LMS talks to: OIDC login initiation, launch (resource link and deep linking), the tool keyset, dynamic registration; and the pages a teacher or learner sees after a launch.',
      renderError: renderLtiError,
      auth: null,
    },
    docs,
  );
  const baseUrl = (ctx: AppContext) => requestBaseUrl(deps.config, ctx);

  /** Hands the request to ltijs's Express app (gradebridge's login and launch checks run first inside it). */
  const delegate = async (ctx: AppContext): Promise<'next' | 'responded'> => {
    ctx.status = 200; // Koa presets 404; Express writes whatever status it finds.
    (ctx.req as unknown as LtiRequest).gradebridge = {
      requestId: ctx.state.requestId,
      log: ctx.state.log,
    };
    const outcome = await deps.lti.engine.handle(ctx.req, ctx.res);
    if (outcome === 'responded') ctx.respond = false;
    return outcome;
  };

  const session = (token: string | undefined): Session => {
    const found = deps.lti.sessions.verify(token);
    if (!found)
      throw new UnauthorizedError(
        'Your session has expired; open gradebridge from your course again.',
      );
    return found;
  };

  const staffSession = (token: string, refusal: string): Session => {
    const s = session(token);
    if (!s.staff) throw new ForbiddenError(refusal);
    return s;
  };

  const deepLinkSession = (token: string | undefined): DeepLinkSession => {
    const s = session(token);
    if (!s.deepLinking || !s.staff)
      throw new ForbiddenError('This session cannot add content to the course.');
    return s as DeepLinkSession;
  };

  const appUrl = (token: string, notice?: string) =>
    `/lti/app?session=${encodeURIComponent(token)}${notice ? `&notice=${encodeURIComponent(notice)}` : ''}`;

  for (const method of ['get', 'post'] as const) {
    surface.route({
      method,
      path: '/login',
      operationId: `ltiLogin${method === 'get' ? 'Get' : 'Post'}`,
      summary: 'OIDC login initiation (third-party initiated login)',
      description:
        'iss, login_hint, target_link_uri, and optionally client_id, lti_message_hint, lti_deployment_id. Redirects to the platform with a state and a nonce bound to it.',
      responses: {
        302: { description: 'To the platform authorization endpoint' },
        400: { description: 'HTML error page' },
      },
      handler: delegate,
    });
  }

  surface.route({
    method: 'post',
    path: '/launch',
    operationId: 'ltiLaunch',
    summary: 'Launch (id_token form post): resource link and deep linking',
    responses: {
      303: { description: 'To the course page or the deep linking page' },
      401: { description: 'HTML error page naming the problem' },
    },
    handler: async (ctx) => {
      if ((await delegate(ctx)) === 'responded') return;
      const locals = (ctx.res as unknown as { locals?: Record<string, unknown> }).locals ?? {};
      const verified = locals.gradebridgeLaunch as VerifiedLaunch | undefined;
      if (locals.ltiError || !verified || !locals.ltiLaunch) {
        const err = locals.ltiError as { details?: { message?: string } } | undefined;
        const reason = `The launch was refused (${err?.details?.message ?? 'INVALID_LAUNCH'}).`;
        ctx.state.log.info({ reason }, 'LTI launch refused');
        throw new AppError(401, 'launch_refused', reason);
      }
      const recorded =
        (await unchangedLaunch(deps.db, verified)) ??
        (await inTransaction(deps.db, (trx) => recordLaunch(trx, verified, isoNow(deps.clock))));
      const c = verified.claims;
      const visible = await visibleLearners(deps.db, verified, recorded);
      const token = deps.lti.sessions.issue({
        tenantId: recorded.tenantId,
        userId: recorded.userId,
        courseId: recorded.courseId,
        ltiContextId: recorded.ltiContextId,
        staff: recorded.staff,
        ...(visible ? { visibleUserIds: visible } : {}),
        ...(c.deepLinking ? { deepLinking: c.deepLinking, deploymentId: c.deploymentId } : {}),
      });
      ctx.status = 303;
      ctx.redirect(
        c.messageType === 'LtiDeepLinkingRequest'
          ? `/lti/deep-link?session=${encodeURIComponent(token)}`
          : appUrl(token),
      );
    },
  });

  surface.route({
    method: 'get',
    path: '/keys',
    operationId: 'ltiKeys',
    summary: "The tool's public keys (JWKS), one per registered platform",
    responses: { 200: { description: 'JWK set' } },
    handler: delegate,
  });

  surface.route({
    method: 'get',
    path: '/register',
    operationId: 'ltiDynamicRegistration',
    summary: 'LTI Dynamic Registration',
    description:
      "Open the tenant's registration URL (`npm run cli -- platform registration-url`) from the LMS; it adds openid_configuration and registration_token.",
    query: z.object({
      tenant: z.string().optional(),
      openid_configuration: z.string().optional(),
      registration_token: z.string().optional(),
    }),
    responses: {
      200: { description: 'Registered; the page tells the LMS to close the dialog' },
      400: { description: 'HTML error page: the link or the registration is not valid' },
      502: {
        description:
          'HTML error page: the LMS could not be reached, or answered something unusable',
      },
    },
    handler: async (ctx, { query }) => {
      try {
        const registered = await dynamicRegistration(deps, baseUrl(ctx), {
          tenant: query.tenant,
          openidConfiguration: query.openid_configuration,
          registrationToken: query.registration_token,
        });
        sendHtml(
          ctx,
          layout(
            'Registered',
            html`<h1>gradebridge is registered</h1>
              <p>Platform ${registered.issuer}, deployment ${registered.deployments.join(', ')}.</p>
              <script>
                (window.opener || window.parent).postMessage(
                  { subject: 'org.imsglobal.lti.close' },
                  '*',
                );
              </script>`,
          ),
        );
      } catch (err) {
        if (!(err instanceof RegistrationError)) throw err;
        ctx.state.log.warn(
          { reason: err.message, status: err.status },
          'LTI dynamic registration refused',
        );
        throw err.status === 502
          ? new AppError(502, LMS_FAILED, err.message)
          : new BadRequestError(err.message);
      }
    },
  });

  surface.route({
    method: 'get',
    path: '',
    operationId: 'ltiInfo',
    summary: 'The URLs an LMS administrator needs',
    responses: { 200: { description: 'JSON' } },
    handler: (ctx) => {
      ctx.body = toolUrls(baseUrl(ctx));
    },
  });

  surface.route({
    method: 'get',
    path: '/app',
    operationId: 'ltiCoursePage',
    summary: "The course page after a launch (staff see the course's grades, learners their own)",
    query: z.object({ session: z.string().optional(), notice: z.string().max(200).optional() }),
    responses: { 200: { description: 'HTML' } },
    handler: async (ctx, { query }) => {
      const s = session(query.session);
      sendHtml(ctx, await renderCourse(deps, s, query.session!, query.notice ?? null));
    },
  });

  /** A staff button on the course page: does its work, then back to the page with a notice. */
  const staffAction = (
    route: { path: string; operationId: string; summary: string; refusal: string },
    act: (s: Session, ctx: AppContext) => Promise<string>,
  ) =>
    surface.route({
      method: 'post',
      path: route.path,
      operationId: route.operationId,
      summary: route.summary,
      bodyParser: form,
      body: z.object({ session: z.string() }),
      responses: { 303: { description: 'Back to the course page' } },
      handler: async (ctx, { body }) => {
        const notice = await act(staffSession(body.session, route.refusal), ctx);
        ctx.status = 303;
        ctx.redirect(appUrl(body.session, notice));
      },
    });

  staffAction(
    {
      path: '/app/pull',
      operationId: 'ltiPullNow',
      summary: 'Queue a pull of line items, results and roster from the LMS (staff)',
      refusal: 'Only course staff can pull grades.',
    },
    async (s) => {
      const queued = await enqueue(
        deps.db,
        'lti.pull',
        { ltiContextId: s.ltiContextId },
        isoNow(deps.clock),
        {
          tenantId: s.tenantId,
          queueKey: `lti.pull:${s.ltiContextId}`,
          maxAttempts: 3,
        },
      );
      return queued ? 'A pull from the LMS is queued.' : 'A pull from the LMS was already queued.';
    },
  );

  finalGradeRoutes(surface, deps, {
    session,
    staffSession,
    appUrl,
    sendHtml,
    form,
    courseTitle: async (s) =>
      ((await deps.db('courses').where({ id: s.courseId }).first('title'))?.title as
        string | undefined) ?? 'Course',
  });

  surface.route({
    method: 'get',
    path: '/app/grade',
    operationId: 'ltiGradeHistory',
    summary: "One grade's history, with its sync to the SIS (staff, or the learner's own)",
    query: z.object({
      session: z.string().optional(),
      column: z.coerce.number().int().positive().max(DB_INT_MAX),
      user: z.coerce.number().int().positive().max(DB_INT_MAX),
    }),
    responses: { 200: { description: 'HTML' } },
    handler: async (ctx, { query }) => {
      const s = session(query.session);
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
          'x.status',
          'x.error_code',
          'x.error_message',
          'x.updated_at',
          'e.remote_id',
        );
      const course = await deps.db('courses').where({ id: s.courseId }).first('title');
      const learnerName = learner.name ?? learner.email ?? learner.batch_uid ?? 'Learner';
      const events = await learnerFinalGradeEvents(deps, s, column.id, query.user);
      sendHtml(
        ctx,
        gradeHistoryPage({
          session: query.session!,
          courseTitle: course?.title ?? 'Course',
          columnName: column.name,
          learnerName,
          workflow: events ? learnerEventsSection(events, learnerName) : null,
          versions: versions.map((v) => ({
            id: Number(v.id),
            score: v.score,
            grade: v.grade,
            gradedAt: toIso(v.graded_at)!,
            source: v.source,
            grader: v.grader ?? null,
            sends: sends
              .filter((x) => Number(x.version_id) === Number(v.id))
              .map((x) => ({
                status: x.status,
                exchange: x.remote_id,
                at: toIso(x.updated_at)!,
                error: x.error_code ? `${x.error_code}: ${x.error_message ?? ''}` : null,
              })),
          })),
        }),
      );
    },
  });

  staffAction(
    {
      path: '/app/lineitems',
      operationId: 'ltiCreateLineItems',
      summary: 'Create LMS line items for the columns that have none (staff)',
      refusal: 'Only course staff can create line items.',
    },
    async (s, ctx) => {
      try {
        const created = await createMissingLineItems(deps, s.ltiContextId);
        return `${created} line item${created === 1 ? '' : 's'} created in the LMS.`;
      } catch (err) {
        ctx.state.log.warn(
          {
            err,
            ltiContextId: s.ltiContextId,
            ...(err instanceof LtiServiceError ? { status: err.status, answer: err.detail } : {}),
          },
          'LTI line items not created',
        );
        return `No line items were created: ${(err as Error).message}.`;
      }
    },
  );

  surface.route({
    method: 'get',
    path: '/deep-link',
    operationId: 'ltiDeepLinkPage',
    summary: 'Choose what to place in the course (deep linking)',
    query: z.object({ session: z.string().optional() }),
    responses: { 200: { description: 'HTML' } },
    handler: async (ctx, { query }) => {
      const s = deepLinkSession(query.session);
      const course = await deps.db('courses').where({ id: s.courseId }).first('title');
      const columns = await deps
        .db('grade_columns')
        .where({ course_id: s.courseId })
        .whereNull('deleted_at')
        .orderBy('id')
        .select('id', 'name', 'points');
      sendHtml(
        ctx,
        deepLinkPage({
          session: query.session!,
          courseTitle: course?.title ?? 'your course',
          columns,
        }),
      );
    },
  });

  surface.route({
    method: 'post',
    path: '/deep-link',
    operationId: 'ltiDeepLinkAnswer',
    summary: 'Answer the deep linking request with a gradebridge link (and a line item)',
    bodyParser: form,
    body: z.object({
      session: z.string(),
      title: z.string().trim().min(1).max(255),
      column: z
        .string()
        .regex(/^(new|[1-9][0-9]{0,9})?$/, 'must be "new" or a column id')
        .refine((v) => v === 'new' || Number(v) <= DB_INT_MAX, 'must be "new" or a column id')
        .optional(),
      label: z.string().trim().max(255).optional(),
      points: z.string().max(32).optional(),
    }),
    responses: {
      200: { description: 'An auto-submitting form to the platform with the signed response' },
    },
    handler: async (ctx, { body }) => {
      const s = deepLinkSession(body.session);
      const x = await loadLtiContext(deps.db, s.ltiContextId);
      if (!x) throw new NotFoundError('The course is no longer known.');
      const item: Record<string, unknown> = {
        type: 'ltiResourceLink',
        title: body.title,
        url: `${baseUrl(ctx)}/lti/launch`,
      };
      if (body.column) {
        let column: LtiColumn | undefined;
        if (body.column === 'new') {
          const label = body.label || body.title;
          const points = Number(body.points ?? '100');
          if (!(points >= 0) || !Number.isFinite(points))
            throw new BadRequestError('points must be a non-negative number');
          column = await inTransaction(deps.db, (trx) =>
            createColumn(trx, x.tenantId, x.courseId, label, points, isoNow(deps.clock)),
          );
        } else {
          column = await deps
            .db('grade_columns')
            .where({ id: Number(body.column), course_id: s.courseId })
            .whereNull('deleted_at')
            .first('id', 'name', 'points');
          if (!column) throw new BadRequestError('That column does not exist in this course.');
        }
        item.lineItem = lineItemFor(column);
      }
      const jwt = await deps.lti.engine.deepLinkingResponse(
        {
          ...serviceContext(x),
          deploymentId: s.deploymentId ?? x.deploymentId,
          deepLinking: s.deepLinking,
        },
        [item],
        `Added "${body.title}".`,
      );
      sendHtml(
        ctx,
        autoSubmitPage('Returning to your course…', s.deepLinking.deep_link_return_url, {
          JWT: jwt,
        }),
      );
    },
  });
  return surface;
}

async function renderCourse(
  deps: AppDeps,
  s: Session,
  token: string,
  notice: string | null,
): Promise<string> {
  const head = await deps
    .db('lti_contexts as x')
    .join('lti_deployments as d', 'd.id', 'x.deployment_row_id')
    .join('courses as c', 'c.id', 'x.course_id')
    .where({ 'x.id': s.ltiContextId, 'c.id': s.courseId, 'c.tenant_id': s.tenantId })
    .first(
      'c.title',
      'd.issuer',
      'x.lineitems_url',
      'x.memberships_url',
      'x.last_pull_at',
      'x.last_pull_status',
      'x.last_pull_summary',
      deps
        .db('users')
        .where('id', s.userId)
        .select(deps.db.raw('coalesce(name, email, batch_uid)'))
        .as('user_name'),
      deps
        .db('jobs')
        .where('queue_key', `lti.pull:${s.ltiContextId}`)
        .select('id')
        .limit(1)
        .as('queued_job'),
    );
  if (!head) throw new NotFoundError('This course is no longer linked to the LMS; launch again.');
  const columns = await deps
    .db('grade_columns as gc')
    .where('gc.course_id', s.courseId)
    .whereNull('gc.deleted_at')
    .orderBy(['gc.sequence_num', 'gc.id'])
    .select(
      'gc.id',
      'gc.name',
      'gc.points',
      'gc.calculation',
      deps
        .db('external_ids as e')
        .whereRaw('e.local_id = gc.id')
        .where({ 'e.tenant_id': s.tenantId, 'e.kind': 'lineitem', 'e.system': head.issuer })
        .select('e.external_id')
        .limit(1)
        .as('external_id'),
    );
  const learnerQuery = deps
    .db('enrollments as e')
    .join('users as u', 'u.id', 'e.user_id')
    .where({ 'e.course_id': s.courseId, 'e.role': 'Learner' })
    .orderBy(['u.name', 'u.id'])
    .select('u.id', 'u.name', 'u.email', 'u.batch_uid');
  if (!s.staff) learnerQuery.whereIn('u.id', s.visibleUserIds);
  const learners = (await learnerQuery).map((u) => ({
    id: u.id as number,
    name: (u.name ?? u.email ?? u.batch_uid ?? `Learner ${u.id}`) as string,
  }));
  const gradeQuery = deps
    .db('submissions')
    .where({ course_id: s.courseId })
    .select('column_id', 'user_id', 'score', 'grade');
  if (!s.staff) gradeQuery.whereIn('user_id', s.visibleUserIds);
  const grades = new Map<string, GradeCell>();
  for (const g of await gradeQuery)
    grades.set(`${g.column_id}:${g.user_id}`, { score: g.score, grade: g.grade });
  const conn = await deps.exchange.connection(deps.db, s.tenantId);
  let sync: Map<string, SyncState> | null = null;
  let finalGrades: CoursePageData['finalGrades'] = null;
  if (conn) {
    sync = new Map();
    const items = deps
      .db('exchange_items')
      .where({ connection_id: conn.id, course_id: s.courseId })
      .whereIn('kind', ['score', 'summary'])
      .select('column_id', 'user_id', 'status', 'error_code', 'error_message');
    if (!s.staff) items.whereIn('user_id', s.visibleUserIds);
    for (const r of await items) {
      const k = `${r.column_id}:${r.user_id}`;
      // A final grade can be sent both raw and as a percentage: the worse state shows.
      const prev = sync.get(k);
      if (!prev || r.status === 'failed' || (r.status === 'pending' && prev.status === 'sent'))
        sync.set(k, { status: r.status, errorCode: r.error_code, errorMessage: r.error_message });
    }
    if (s.staff) {
      const last = await deps
        .db('exchanges as x')
        .join('exchange_courses as c', 'c.exchange_id', 'x.id')
        .where({ 'x.connection_id': conn.id, 'c.course_id': s.courseId })
        .orderBy('x.id', 'desc')
        .first('x.state', 'x.updated_at', 'x.error_message');
      const queued = await deps
        .db('jobs')
        .where({ queue_key: `datasync.request:${s.courseId}` })
        .first('id');
      finalGrades = {
        requestQueued: !!queued,
        last: last
          ? { state: last.state, at: toIso(last.updated_at)!, error: last.error_message }
          : null,
      };
    }
  }
  const waiting = await approverWaiting(deps, s);
  return coursePage({
    session: token,
    courseTitle: head.title,
    userName: head.user_name ?? 'you',
    staff: s.staff,
    scope: s.staff
      ? 'course'
      : s.visibleUserIds.length === 1 && s.visibleUserIds[0] === s.userId
        ? 'own'
        : 'others',
    columns: columns.map((c) => ({
      id: c.id,
      name: c.name,
      points: c.points,
      lineItem: c.external_id !== null,
      calculated: !!c.calculation,
    })),
    learners,
    grades,
    lastPull: {
      at: head.last_pull_at ?? null,
      status: head.last_pull_status ?? null,
      summary: parseJson<Record<string, unknown>>(head.last_pull_summary),
    },
    pullQueued: head.queued_job !== null,
    notice,
    canPull: !!(head.lineitems_url || head.memberships_url),
    sync,
    finalGrades,
    finalGradeSection: s.staff ? finalGradeSection(await courseFinalGrades(deps, s), token) : null,
    approverLink: waiting === null ? null : approverLink(waiting, token),
  });
}
