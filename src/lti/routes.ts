import { koaBody } from 'koa-body';
import type { AppDeps } from '../deps.js';
import { isoNow } from '../db/time.js';
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
import { type DeepLinkingSettings, type LtiRequest } from './engine.js';
import type { VerifiedLaunch } from './launch-check.js';
import { recordLaunch, unchangedLaunch, visibleLearners } from './launch.js';
import { appRoutes } from './app-routes.js';
import type { PageSession } from './final-grade-service.js';
import { deepLinkPage, errorPage, autoSubmitPage, layout, html } from './pages.js';
import { dynamicRegistration, RegistrationError, toolUrls } from './registration.js';
import {
  createColumn,
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

  /** The course page after a launch (its links then use /lti/s/{token}/app, see app-routes.ts). */
  const appUrl = (token: string) => `/lti/app?session=${encodeURIComponent(token)}`;

  for (const method of ['get', 'post'] as const) {
    surface.route({
      method,
      path: '/login',
      operationId: `ltiLogin${method === 'get' ? 'Get' : 'Post'}`,
      summary: 'OIDC login initiation (third-party initiated login)',
      description:
        'iss, login_hint, target_link_uri, and optionally client_id, lti_message_hint, lti_deployment_id, lti_storage_target. Redirects to the platform with a state and a nonce bound to it; with lti_storage_target, a page first keeps them in the platform storage frame it names (LTI client-side postMessages).',
      responses: {
        200: {
          description:
            "With lti_storage_target: a page that puts the state and nonce in the platform's storage, then goes on to the platform",
        },
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
    description:
      "Without the login's state cookie, when the login kept its state in the platform's storage, the launch is answered with a page that reads the state back and posts the launch again with storage_state and a one-time storage_confirmation.",
    responses: {
      200: {
        description: "A page that confirms the state with the platform's storage (no state cookie)",
      },
      303: { description: 'To the course page or the deep linking page' },
      401: {
        description:
          'HTML error page naming the problem; "Open in a new window" when the browser kept no state',
      },
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

  appRoutes(surface, deps, { session, staffSession }, form);

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
