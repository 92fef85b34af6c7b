import Router from '@koa/router';
import type { EmulatorContext, EmulatorMiddleware, EmulatorState } from './access-tokens.js';
import type { EmulatorCore } from './core.js';
import { HttpError } from './errors.js';
import { formBody } from './request-body.js';
import {
  JwtRejected,
  audienceIncludes,
  lifetimeProblem,
  nowSeconds,
  verifyToolJwt,
} from './tool-jwt.js';
import { CLIENT_ASSERTION_TYPE } from './vocabulary.js';

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

/** RFC 6749 5.2 error; invalid_client is a 401, the rest 400. */
function oauthError(code: string, description: string): HttpError {
  return new HttpError(code === 'invalid_client' ? 401 : 400, code, description, {
    headers: NO_STORE,
  });
}

/** jti values seen per client, kept until the assertion that carried them expires. */
class SeenJtis {
  private readonly seen = new Map<string, number>();
  private lastSweep = 0;

  /** False when the jti was already used. */
  claim(clientId: string, jti: string, exp: number): boolean {
    const now = nowSeconds();
    if (now - this.lastSweep >= 60) {
      this.lastSweep = now;
      for (const [key, until] of this.seen) if (until < now) this.seen.delete(key);
    }
    const key = `${clientId}\n${jti}`;
    if (this.seen.has(key)) return false;
    this.seen.set(key, exp);
    return true;
  }
}

function formField(ctx: EmulatorContext, name: string): string | undefined {
  const body = ctx.request.body as Record<string, unknown> | undefined;
  const value = body?.[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * OAuth 2.0 client credentials grant with a private_key_jwt client assertion
 * (LTI Security Framework 4.1, RFC 7523). Every failure of the assertion is
 * invalid_client, as RFC 7523 3.2 requires.
 */
function issueToken(core: EmulatorCore, jtis: SeenJtis) {
  return async (ctx: EmulatorContext) => {
    if (!ctx.is('application/x-www-form-urlencoded')) {
      throw oauthError('invalid_request', 'Send the request as application/x-www-form-urlencoded.');
    }
    const grantType = formField(ctx, 'grant_type');
    if (!grantType) throw oauthError('invalid_request', 'grant_type is required.');
    if (grantType !== 'client_credentials') {
      throw oauthError(
        'unsupported_grant_type',
        'Only grant_type=client_credentials is supported.',
      );
    }
    const assertionType = formField(ctx, 'client_assertion_type');
    const assertion = formField(ctx, 'client_assertion');
    if (!assertionType || !assertion) {
      throw oauthError(
        'invalid_request',
        'client_assertion_type and client_assertion are required.',
      );
    }
    if (assertionType !== CLIENT_ASSERTION_TYPE) {
      throw oauthError('invalid_client', `client_assertion_type must be ${CLIENT_ASSERTION_TYPE}.`);
    }

    let verified;
    try {
      verified = await verifyToolJwt(assertion, (id) => core.tools.get(id), core.keysets);
    } catch (err) {
      if (err instanceof JwtRejected) throw oauthError('invalid_client', err.message);
      throw err;
    }
    const { claims, tool } = verified;
    if (claims.sub !== tool.clientId) {
      throw oauthError('invalid_client', 'The assertion sub must equal its iss (the client_id).');
    }
    const clientIdField = formField(ctx, 'client_id');
    if (clientIdField !== undefined && clientIdField !== tool.clientId) {
      throw oauthError('invalid_client', 'client_id does not match the assertion.');
    }
    if (!audienceIncludes(claims.aud, [core.urls.token, core.issuer])) {
      throw oauthError('invalid_client', `The assertion aud must include ${core.urls.token}.`);
    }
    const problem = lifetimeProblem(claims, nowSeconds());
    if (problem) throw oauthError('invalid_client', problem);
    if (typeof claims.jti !== 'string' || claims.jti === '') {
      throw oauthError('invalid_client', 'The assertion has no jti.');
    }
    if (!jtis.claim(tool.clientId, claims.jti, claims.exp as number)) {
      throw oauthError('invalid_client', 'The assertion jti was already used.');
    }

    const requested = (formField(ctx, 'scope') ?? '').split(' ').filter(Boolean);
    if (requested.length === 0) throw oauthError('invalid_scope', 'scope is required.');
    const refused = requested.filter((s) => !tool.scopes.includes(s));
    if (refused.length > 0) {
      throw oauthError('invalid_scope', `Scopes not granted to this tool: ${refused.join(' ')}.`);
    }
    const scopes = [...new Set(requested)];
    const ttl = core.settings.accessTokenTtlSeconds;
    ctx.set(NO_STORE);
    ctx.body = {
      access_token: core.accessTokens.issue({ clientId: tool.clientId, scopes }, ttl),
      token_type: 'Bearer',
      expires_in: ttl,
      scope: scopes.join(' '),
    };
  };
}

export function tokenRoutes(core: EmulatorCore): Router<EmulatorState> {
  const router = new Router<EmulatorState>();
  const jtis = new SeenJtis();
  const count: EmulatorMiddleware = async (_ctx, next) => {
    core.stats.tokenRequests += 1;
    await next();
  };
  router.post('/token', count, formBody(), issueToken(core, jtis));
  return router;
}
