import Router from '@koa/router';
import { z } from 'zod';
import { bearerToken } from '../shared/bearer-tokens.js';
import type { EmulatorContext, EmulatorState } from './access-tokens.js';
import type { EmulatorCore } from './core.js';
import {
  CANVAS_EXTENSION,
  CANVAS_PLACEMENTS_BY_MESSAGE_TYPE,
  CANVAS_PRODUCT,
  canvasRegistration,
  canvasRegistrationToken,
  newCanvasDeploymentId,
} from './canvas.js';
import { HttpError, badRequest } from './errors.js';
import { SUBSTITUTION_VARIABLES } from './launch.js';
import type { Registered } from './registration-tokens.js';
import { jsonBody } from './request-body.js';
import { isHttpUrl, newDeploymentId } from './tool-registry.js';
import {
  type MessageType,
  PLATFORM_CONFIGURATION,
  PRODUCT,
  SERVICE_SCOPES,
  TOOL_CONFIGURATION,
} from './vocabulary.js';

const REGISTRATION_TIMEOUT_MS = 30_000;

/** Canvas's OpenID configuration (canvas-lms doc/api/registration.md), with this emulator's endpoints. */
export function canvasOpenidConfiguration(core: EmulatorCore): Record<string, unknown> {
  const { urls } = core;
  return {
    issuer: core.issuer,
    authorization_endpoint: urls.authorization,
    registration_endpoint: urls.canvasRegistration,
    jwks_uri: urls.keyset,
    token_endpoint: urls.token,
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: ['RS256'],
    scopes_supported: [...SERVICE_SCOPES],
    response_types_supported: ['id_token'],
    id_token_signing_alg_values_supported: ['RS256'],
    claims_supported: ['sub', 'picture', 'email', 'name', 'given_name', 'family_name', 'locale'],
    subject_types_supported: ['public'],
    [PLATFORM_CONFIGURATION]: {
      product_family_code: CANVAS_PRODUCT.productFamilyCode,
      version: CANVAS_PRODUCT.version,
      messages_supported: (Object.keys(CANVAS_PLACEMENTS_BY_MESSAGE_TYPE) as MessageType[]).map(
        (type) => ({ type, placements: [...CANVAS_PLACEMENTS_BY_MESSAGE_TYPE[type]] }),
      ),
      variables: SUBSTITUTION_VARIABLES,
      [`${CANVAS_EXTENSION}account_name`]: 'Emulated University',
    },
  };
}

/** The platform's OpenID configuration (Dynamic Registration 3.4). */
export function openidConfiguration(core: EmulatorCore): Record<string, unknown> {
  const { urls } = core;
  return {
    issuer: core.issuer,
    authorization_endpoint: urls.authorization,
    token_endpoint: urls.token,
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: ['RS256'],
    jwks_uri: urls.keyset,
    registration_endpoint: urls.registration,
    scopes_supported: ['openid', ...SERVICE_SCOPES],
    response_types_supported: ['id_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    claims_supported: [
      'iss',
      'aud',
      'sub',
      'iat',
      'exp',
      'nonce',
      'azp',
      'name',
      'given_name',
      'family_name',
      'email',
    ],
    [PLATFORM_CONFIGURATION]: {
      product_family_code: PRODUCT.productFamilyCode,
      version: PRODUCT.version,
      messages_supported: [{ type: 'LtiResourceLinkRequest' }, { type: 'LtiDeepLinkingRequest' }],
      variables: SUBSTITUTION_VARIABLES,
    },
  };
}

const url = z.string().refine(isHttpUrl, 'must be an absolute http(s) URL');
const stringMap = z.record(z.string(), z.string({ error: 'values must be strings' }));

const messageSchema = z.looseObject({
  type: z.string({ error: 'is required' }),
  target_link_uri: url.optional(),
  label: z.string().optional(),
  custom_parameters: stringMap.optional(),
});

