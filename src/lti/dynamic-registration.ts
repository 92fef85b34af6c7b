import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { AppDeps } from '../deps.js';
import { isoNow, toIso } from '../db/time.js';
import { identifierProblem } from './claim-text.js';
import { ROUTES } from './engine.js';
import {
  checkUrl,
  registerPlatform,
  RegistrationError,
  toolUrls,
  type RegisteredPlatform,
} from './registration.js';
import { AGS } from './services.js';

/** How long gradebridge waits for the LMS during Dynamic Registration. */
const REGISTRATION_TIMEOUT_MS = 10_000;

/**
 * How long a registration that started with a link holds it: two requests to
 * the LMS of at most 10 s each and a key pair. A link whose registration died
 * half-way (a restart) can be used again after this.
 */
const LINK_CLAIM_MS = 2 * 60_000;

const TOOL_CONFIGURATION = 'https://purl.imsglobal.org/spec/lti-tool-configuration';
const PLATFORM_CONFIGURATION = 'https://purl.imsglobal.org/spec/lti-platform-configuration';

const TOOL_SCOPES = [
  AGS.lineItem,
  AGS.lineItemRead,
  AGS.resultRead,
  AGS.score,
  'https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly',
];

/**
 * Where the LMS offers gradebridge's deep linking (choosing a link and its
 * line item): the IMS names (ContentArea, RichTextEditor) and Canvas's
 * (link_selection for modules, assignment_selection for an assignment's
 * external tool, editor_button in the rich content editor). Canvas maps the
 * IMS names to its own and keeps each once; it drops a message without
 * placements, and refuses names it does not know.
 */
export const DEEP_LINKING_PLACEMENTS = [
  'ContentArea',
  'RichTextEditor',
  'link_selection',
  'assignment_selection',
  'editor_button',
] as const;

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** Link tokens are 43 characters of base64url; anything else was not made here. */
const LINK_TOKEN = /^[A-Za-z0-9_-]{20,128}$/;

export interface RegistrationLink {
  tenantId: number;
  url: string;
  expiresAt: string;
}

/**
 * A Dynamic Registration link for a tenant: /lti/register with a random
 * token (only its hash is kept). It registers one platform, once, before it
 * expires.
 */
export async function registrationLink(
  deps: AppDeps,
  baseUrl: string,
  tenantId: number,
  ttlSeconds = 7 * 86400,
): Promise<RegistrationLink> {
  const token = randomBytes(32).toString('base64url');
  const now = deps.clock.now();
  const expiresAt = new Date(now + ttlSeconds * 1000).toISOString();
  await deps.db('lti_registration_links').insert({
    tenant_id: tenantId,
    token_hash: hashToken(token),
    created_at: new Date(now).toISOString(),
    expires_at: expiresAt,
  });
  return {
    tenantId,
    url: `${baseUrl}${ROUTES.register}?link=${encodeURIComponent(token)}`,
    expiresAt,
  };
}

interface ClaimedLink {
  id: number;
  tenantId: number;
  claimId: string;
}

const LINK_NOT_VALID = 'The registration link is not valid; ask for a new one.';

/** Takes the link for one registration, or says why it cannot be used. */
async function claimLink(deps: AppDeps, token: string | undefined): Promise<ClaimedLink> {
  if (!token || !LINK_TOKEN.test(token)) throw new RegistrationError(LINK_NOT_VALID);
  const row = await deps
    .db('lti_registration_links')
    .where({ token_hash: hashToken(token) })
    .first('id', 'tenant_id', 'expires_at', 'used_at', 'claim_id', 'claimed_at');
  if (!row) throw new RegistrationError(LINK_NOT_VALID);
  const now = deps.clock.now();
  if (row.used_at)
    throw new RegistrationError(
      'This registration link has already been used: each link registers one platform. Ask for a new one.',
    );
  if (new Date(toIso(row.expires_at)!).getTime() <= now)
    throw new RegistrationError('This registration link has expired; ask for a new one.');
  if (row.claim_id && new Date(toIso(row.claimed_at)!).getTime() > now - LINK_CLAIM_MS)
    throw new RegistrationError(
      'A registration with this link is already under way; wait for it to finish.',
      409,
    );
  const claimId = randomUUID();
  const claimed = await deps
    .db('lti_registration_links')
    .where({ id: row.id })
    .whereNull('used_at')
    .andWhere((q) => (row.claim_id ? q.where({ claim_id: row.claim_id }) : q.whereNull('claim_id')))
    .update({ claim_id: claimId, claimed_at: new Date(now).toISOString() });
  if (claimed !== 1)
    throw new RegistrationError(
      'A registration with this link is already under way; wait for it to finish.',
      409,
    );
  return { id: row.id as number, tenantId: row.tenant_id as number, claimId };
}

