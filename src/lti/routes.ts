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
import { DEEP_LINK_CANCEL_ACTION, deepLinkPage } from './deep-link-pages.js';
import {
  answerDeepLink,
  cancelDeepLink,
  DeepLinkRefusal,
  deepLinkOffer,
  offeredColumns,
} from './deep-linking.js';
import { dynamicRegistration, type DynamicRegistrationResult } from './dynamic-registration.js';
import type { VerifiedLaunch } from './launch-check.js';
import { recordLaunch, unchangedLaunch, visibleLearners } from './launch.js';
import { appRoutes } from './app-routes.js';
import type { PageSession } from './final-grade-service.js';
import { errorPage, autoSubmitPage, layout, html } from './pages.js';
import { refusalExtras, refusalPage, technicalDetail } from './refusal-page.js';
import { RegistrationError, toolUrls } from './registration.js';
import { loadLtiContext } from './services.js';

type Session = PageSession;

function sendHtml(ctx: AppContext, page: string): void {
  ctx.type = 'text/html; charset=utf-8';
  ctx.body = page;
}

/** The code of a 502 whose message says in plain words what the LMS did wrong. */
const LMS_FAILED = 'lms_failed';

/**
 * LTI pages answer errors as HTML pages the LMS frame can show; technical
 * detail (and, for deep linking, a way back to the LMS) when the error
 * carries it.
 */
const renderLtiError: ErrorRenderer = (ctx, error) => {
  ctx.status = error.status;
  const worded = error.status < 500 || error.code === LMS_FAILED;
  const reason = worded ? error.message : 'Something went wrong; try again.';
  const extras = worded ? refusalExtras(error.details) : null;
  sendHtml(
    ctx,
    extras
      ? refusalPage(error.status, reason, ctx.state.requestId, extras)
      : errorPage(error.status, reason, ctx.state.requestId),
  );
};

/** A deep linking refusal as the surface's error page: detail behind a disclosure, and Cancel when the LMS can still be answered. */
function deepLinkError(err: DeepLinkRefusal, session: string): AppError {
  return new AppError(err.status, 'deep_link_refused', err.message, {
    details: {
      technical: err.detail,
      ...(err.cancellable ? { cancel: { action: DEEP_LINK_CANCEL_ACTION, session } } : {}),
    },
  });
}