/** A tool's registration request (Dynamic Registration 3.5.1, OIDC Registration). */
const registrationSchema = z.looseObject({
  application_type: z.literal('web', { error: 'must be web' }).optional(),
  response_types: z
    .array(z.string())
    .refine((t) => t.includes('id_token'), 'must include id_token')
    .optional(),
  grant_types: z
    .array(z.string())
    .refine(
      (g) => g.includes('implicit') && g.includes('client_credentials'),
      'must include implicit and client_credentials',
    )
    .optional(),
  initiate_login_uri: url,
  redirect_uris: z.array(url).min(1, 'must hold at least one URI'),
  client_name: z.string({ error: 'is required' }).min(1, 'must not be empty'),
  jwks_uri: url,
  token_endpoint_auth_method: z.literal('private_key_jwt', { error: 'must be private_key_jwt' }),
  scope: z.string().optional(),
  [TOOL_CONFIGURATION]: z.looseObject(
    {
      domain: z.string({ error: 'is required' }).min(1, 'must not be empty'),
      target_link_uri: url,
      custom_parameters: stringMap.optional(),
      messages: z.array(messageSchema).optional(),
    },
    { error: 'is required' },
  ),
});

/**
 * POST /registration: registers the tool and answers with its configuration,
 * a client_id and a new deployment_id (Dynamic Registration 3.6). A registration
 * token, when sent, must be one this platform issued and unused; without one,
 * registration is open (the spec lets the platform decide).
 */
function register(core: EmulatorCore) {
  return (ctx: EmulatorContext) => {
    const auth = ctx.get('authorization');
    let token: string | undefined;
    if (auth) {
      token = bearerToken(auth);
      const problem = token ? core.registrationTokens.problem(token) : 'Malformed Authorization.';
      if (problem) {
        throw new HttpError(401, 'invalid_token', problem, {
          headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
        });
      }
    }
    if (!ctx.is('application/json')) {
      throw badRequest('Send the registration as application/json.', 'invalid_client_metadata');
    }
    const parsed = registrationSchema.safeParse(ctx.request.body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.path.join('.') || 'body';
      const code = field.startsWith('redirect_uris')
        ? 'invalid_redirect_uri'
        : 'invalid_client_metadata';
      const all = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'} ${i.message}`);
      throw badRequest(`${all.join('; ')}.`, code);
    }
    const registration = parsed.data;
    const config = registration[TOOL_CONFIGURATION];
    // Scopes outside the LTI services are dropped; the answer says what was granted.
    const scopes = (registration.scope ?? '').split(' ').filter((s) => SERVICE_SCOPES.includes(s));
    const deploymentId = newDeploymentId();
    const message = (type: MessageType) => config.messages?.find((m) => m.type === type);
    const resourceLink = message('LtiResourceLinkRequest');
    const deepLinking = message('LtiDeepLinkingRequest');
    const tool = core.tools.register(
      {
        name: registration.client_name,
        loginUrl: registration.initiate_login_uri,
        // A message's own target_link_uri wins over the tool's default.
        launchUrl: resourceLink?.target_link_uri ?? config.target_link_uri,
        keysetUrl: registration.jwks_uri,
        redirectUris: registration.redirect_uris,
        deploymentIds: [deploymentId],
        scopes: [...new Set(scopes)],
      },
      {
        custom: config.custom_parameters ?? {},
        messageCustom: Object.fromEntries(
          [resourceLink, deepLinking].flatMap((m) =>
            m?.custom_parameters ? [[m.type, m.custom_parameters]] : [],
          ),
        ),
        deepLinkingUrl: deepLinking?.target_link_uri,
        registration: ctx.request.body as Record<string, unknown>,
      },
    );
    if (token) core.registrationTokens.complete(token, { clientId: tool.clientId, deploymentId });
    ctx.status = 201;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      ...registration,
      client_id: tool.clientId,
      scope: tool.scopes.join(' '),
      [TOOL_CONFIGURATION]: { ...config, deployment_id: deploymentId },
    };
  };
}

/** The registration token Canvas needs on its configuration and registration endpoints: one it issued, unused. */
function canvasToken(core: EmulatorCore, ctx: EmulatorContext, fromQuery: boolean): string {
  const token = canvasRegistrationToken(ctx, fromQuery);
  const problem = core.registrationTokens.problem(token);
  if (problem)
    throw new HttpError(401, 'invalid_token', problem, {
      headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
    });
  return token;
}