/** Gives the link back: nothing was registered in the LMS, so it may be tried again. */
async function releaseLink(deps: AppDeps, link: ClaimedLink): Promise<void> {
  await deps
    .db('lti_registration_links')
    .where({ id: link.id, claim_id: link.claimId })
    .whereNull('used_at')
    .update({ claim_id: null, claimed_at: null });
}

/** The LMS made a registration with the link: the link is used, bound to that platform. */
async function spendLink(
  deps: AppDeps,
  link: ClaimedLink,
  outcome: 'registered' | 'refused',
  platform: { issuer: string; clientId: string | null },
): Promise<void> {
  const spent = await deps
    .db('lti_registration_links')
    .where({ id: link.id })
    .whereNull('used_at')
    .update({
      used_at: isoNow(deps.clock),
      outcome,
      issuer: platform.issuer,
      client_id: platform.clientId,
      claim_id: link.claimId,
    });
  if (spent !== 1)
    deps.logger.warn(
      { link: link.id, issuer: platform.issuer, clientId: platform.clientId },
      'a registration link was spent twice: check the platforms it registered',
    );
}

/** A URL without its query and fragment (where tokens travel), for pages and logs. */
function withoutQuery(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(not a URL)';
  }
}

/** The most of an LMS's answer gradebridge reads during registration. */
const ANSWER_MAX_BYTES = 256 * 1024;

