import Router from '@koa/router';
import type { EmulatorContext, EmulatorState } from './access-tokens.js';
import type { EmulatorCore } from './core.js';
import { htmlError } from './errors.js';
import type { LaunchIntent } from './hints.js';
import { autoPostForm } from './html.js';
import { idTokenClaims, resolveLaunch } from './launch.js';
import { formBody } from './request-body.js';
import { CLAIM } from './vocabulary.js';

interface AuthRequest {
  clientId: string;
  redirectUri: string;
  nonce: string;
  state?: string;
  intent: LaunchIntent;
}

function param(params: Record<string, unknown>, name: string): string | undefined {
  const value = params[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The request's parameters: query for GET, form fields (over query) for POST. */
function authParams(ctx: EmulatorContext): Record<string, unknown> {
  const body = ctx.request.body;
  const form = typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {};
  return { ...ctx.query, ...form };
}

const fail = (code: string, message: string) => htmlError(400, code, message);

/** Checks an authentication request (LTI Security Framework 5.1.1.2) against the hints it echoes. */
function checkAuthRequest(core: EmulatorCore, p: Record<string, unknown>): AuthRequest {
  if (!(param(p, 'scope') ?? '').split(' ').includes('openid')) {
    throw fail('invalid_scope', 'scope must include openid.');
  }
  if (param(p, 'response_type') !== 'id_token') {
    throw fail('unsupported_response_type', 'response_type must be id_token.');
  }
  if (param(p, 'response_mode') !== 'form_post') {
    throw fail('invalid_request', 'response_mode must be form_post.');
  }
  if (param(p, 'prompt') !== 'none') throw fail('invalid_request', 'prompt must be none.');
  const clientId = param(p, 'client_id');
  const tool = clientId ? core.tools.get(clientId) : undefined;
  if (!clientId || !tool) {
    throw fail('unauthorized_client', `Unknown client_id "${clientId ?? ''}".`);
  }
  const redirectUri = param(p, 'redirect_uri');
  if (!redirectUri || !tool.redirectUris.includes(redirectUri)) {
    throw fail(
      'invalid_request',
      `redirect_uri "${redirectUri ?? ''}" is not registered for client ${clientId}.`,
    );
  }
  const nonce = param(p, 'nonce');
  if (!nonce) throw fail('invalid_request', 'nonce is required.');

  const loginHint = param(p, 'login_hint');
  const userId = loginHint ? core.hints.userFromLoginHint(loginHint) : undefined;
  if (!userId) {
    throw fail('invalid_request', 'login_hint is missing or not one this platform issued.');
  }
  const messageHint = param(p, 'lti_message_hint');
  if (!messageHint) throw fail('invalid_request', 'lti_message_hint is required.');
  const intent = core.hints.intentFromMessageHint(messageHint);
  if (typeof intent === 'string') throw fail('invalid_request', intent);
  if (intent.clientId !== clientId) {
    throw fail('invalid_request', 'lti_message_hint was issued for another client.');
  }
  if (intent.userId !== userId) {
    throw fail('login_required', 'login_hint and lti_message_hint name different users.');
  }
  const deploymentId = param(p, 'lti_deployment_id');
  if (deploymentId && deploymentId !== intent.deploymentId) {
    throw fail('invalid_request', 'lti_deployment_id does not match the launch.');
  }
  return { clientId, redirectUri, nonce, state: param(p, 'state'), intent };
}

/**
 * The OIDC authentication endpoint. Every problem is an HTML page with status
 * 400 shown to the user rather than an error posted to redirect_uri: until the
 * request checks out the platform cannot trust redirect_uri, and real
 * platforms show an error page too. Success is the auto-submitting form
 * (response_mode=form_post) carrying id_token and state.
 */
function authenticate(core: EmulatorCore) {
  return (ctx: EmulatorContext) => {
    core.stats.authRequests += 1;
    const auth = checkAuthRequest(core, authParams(ctx));
    let launch;
    try {
      launch = resolveLaunch(core, auth.intent);
    } catch (err) {
      throw fail('invalid_request', (err as Error).message);
    }
    const { intent } = auth;
    const data =
      intent.messageType === 'LtiDeepLinkingRequest'
        ? core.deepLinkSessions.create({
            clientId: auth.clientId,
            deploymentId: intent.deploymentId,
            contextId: intent.contextId,
            userId: intent.userId,
          })
        : undefined;
    const claims = idTokenClaims(core, launch, auth.nonce, data);
    if (data) {
      core.deepLinkSessions.setSettings(
        data,
        claims[CLAIM.deepLinkingSettings] as Record<string, unknown>,
        intent.placement,
      );
    }
    const fields: Record<string, string> = { id_token: core.key.sign(claims) };
    if (auth.state !== undefined) fields.state = auth.state;
    if (intent.storageTarget) fields.lti_storage_target = intent.storageTarget;
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = autoPostForm(auth.redirectUri, fields);
  };
}

export function authRoutes(core: EmulatorCore): Router<EmulatorState> {
  const router = new Router<EmulatorState>();
  const handler = authenticate(core);
  router.get('/auth', handler);
  router.post('/auth', formBody(), handler);
  return router;
}
