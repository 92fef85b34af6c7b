import jwt from 'jsonwebtoken';
import type { AppDeps } from '../deps.js';
import { isoNow } from '../db/time.js';
import { inTransaction } from '../db/transaction.js';
import { ROUTES, type PlatformInfo } from './engine.js';
import { AGS } from './services.js';

/**
 * A registration that cannot be made, in words for the person who started
 * it: 400 when the request or the registration itself is wrong, 502 when
 * the LMS could not be reached or answered something unusable.
 */
export class RegistrationError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 502 = 400,
  ) {
    super(message);
    this.name = 'RegistrationError';
  }
}

/** How long gradebridge waits for the LMS during Dynamic Registration. */
const REGISTRATION_TIMEOUT_MS = 10_000;

export interface PlatformRegistration {
  tenantId: number;
  issuer: string;
  clientId: string;
  name?: string;
  authenticationEndpoint: string;
  accessTokenEndpoint: string;
  authorizationServer?: string;
  keysetUrl: string;
  deploymentIds: string[];
}

export interface RegisteredPlatform {
  tenantId: number;
  platformId: string;
  issuer: string;
  clientId: string;
  deployments: string[];
}

/** The URLs an LMS administrator pastes into the LMS. */
export function toolUrls(
  baseUrl: string,
): Record<'login' | 'launch' | 'keys' | 'register', string> {
  return {
    login: `${baseUrl}${ROUTES.login}`,
    launch: `${baseUrl}${ROUTES.launch}`,
    keys: `${baseUrl}${ROUTES.keys}`,
    register: `${baseUrl}${ROUTES.register}`,
  };
}

function checkUrl(name: string, value: string, status: 400 | 502 = 400): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new RegistrationError(`${name} is not a URL: "${value.slice(0, 200)}"`, status);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new RegistrationError(`${name} must be an http(s) URL`, status);
}

/**
 * One request to the LMS during registration, answered as a JSON object; any
 * failure (no answer in time, no connection, an error status, not JSON) is
 * a RegistrationError (502) that says which step failed and why.
 */
async function lmsJson(
  step: string,
  url: string,
  init: RequestInit,
  timeoutMs: number,
  refused: (status: number) => string,
): Promise<Record<string, unknown>> {
  const failed = (why: string) => new RegistrationError(`The LMS's ${step} ${why}.`, 502);
  let text: string;
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    text = await res.text();
  } catch (err) {
    const name = (err as Error | null)?.name;
    const verb = step === 'registration' ? 'could not be sent' : 'could not be read';
    if (name === 'TimeoutError' || name === 'AbortError')
      throw failed(`${verb}: the LMS did not answer within ${timeoutMs / 1000} s`);
    throw failed(`${verb}: the LMS could not be reached`);
  }
  if (!res.ok) throw new RegistrationError(refused(res.status), 502);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw failed(step === 'registration' ? 'answer is not JSON' : 'is not JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw failed(step === 'registration' ? 'answer is not a JSON object' : 'is not a JSON object');
  return body as Record<string, unknown>;
}

/**
 * Registers a platform (issuer and client id) for a tenant with its
 * deployments. ltijs makes the tool's key pair for the platform; each
 * deployment belongs to exactly one tenant. Registering again adds
 * deployments and updates the endpoints.
 */
export async function registerPlatform(
  deps: AppDeps,
  r: PlatformRegistration,
): Promise<RegisteredPlatform> {
  for (const [name, value] of [
    ['issuer', r.issuer],
    ['auth URL', r.authenticationEndpoint],
    ['token URL', r.accessTokenEndpoint],
    ['keyset URL', r.keysetUrl],
  ] as const) {
    checkUrl(name, value);
  }
  if (!r.clientId.trim()) throw new RegistrationError('the client id must not be empty');
  if (r.deploymentIds.length === 0 || r.deploymentIds.some((d) => !d.trim())) {
    throw new RegistrationError('at least one non-empty deployment id is required');
  }
  const tenant = await deps.db('tenants').where({ id: r.tenantId }).first('id');
  if (!tenant) throw new RegistrationError(`tenant ${r.tenantId} does not exist`);
  const owners = await deps
    .db('lti_deployments')
    .where({ issuer: r.issuer, client_id: r.clientId })
    .whereNot({ tenant_id: r.tenantId })
    .first('tenant_id');
  if (owners)
    throw new RegistrationError(
      `this platform registration already belongs to tenant ${owners.tenant_id}`,
    );
  const platform: PlatformInfo = await deps.lti.engine.registerPlatform({
    issuer: r.issuer,
    clientId: r.clientId,
    name: r.name ?? new URL(r.issuer).host,
    authenticationEndpoint: r.authenticationEndpoint,
    accessTokenEndpoint: r.accessTokenEndpoint,
    authorizationServer: r.authorizationServer,
    keysetUrl: r.keysetUrl,
  });
  await inTransaction(deps.db, async (trx) => {
    for (const deploymentId of new Set(r.deploymentIds)) {
      await trx('lti_deployments')
        .insert({
          tenant_id: r.tenantId,
          issuer: r.issuer,
          client_id: r.clientId,
          deployment_id: deploymentId,
          platform_kid: platform.id,
          created_at: isoNow(deps.clock),
        })
        .onConflict(['issuer', 'client_id', 'deployment_id'])
        .ignore();
    }
  });
  const deployments = await deps
    .db('lti_deployments')
    .where({ issuer: r.issuer, client_id: r.clientId })
    .orderBy('id')
    .select('deployment_id');
  return {
    tenantId: r.tenantId,
    platformId: platform.id,
    issuer: r.issuer,
    clientId: r.clientId,
    deployments: deployments.map((d) => d.deployment_id as string),
  };
}

