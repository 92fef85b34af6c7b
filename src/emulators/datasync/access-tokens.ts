import type { Middleware, ParameterizedContext } from 'koa';
import { BearerTokens, bearerToken } from '../shared/bearer-tokens.js';
import { HttpError } from './errors.js';
import type { ClientRecord } from './types.js';

export interface AccessGrant {
  client: ClientRecord;
}

export interface EmulatorState {
  grant?: AccessGrant;
}
export type EmulatorContext = ParameterizedContext<EmulatorState>;
export type EmulatorMiddleware = Middleware<EmulatorState>;

/** The access tokens the token endpoint issued, each naming its client. */
export class AccessTokens extends BearerTokens<AccessGrant> {}

const unauthorized = (message: string, error?: string) =>
  new HttpError(401, message, {
    headers: {
      'WWW-Authenticate': `Bearer realm="datasync-emulator"${error ? `, error="${error}"` : ''}`,
    },
  });

/** Bearer authentication for the API: 401 without a known, unexpired token. */
export function requireToken(tokens: AccessTokens): EmulatorMiddleware {
  return async (ctx, next) => {
    const token = bearerToken(ctx.get('authorization'));
    if (!token) throw unauthorized('A bearer access token is required.');
    const grant = tokens.lookup(token);
    if (!grant) throw unauthorized('The access token is unknown or has expired.', 'invalid_token');
    ctx.state.grant = grant;
    await next();
  };
}
