import type { Middleware, ParameterizedContext } from 'koa';
import { BearerTokens, bearerToken } from '../shared/bearer-tokens.js';
import { HttpError } from './errors.js';

export interface AccessGrant {
  clientId: string;
  scopes: string[];
}

export interface EmulatorState {
  grant?: AccessGrant;
}
export type EmulatorContext = ParameterizedContext<EmulatorState>;
export type EmulatorMiddleware = Middleware<EmulatorState>;

const REALM = 'realm="lms-emulator"';

/** The access tokens the token endpoint issued, each naming its tool and scopes. */
export class AccessTokens extends BearerTokens<AccessGrant> {}

/**
 * RFC 6750 bearer authentication: 401 without a valid token, 403 when the
 * token has none of the scopes that allow this request.
 */
export function requireScope(tokens: AccessTokens, anyOf: readonly string[]): EmulatorMiddleware {
  return async (ctx, next) => {
    const token = bearerToken(ctx.get('authorization'));
    if (!token) {
      throw new HttpError(401, 'invalid_token', 'A bearer access token is required.', {
        headers: { 'WWW-Authenticate': `Bearer ${REALM}` },
      });
    }
    const grant = tokens.lookup(token);
    if (!grant) {
      throw new HttpError(401, 'invalid_token', 'The access token is unknown or has expired.', {
        headers: { 'WWW-Authenticate': `Bearer ${REALM}, error="invalid_token"` },
      });
    }
    if (!anyOf.some((scope) => grant.scopes.includes(scope))) {
      throw new HttpError(
        403,
        'insufficient_scope',
        `The access token lacks a scope for this request; one of: ${anyOf.join(' ')}.`,
        {
          headers: {
            'WWW-Authenticate': `Bearer ${REALM}, error="insufficient_scope", scope="${anyOf.join(' ')}"`,
          },
        },
      );
    }
    ctx.state.grant = grant;
    await next();
  };
}