/** The page that tells the LMS the registration is done. */
function registeredPage(r: DynamicRegistrationResult): string {
  return layout(
    'Registered',
    html`<h1>gradebridge is registered</h1>
      <p>
        ${
          r.awaitingDeployment
            ? html`Platform ${r.issuer} is registered. Your LMS named no deployment yet: gradebridge
                records it from the first launch, and your gradebridge administrator sees it in
                <code>platform list</code>.`
            : html`Platform ${r.issuer}, deployment ${r.deployments.join(', ')}.`
        }
      </p>
      ${technicalDetail([
        ['issuer', r.issuer],
        ['client id', r.clientId],
        ['deployments', r.deployments.join(', ') || '(awaiting the first launch)'],
        ...(r.productFamilyCode
          ? ([['product', r.productFamilyCode]] as Array<[string, string]>)
          : []),
      ])}
      <script>
        (window.opener || window.parent).postMessage({ subject: 'org.imsglobal.lti.close' }, '*');
      </script>`,
  );
}

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
      "Open a registration URL (`npm run cli -- platform registration-url`, one platform, once) from the LMS; it adds openid_configuration and registration_token. The configuration must come from the issuer's own origin; a platform already registered is never changed.",
    query: z.object({
      link: z.string().optional(),
      openid_configuration: z.string().optional(),
      registration_token: z.string().optional(),
    }),
    responses: {
      200: { description: 'Registered; the page tells the LMS to close the dialog' },
      400: {
        description:
          'HTML error page: the link is not valid, expired or used, or the configuration does not come from its issuer',
      },
      409: {
        description:
          'HTML error page: the platform is already registered (its endpoints and keys are kept), or the link is in use',
      },
      502: {
        description:
          'HTML error page: the LMS could not be reached, or answered something unusable',
      },
    },
    handler: async (ctx, { query }) => {
      try {
        const registered = await dynamicRegistration(deps, baseUrl(ctx), {
          link: query.link,
          openidConfiguration: query.openid_configuration,
          registrationToken: query.registration_token,
        });
        ctx.state.log.info(
          {
            tenantId: registered.tenantId,
            issuer: registered.issuer,
            clientId: registered.clientId,
            deployments: registered.deployments,
            awaitingDeployment: registered.awaitingDeployment,
          },
          registered.awaitingDeployment
            ? 'LTI platform registered by Dynamic Registration; its deployment will be learned from the first launch'
            : 'LTI platform registered by Dynamic Registration',
        );
        sendHtml(ctx, registeredPage(registered));
      } catch (err) {
        if (!(err instanceof RegistrationError)) throw err;
        ctx.state.log.warn(
          {
            reason: err.message,
            status: err.status,
            ...(err.detail.length ? { detail: Object.fromEntries(err.detail) } : {}),
          },
          'LTI dynamic registration refused',
        );
        const details = err.detail.length ? { technical: err.detail } : undefined;
        throw err.status === 502
          ? new AppError(502, LMS_FAILED, err.message, { details })
          : err.status === 409
            ? new AppError(409, 'conflict', err.message, { details })
            : new BadRequestError(err.message, { details });
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

  /** A deep linking refusal, logged, as the surface's error page. */
  const refuseDeepLink = (ctx: AppContext, err: unknown, session: string): never => {
    if (!(err instanceof DeepLinkRefusal)) throw err;
    ctx.state.log.info(
      { reason: err.message, detail: Object.fromEntries(err.detail) },
      'LTI deep linking refused',
    );
    throw deepLinkError(err, session);
  };

  const deepLinkContext = async (s: DeepLinkSession) => {
    const x = await loadLtiContext(deps.db, s.ltiContextId);
    if (!x) throw new NotFoundError('The course is no longer known.');
    return x;
  };

  surface.route({
    method: 'get',
    path: '/deep-link',
    operationId: 'ltiDeepLinkPage',
    summary: 'Choose what to place in the course (deep linking)',
    description:
      "The request's settings are checked first (accept_types must hold ltiResourceLink; accept_multiple, accept_lineitem and auto_create must be true or false when sent): otherwise a page says why in plain words and offers to return to the LMS with nothing added.",
    query: z.object({ session: z.string().optional() }),
    responses: {
      200: { description: 'HTML' },
      400: { description: 'HTML error page: the deep linking settings are missing or unusable' },
      409: { description: 'HTML error page: the LMS does not take gradebridge links here' },
    },
    handler: async (ctx, { query }) => {
      const s = deepLinkSession(query.session);
      const x = await deepLinkContext(s);
      let offer;
      try {
        offer = deepLinkOffer(s.deepLinking);
      } catch (err) {
        refuseDeepLink(ctx, err, query.session!);
      }
      const course = await deps.db('courses').where({ id: s.courseId }).first('title');
      sendHtml(
        ctx,
        deepLinkPage({
          session: query.session!,
          courseTitle: course?.title ?? 'your course',
          columns: await offeredColumns(deps, x),
          offer: offer!,
        }),
      );
    },
  });

  const columnChoice = z
    .string()
    .regex(/^(new|[1-9][0-9]{0,9})?$/, 'must be "new" or a column id')
    .refine((v) => v === 'new' || Number(v) <= DB_INT_MAX, 'must be "new" or a column id');

  surface.route({
    method: 'post',
    path: '/deep-link',
    operationId: 'ltiDeepLinkAnswer',
    summary: 'Answer the deep linking request with gradebridge links (and their line items)',
    description:
      'One link, or one per chosen column where the LMS takes several items (accept_multiple). A line item goes with a link only where the LMS takes them (accept_lineitem is not false), and only for a column without one on this platform; a new column is made only then. Everything is checked before anything is made.',
    bodyParser: form,
    body: z.object({
      session: z.string(),
      title: z.string().trim().min(1).max(255),
      column: z.union([columnChoice, z.array(columnChoice).max(100)]).optional(),
      label: z.string().trim().max(255).optional(),
      points: z.string().max(32).optional(),
    }),
    responses: {
      200: { description: 'An auto-submitting form to the platform with the signed response' },
      400: { description: 'HTML error page: the request cannot be answered as asked' },
      409: { description: 'HTML error page: the LMS does not take gradebridge links here' },
    },
    handler: async (ctx, { body }) => {
      const s = deepLinkSession(body.session);
      const x = await deepLinkContext(s);
      let answer;
      try {
        answer = await answerDeepLink(
          deps,
          s,
          x,
          {
            title: body.title,
            columns: body.column === undefined ? [] : [body.column].flat(),
            label: body.label,
            points: body.points,
          },
          `${baseUrl(ctx)}/lti/launch`,
        );
      } catch (err) {
        refuseDeepLink(ctx, err, body.session);
      }
      sendHtml(
        ctx,
        autoSubmitPage('Returning to your course…', answer!.returnUrl, { JWT: answer!.jwt }),
      );
    },
  });

  surface.route({
    method: 'post',
    path: '/deep-link/cancel',
    operationId: 'ltiDeepLinkCancel',
    summary: 'Return to the LMS with nothing added (an empty deep linking response)',
    bodyParser: form,
    body: z.object({ session: z.string() }),
    responses: {
      200: {
        description:
          'An auto-submitting form to the platform with the signed response without content items',
      },
      400: { description: 'HTML error page: the LMS gave no usable address to return to' },
    },
    handler: async (ctx, { body }) => {
      const s = deepLinkSession(body.session);
      const x = await deepLinkContext(s);
      let answer;
      try {
        answer = await cancelDeepLink(deps, s, x);
      } catch (err) {
        refuseDeepLink(ctx, err, body.session);
      }
      sendHtml(
        ctx,
        autoSubmitPage('Returning to your course…', answer!.returnUrl, { JWT: answer!.jwt }),
      );
    },
  });
  return surface;
}
