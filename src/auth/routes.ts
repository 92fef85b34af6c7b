import { koaBody } from 'koa-body';
import type { AppDeps } from '../deps.js';
import { isoNow } from '../db/time.js';
import { AppError } from '../http/errors.js';
import type { ApiDocs } from '../http/openapi.js';
import { Surface, type AppContext, type ErrorRenderer } from '../http/surface.js';
import { z } from '../http/validation.js';
import { secretMatches } from './client-secrets.js';

/** OAuth 2.0 errors (RFC 6749 §5.2). */
class OAuthError extends AppError {
  constructor(
    status: number,
    code: string,
    description: string,
    headers: Record<string, string> = {},
  ) {
    super(status, code, description, { headers });
  }
}

const renderOAuthError: ErrorRenderer = (ctx, error) => {
  ctx.status = error.status;
  ctx.set('Cache-Control', 'no-store');
  const code =
    error instanceof OAuthError
      ? error.code
      : error.status >= 500
        ? 'server_error'
        : 'invalid_request';
  ctx.body = { error: code, error_description: error.message };
};

const tokenRequest = z.object({
  grant_type: z.string().optional(),
  client_id: z.string().max(255).optional(),
  client_secret: z.string().max(255).optional(),
  scope: z.string().max(255).optional(),
});

const tokenResponse = z.object({
  access_token: z.string(),
  token_type: z.literal('bearer'),
  expires_in: z.number().int(),
  scope: z.string(),
});

function basicCredentials(header: string): { id: string; secret: string } | null {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  try {
    return {
      id: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')),
      secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')),
    };
  } catch {
    return null;
  }
}

/**
 * POST /oauth2/token and Learn's /learn/api/public/v1/oauth2/token:
 * client_credentials with the client authenticated by HTTP Basic or by
 * client_id and client_secret in the form.
 */
export function tokenSurfaces(deps: AppDeps, docs: ApiDocs): Surface[] {
  const handler = async (ctx: AppContext, body: z.output<typeof tokenRequest>) => {
    const grantType =
      body.grant_type ??
      (typeof ctx.query.grant_type === 'string' ? ctx.query.grant_type : undefined);
    const header = ctx.get('authorization');
    const basic = header ? basicCredentials(header) : null;
    if (header && !basic) {
      throw new OAuthError(
        401,
        'invalid_client',
        'The Authorization header is not valid HTTP Basic.',
        {
          'WWW-Authenticate': 'Basic realm="gradebridge"',
        },
      );
    }
    if (basic && (body.client_id || body.client_secret)) {
      throw new OAuthError(
        400,
        'invalid_request',
        'Send client credentials by one method only, not both.',
      );
    }
    if (!grantType) throw new OAuthError(400, 'invalid_request', 'grant_type is required.');
    if (grantType !== 'client_credentials') {
      throw new OAuthError(
        400,
        'unsupported_grant_type',
        `grant_type "${grantType}" is not supported; use client_credentials.`,
      );
    }
    const id = basic?.id ?? body.client_id;
    const secret = basic?.secret ?? body.client_secret;
    const unauthorized = () =>
      new OAuthError(
        401,
        'invalid_client',
        'Client authentication failed.',
        basic ? { 'WWW-Authenticate': 'Basic realm="gradebridge"' } : {},
      );
    if (!id || !secret) throw unauthorized();
    const client = await deps
      .db('api_clients')
      .select('id', 'tenant_id', 'client_id', 'secret_hash', 'scopes', 'revoked_at')
      .where({ client_id: id })
      .first();
    if (!client || client.revoked_at !== null || !secretMatches(secret, client.secret_hash))
      throw unauthorized();
    const granted = (client.scopes as string).split(' ');
    let scopes = granted;
    if (body.scope !== undefined && body.scope.trim() !== '') {
      const requested = [...new Set(body.scope.split(/\s+/).filter(Boolean))];
      const extra = requested.filter((s) => !granted.includes(s));
      if (extra.length > 0) {
        throw new OAuthError(
          400,
          'invalid_scope',
          `The client is not allowed the scope(s): ${extra.join(', ')}.`,
        );
      }
      scopes = requested;
    }
    const { token, expiresIn } = deps.tokens.issue({
      clientId: client.client_id,
      tenantId: client.tenant_id,
      apiClientId: client.id,
      scopes,
    });
    await deps
      .db('api_clients')
      .where({ id: client.id })
      .update({ last_token_at: isoNow(deps.clock) });
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Pragma', 'no-cache');
    ctx.body = {
      access_token: token,
      token_type: 'bearer',
      expires_in: expiresIn,
      scope: scopes.join(' '),
    };
  };

  const parser = koaBody({
    urlencoded: true,
    json: true,
    text: false,
    multipart: false,
    formLimit: '8kb',
    jsonLimit: '8kb',
  });
  return ['/oauth2/token', '/learn/api/public/v1/oauth2/token'].map((path, index) =>
    new Surface(
      {
        name: index === 0 ? 'token' : 'learn-token',
        prefix: path,
        tag: 'Tokens',
        description:
          'OAuth 2.0 client credentials: short-lived bearer tokens for every API surface.',
        renderError: renderOAuthError,
        auth: null,
      },
      docs,
    ).route({
      method: 'post',
      path: '',
      operationId: index === 0 ? 'issueToken' : 'issueTokenLearnPath',
      summary:
        index === 0
          ? 'Issue an access token (client_credentials)'
          : "Issue an access token at Learn's path",
      description:
        'Authenticate the client with HTTP Basic (client_id:client_secret) or with client_id and client_secret form fields. grant_type may also be given in the query string, as Learn clients do.',
      bodyParser: parser,
      body: z.preprocess((v) => v ?? {}, tokenRequest),
      docBody: tokenRequest,
      bodyContentTypes: ['application/x-www-form-urlencoded', 'application/json'],
      responses: {
        200: { description: 'A bearer token', schema: tokenResponse },
        400: { description: 'invalid_request, unsupported_grant_type or invalid_scope' },
        401: { description: 'invalid_client' },
      },
      handler: (ctx, { body }) => handler(ctx, body),
    }),
  );
}