const REGISTRATION_AUDIENCE = 'gradebridge-lti-registration';

/** The dynamic registration URL for a tenant: /lti/register with a signed, expiring tenant token. */
export function registrationUrl(
  deps: AppDeps,
  baseUrl: string,
  tenantId: number,
  ttlSeconds = 7 * 86400,
): string {
  const token = jwt.sign({ tid: tenantId }, deps.lti.registrationSecret, {
    algorithm: 'HS256',
    audience: REGISTRATION_AUDIENCE,
    expiresIn: ttlSeconds,
  });
  return `${baseUrl}${ROUTES.register}?tenant=${encodeURIComponent(token)}`;
}

const TOOL_SCOPES = [
  AGS.lineItem,
  AGS.lineItemRead,
  AGS.resultRead,
  AGS.score,
  'https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly',
];

/**
 * LTI Dynamic Registration: the LMS opens /lti/register with its
 * openid_configuration URL and a registration token; gradebridge reads the
 * platform's configuration, registers itself, and records the platform and
 * the deployment the LMS returns for the tenant named by the signed `tenant`
 * parameter of the registration URL.
 */
export async function dynamicRegistration(
  deps: AppDeps,
  baseUrl: string,
  params: { tenant?: string; openidConfiguration?: string; registrationToken?: string },
  { timeoutMs = REGISTRATION_TIMEOUT_MS }: { timeoutMs?: number } = {},
): Promise<RegisteredPlatform> {
  let tenantId: number;
  try {
    const claims = jwt.verify(params.tenant ?? '', deps.lti.registrationSecret, {
      algorithms: ['HS256'],
      audience: REGISTRATION_AUDIENCE,
    }) as { tid: number };
    tenantId = claims.tid;
  } catch {
    throw new RegistrationError(
      'The registration link is not valid or has expired; ask for a new one.',
    );
  }
  if (!params.openidConfiguration)
    throw new RegistrationError('The LMS sent no openid_configuration.');
  checkUrl('openid_configuration', params.openidConfiguration);
  const config = await lmsJson(
    'configuration',
    params.openidConfiguration,
    { headers: { Accept: 'application/json' } },
    timeoutMs,
    (status) => `The LMS's configuration answered ${status}.`,
  );
  const issuer = config.issuer;
  if (
    typeof issuer !== 'string' ||
    !params.openidConfiguration.startsWith(issuer.replace(/\/+$/, ''))
  ) {
    throw new RegistrationError("The LMS's configuration does not come from its issuer.");
  }
  for (const field of [
    'authorization_endpoint',
    'token_endpoint',
    'jwks_uri',
    'registration_endpoint',
  ]) {
    if (typeof config[field] !== 'string')
      throw new RegistrationError(`The LMS's configuration has no ${field}.`, 502);
    checkUrl(`The LMS's ${field}`, config[field], 502);
  }
  const urls = toolUrls(baseUrl);
  const registration = {
    application_type: 'web',
    response_types: ['id_token'],
    grant_types: ['implicit', 'client_credentials'],
    initiate_login_uri: urls.login,
    redirect_uris: [urls.launch],
    client_name: 'gradebridge',
    jwks_uri: urls.keys,
    token_endpoint_auth_method: 'private_key_jwt',
    scope: TOOL_SCOPES.join(' '),
    'https://purl.imsglobal.org/spec/lti-tool-configuration': {
      domain: new URL(baseUrl).host,
      description: 'Grade integration: gradebook history, SIS exchange and grade passback.',
      target_link_uri: urls.launch,
      claims: ['iss', 'sub', 'name', 'given_name', 'family_name', 'email'],
      messages: [
        { type: 'LtiResourceLinkRequest', target_link_uri: urls.launch },
        { type: 'LtiDeepLinkingRequest', target_link_uri: urls.launch },
      ],
    },
  };
  const answer = await lmsJson(
    'registration',
    config.registration_endpoint as string,
    {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/json',
        ...(params.registrationToken
          ? { Authorization: `Bearer ${params.registrationToken}` }
          : {}),
      },
      body: JSON.stringify(registration),
    },
    timeoutMs,
    (status) => `The LMS refused the registration (${status}).`,
  );
  const clientId = answer.client_id;
  const toolConfig = answer['https://purl.imsglobal.org/spec/lti-tool-configuration'] as
    Record<string, unknown> | undefined;
  const deploymentId = toolConfig?.deployment_id;
  if (typeof clientId !== 'string' || typeof deploymentId !== 'string') {
    throw new RegistrationError(
      'The LMS answered the registration without a client_id and deployment_id.',
      502,
    );
  }
  const product = (
    config['https://purl.imsglobal.org/spec/lti-platform-configuration'] as
      Record<string, unknown> | undefined
  )?.product_family_code;
  return registerPlatform(deps, {
    tenantId,
    issuer,
    clientId,
    name: typeof product === 'string' ? product : undefined,
    authenticationEndpoint: config.authorization_endpoint as string,
    accessTokenEndpoint: config.token_endpoint as string,
    authorizationServer:
      typeof config.authorization_server === 'string' ? config.authorization_server : undefined,
    keysetUrl: config.jwks_uri as string,
    deploymentIds: [deploymentId],
  });
}