/**
 * POST /api/lti/registrations, as Canvas answers it: the registration token
 * is required; the registration is validated as Canvas does and keeps the
 * placements Canvas keeps; the answer is the registration with its
 * client_id, and the deployment id nowhere (Canvas deploys the tool once the
 * administrator has reviewed it; the emulator deploys it at once) or at the
 * top level, as `canvasDeploymentId` says.
 */
function canvasRegister(core: EmulatorCore) {
  return (ctx: EmulatorContext) => {
    const token = canvasToken(core, ctx, false);
    const registration = canvasRegistration(ctx.request.body);
    const deploymentId = newCanvasDeploymentId();
    const deepLinking = registration.placements.find(
      (p) => p.messageType === 'LtiDeepLinkingRequest',
    );
    const tool = core.tools.register(
      {
        name: registration.name,
        loginUrl: registration.loginUrl,
        launchUrl: registration.launchUrl,
        keysetUrl: registration.keysetUrl,
        redirectUris: registration.redirectUris,
        deploymentIds: [deploymentId],
        scopes: registration.scopes,
      },
      {
        custom: registration.custom,
        ...(deepLinking?.targetLinkUri ? { deepLinkingUrl: deepLinking.targetLinkUri } : {}),
        registration: ctx.request.body as Record<string, unknown>,
        placements: registration.placements,
      },
    );
    core.registrationTokens.complete(token, { clientId: tool.clientId, deploymentId });
    ctx.status = 200;
    ctx.body = {
      client_id: tool.clientId,
      ...registration.echo,
      ...(core.settings.canvasDeploymentId === 'top-level' ? { deployment_id: deploymentId } : {}),
    };
  };
}

export function registrationRoutes(core: EmulatorCore): Router<EmulatorState> {
  const router = new Router<EmulatorState>();
  const spec = (ctx: EmulatorContext, next: () => Promise<unknown>) =>
    core.settings.registrationMode === 'spec' ? next() : undefined;
  const canvas = (ctx: EmulatorContext, next: () => Promise<unknown>) =>
    core.settings.registrationMode === 'canvas' ? next() : undefined;
  router.get('/.well-known/openid-configuration', spec, (ctx) => {
    ctx.body = openidConfiguration(core);
  });
  router.post('/registration', spec, jsonBody(), register(core));
  router.get('/api/lti/security/openid-configuration', canvas, (ctx) => {
    canvasToken(core, ctx, true);
    ctx.body = canvasOpenidConfiguration(core);
  });
  router.post('/api/lti/registrations', canvas, jsonBody(), canvasRegister(core));
  return router;
}

/** Where a registration starts: the configuration URL the platform hands the tool, with its token. */
export function registrationStart(core: EmulatorCore, token: string): string {
  if (core.settings.registrationMode === 'spec') return core.urls.openidConfiguration;
  const url = new URL(core.urls.canvasOpenidConfiguration);
  url.searchParams.set('registration_token', token);
  return url.toString();
}

/**
 * What an LMS administrator's browser does: opens the tool's registration URL
 * with openid_configuration and a one-time registration_token, then the tool
 * registers. The registration must arrive while the tool answers that request,
 * or within waitMs after.
 */
export async function startDynamicRegistration(
  core: EmulatorCore,
  toolRegistrationUrl: string,
  waitMs: number,
): Promise<Registered> {
  const token = core.registrationTokens.issue();
  const target = new URL(toolRegistrationUrl);
  target.searchParams.set('openid_configuration', registrationStart(core, token));
  target.searchParams.set('registration_token', token);
  let status: number;
  try {
    const res = await fetch(target, {
      signal: AbortSignal.any([core.closing, AbortSignal.timeout(REGISTRATION_TIMEOUT_MS)]),
    });
    status = res.status;
    await res.arrayBuffer();
  } catch (err) {
    throw new Error(
      `Cannot open the tool's registration URL ${toolRegistrationUrl}: ${String(err)}`,
    );
  }
  const registered = await core.registrationTokens.registration(token, waitMs);
  if (!registered) {
    throw new Error(
      `The tool did not register: GET ${toolRegistrationUrl} answered ${status}, ` +
        `and no POST ${core.settings.registrationMode === 'spec' ? core.urls.registration : core.urls.canvasRegistration} came with the registration token.`,
    );
  }
  return registered;
}