/** An answer's text, refused once it passes ANSWER_MAX_BYTES (a configuration is a few kilobytes). */
async function boundedText(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > ANSWER_MAX_BYTES) {
      await reader.cancel().catch(() => undefined);
      throw new RegistrationError(
        `The LMS's answer is larger than ${ANSWER_MAX_BYTES / 1024} KB; nothing was registered.`,
        502,
      );
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const isLoopback = (hostname: string) =>
  hostname === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(hostname) || hostname === '[::1]';

/**
 * Why the configuration cannot be the issuer's own, or null when it can: the
 * issuer must be an https URL (http only on this machine) without query or
 * fragment, and the configuration must come from the issuer's origin: the
 * same scheme, host and port (a string prefix is not enough:
 * https://lms.example.edu is a prefix of https://lms.example.edu.evil.test).
 */
export function configurationOriginProblem(
  issuer: unknown,
  configurationUrl: string,
): string | null {
  if (typeof issuer !== 'string' || issuer === '') return 'it names no issuer';
  let iss: URL;
  let config: URL;
  try {
    iss = new URL(issuer);
    config = new URL(configurationUrl);
  } catch {
    return 'its issuer is not a URL';
  }
  if (iss.protocol !== 'https:' && !(iss.protocol === 'http:' && isLoopback(iss.hostname)))
    return 'its issuer is not an https URL';
  if (iss.search || iss.hash || iss.username || iss.password)
    return 'its issuer has a query, a fragment or credentials';
  if (iss.origin !== config.origin)
    return `it was read from ${config.origin}, not from the issuer's origin ${iss.origin}`;
  return null;
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
  onAnswered?: () => void,
): Promise<{ body: Record<string, unknown>; url: string }> {
  const failed = (why: string) => new RegistrationError(`The LMS's ${step} ${why}.`, 502);
  let text: string;
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    if (res.ok) onAnswered?.();
    text = await boundedText(res);
  } catch (err) {
    if (err instanceof RegistrationError) throw err;
    const name = (err as Error | null)?.name;
    const verb = step === 'registration' ? 'could not be sent' : 'could not be read';
    if (name === 'TimeoutError' || name === 'AbortError')
      throw failed(`${verb}: the LMS did not answer within ${timeoutMs / 1000} s`);
    throw failed(`${verb}: the LMS could not be reached`);
  }
  // The status only: what an address answers is not shown to whoever holds a link.
  if (!res.ok)
    throw new RegistrationError(refused(res.status), 502, [['status', String(res.status)]]);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw failed(step === 'registration' ? 'answer is not JSON' : 'is not JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw failed(step === 'registration' ? 'answer is not a JSON object' : 'is not a JSON object');
  return { body: body as Record<string, unknown>, url: res.url || url };
}

/**
 * What gradebridge asks the LMS to register (LTI Dynamic Registration 3.5.1):
 * the resource link launch (the course page, in the course navigation) and
 * deep linking (placing a gradebridge link with its line item) in the
 * placements listed above, each with its label and target link URI.
 */
export function registrationRequest(baseUrl: string): Record<string, unknown> {
  const urls = toolUrls(baseUrl);
  return {
    application_type: 'web',
    response_types: ['id_token'],
    grant_types: ['implicit', 'client_credentials'],
    initiate_login_uri: urls.login,
    redirect_uris: [urls.launch],
    client_name: 'gradebridge',
    jwks_uri: urls.keys,
    token_endpoint_auth_method: 'private_key_jwt',
    scope: TOOL_SCOPES.join(' '),
    [TOOL_CONFIGURATION]: {
      domain: new URL(baseUrl).host,
      description: 'Grade integration: gradebook history, SIS exchange and grade passback.',
      target_link_uri: urls.launch,
      claims: ['iss', 'sub', 'name', 'given_name', 'family_name', 'email'],
      messages: [
        {
          type: 'LtiResourceLinkRequest',
          target_link_uri: urls.launch,
          label: 'gradebridge',
          placements: ['course_navigation'],
        },
        {
          type: 'LtiDeepLinkingRequest',
          target_link_uri: urls.launch,
          label: 'gradebridge link',
          placements: [...DEEP_LINKING_PLACEMENTS],
        },
      ],
    },
  };
}

/** A client id or deployment id from the LMS's answer: text (or a number, as some send), usable as an identifier. */
function answeredId(value: unknown, what: string): string | null {
  if (value === undefined || value === null || value === '') return null;
  const id = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value;
  if (typeof id !== 'string' || identifierProblem(id) !== null)
    throw new RegistrationError(`The LMS answered the registration with an unusable ${what}.`, 502);
  return id;
}

/**
 * The deployment the LMS created with the registration, wherever it says it:
 * in the tool configuration (the specification), at the top level (as some
 * Canvas versions do), or nowhere (Canvas, which deploys the tool after the
 * administrator reviews it): then the first launch names it.
 */
function answeredDeployment(answer: Record<string, unknown>): string | null {
  const config = answer[TOOL_CONFIGURATION];
  const inConfig =
    typeof config === 'object' && config !== null && !Array.isArray(config)
      ? answeredId((config as Record<string, unknown>).deployment_id, 'deployment_id')
      : null;
  const topLevel = answeredId(answer.deployment_id, 'deployment_id');
  if (inConfig && topLevel && inConfig !== topLevel)
    throw new RegistrationError(
      'The LMS answered the registration with two different deployment ids.',
      502,
      [
        ['deployment_id', topLevel],
        [`${TOOL_CONFIGURATION} deployment_id`, inConfig],
      ],
    );
  return inConfig ?? topLevel;
}

export interface DynamicRegistrationParams {
  link?: string;
  openidConfiguration?: string;
  registrationToken?: string;
}

export interface DynamicRegistrationResult extends RegisteredPlatform {
  productFamilyCode: string | null;
}

/**
 * LTI Dynamic Registration: the LMS opens /lti/register with its
 * openid_configuration URL and a registration token; gradebridge reads the
 * platform's configuration (which must come from the issuer's own origin),
 * registers itself, and records the platform for the tenant of the link,
 * with the deployment the LMS returns or, when it names none, the one its
 * first launch names. The link works for one registration: used (and bound
 * to the platform) once the LMS has answered, refused or not; given back when
 * the LMS never took a registration. A registration never changes a platform
 * gradebridge already knows.
 */
export async function dynamicRegistration(
  deps: AppDeps,
  baseUrl: string,
  params: DynamicRegistrationParams,
  { timeoutMs = REGISTRATION_TIMEOUT_MS }: { timeoutMs?: number } = {},
): Promise<DynamicRegistrationResult> {
  const link = await claimLink(deps, params.link);
  let answered: { issuer: string; clientId: string | null } | null = null;
  try {
    if (!params.openidConfiguration)
      throw new RegistrationError('The LMS sent no openid_configuration.');
    checkUrl('openid_configuration', params.openidConfiguration);
    const auth: Record<string, string> = params.registrationToken
      ? { Authorization: `Bearer ${params.registrationToken}` }
      : {};
    const read = await lmsJson(
      'configuration',
      params.openidConfiguration,
      { headers: { Accept: 'application/json', ...auth } },
      timeoutMs,
      (status) => `The LMS's configuration answered ${status}.`,
    );
    const config = read.body;
    const problem =
      configurationOriginProblem(config.issuer, params.openidConfiguration) ??
      configurationOriginProblem(config.issuer, read.url);
    if (problem) {
      throw new RegistrationError(
        "The LMS's configuration does not come from its issuer, so gradebridge cannot trust it; nothing was registered.",
        400,
        [
          ['why', problem],
          ['issuer', String(config.issuer).slice(0, 300)],
          // Origin and path: its query may carry the registration token.
          ['openid_configuration', withoutQuery(params.openidConfiguration).slice(0, 300)],
        ],
      );
    }
    const issuer = config.issuer as string;
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
    const { body: answer } = await lmsJson(
      'registration',
      config.registration_endpoint as string,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...auth },
        body: JSON.stringify(registrationRequest(baseUrl)),
      },
      timeoutMs,
      (status) => `The LMS refused the registration (${status}).`,
      // A 2xx: the LMS may hold a registration now, whatever its answer says; the link is spent.
      () => (answered = { issuer, clientId: null }),
    );
    const clientId = answeredId(answer.client_id, 'client_id');
    if (!clientId)
      throw new RegistrationError('The LMS answered the registration without a client_id.', 502);
    // The LMS holds a registration now: the link is spent, whatever follows.
    answered = { issuer, clientId };
    const deploymentId = answeredDeployment(answer);
    const platformConfig = config[PLATFORM_CONFIGURATION] as Record<string, unknown> | undefined;
    const product =
      typeof platformConfig?.product_family_code === 'string'
        ? platformConfig.product_family_code
        : null;
    const registered = await registerPlatform(
      deps,
      {
        tenantId: link.tenantId,
        issuer,
        clientId,
        name: product ?? undefined,
        authenticationEndpoint: config.authorization_endpoint as string,
        accessTokenEndpoint: config.token_endpoint as string,
        authorizationServer:
          typeof config.authorization_server === 'string' &&
          identifierProblem(config.authorization_server, 1024) === null
            ? config.authorization_server
            : undefined,
        keysetUrl: config.jwks_uri as string,
        deploymentIds: deploymentId ? [deploymentId] : [],
      },
      { via: 'dynamic_registration', existing: 'refuse', allowNoDeployment: true },
    );
    await spendLink(deps, link, 'registered', answered);
    return { ...registered, productFamilyCode: product };
  } catch (err) {
    if (answered) await spendLink(deps, link, 'refused', answered).catch(() => undefined);
    else await releaseLink(deps, link).catch(() => undefined);
    if (err instanceof RegistrationError && answered)
      throw new RegistrationError(
        `${err.message} The LMS has already made a registration for gradebridge${
          answered.clientId ? ` (client id ${answered.clientId})` : ''
        }: remove it there.`,
        err.status,
        err.detail,
      );
    throw err;
  }
}
