import Router from '@koa/router';
import type { EmulatorContext, EmulatorState } from './access-tokens.js';
import type { EmulatorCore } from './core.js';
import { HttpError } from './errors.js';
import { readBody } from './request-body.js';
import type { ClientRecord } from './types.js';

export const TOKEN_PATH = '/oauth2/token';

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

/** RFC 6749 5.2 error body `{"error": code, "error_description": ...}`; invalid_client is a 401. */
function oauthError(code: string, description: string): HttpError {
  const invalidClient = code === 'invalid_client';
  return new HttpError(invalidClient ? 401 : 400, description, {
    headers: invalidClient
      ? { ...NO_STORE, 'WWW-Authenticate': 'Basic realm="datasync-emulator"' }
      : NO_STORE,
    body: { error: code, error_description: description },
  });
}

function decodeForm(part: string): string {
  try {
    return decodeURIComponent(part.replace(/\+/g, ' '));
  } catch {
    return part;
  }
}

/** The id and secret of HTTP Basic authentication, when the header has them. */
function basicCredentials(header: string): { id: string; secret: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!match) return undefined;
  const text = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  return { id: text.slice(0, colon), secret: text.slice(colon + 1) };
}

function authenticate(core: EmulatorCore, id: string, secret: string): ClientRecord | undefined {
  // RFC 6749 2.3.1 form-encodes both before Basic; most clients do not. Accept either.
  return (
    core.clients.authenticate(id, secret) ??
    core.clients.authenticate(decodeForm(id), decodeForm(secret))
  );
}

/**
 * OAuth 2.0 client credentials grant (RFC 6749 4.4): the client authenticates
 * with HTTP Basic or with client_id and client_secret form fields.
 */
async function issueToken(core: EmulatorCore, ctx: EmulatorContext): Promise<void> {
  if (!ctx.is('application/x-www-form-urlencoded')) {
    throw oauthError('invalid_request', 'Send the request as application/x-www-form-urlencoded.');
  }
  const form = new URLSearchParams((await readBody(ctx)).toString('utf8'));
  const grantType = form.get('grant_type');
  if (!grantType) throw oauthError('invalid_request', 'grant_type is required.');
  if (grantType !== 'client_credentials') {
    throw oauthError('unsupported_grant_type', 'Only grant_type=client_credentials is supported.');
  }
  const basic = basicCredentials(ctx.get('authorization'));
  const id = basic?.id ?? form.get('client_id');
  const secret = basic?.secret ?? form.get('client_secret');
  if (!id || !secret) {
    throw oauthError(
      'invalid_client',
      'Authenticate the client with HTTP Basic or client_id and client_secret.',
    );
  }
  const client = authenticate(core, id, secret);
  if (!client) throw oauthError('invalid_client', 'Unknown client or wrong secret.');
  const ttl = core.settings.tokenTtlSeconds;
  ctx.set(NO_STORE);
  ctx.body = {
    access_token: core.accessTokens.issue({ client }, ttl),
    token_type: 'Bearer',
    expires_in: Math.max(1, Math.ceil(ttl)),
  };
}

export function tokenRoutes(core: EmulatorCore): Router<EmulatorState> {
  const router = new Router<EmulatorState>();
  router.post(TOKEN_PATH, (ctx) => issueToken(core, ctx));
  return router;
}
