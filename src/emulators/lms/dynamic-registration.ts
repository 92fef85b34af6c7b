import Router from '@koa/router';
import { z } from 'zod';
import { bearerToken } from '../shared/bearer-tokens.js';
import type { EmulatorContext, EmulatorState } from './access-tokens.js';
import type { EmulatorCore } from './core.js';
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

export function registrationRoutes(core: EmulatorCore): Router<EmulatorState> {
  const router = new Router<EmulatorState>();
  router.get('/.well-known/openid-configuration', (ctx) => {
    ctx.body = openidConfiguration(core);
  });
  router.post('/registration', jsonBody(), register(core));
  return router;
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
  target.searchParams.set('openid_configuration', core.urls.openidConfiguration);
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
        `and no POST ${core.urls.registration} came with the registration token.`,
    );
  }
  return registered;
}
