import { createPublicKey, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { Db } from '../db/knex.js';
import type { DeepLinkingSettings, LtiEngine, PlatformInfo } from './engine.js';
import { displayText, identifierProblem, ID_MAX, TEXT_MAX } from './claim-text.js';
import type { KeysetCache } from './keyset-cache.js';

export const CLAIM = {
  messageType: 'https://purl.imsglobal.org/spec/lti/claim/message_type',
  version: 'https://purl.imsglobal.org/spec/lti/claim/version',
  deploymentId: 'https://purl.imsglobal.org/spec/lti/claim/deployment_id',
  targetLinkUri: 'https://purl.imsglobal.org/spec/lti/claim/target_link_uri',
  resourceLink: 'https://purl.imsglobal.org/spec/lti/claim/resource_link',
  roles: 'https://purl.imsglobal.org/spec/lti/claim/roles',
  context: 'https://purl.imsglobal.org/spec/lti/claim/context',
  lis: 'https://purl.imsglobal.org/spec/lti/claim/lis',
  custom: 'https://purl.imsglobal.org/spec/lti/claim/custom',
  platform: 'https://purl.imsglobal.org/spec/lti/claim/tool_platform',
  ags: 'https://purl.imsglobal.org/spec/lti-ags/claim/endpoint',
  nrps: 'https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice',
  deepLinking: 'https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings',
  roleScopeMentor: 'https://purl.imsglobal.org/spec/lti/claim/role_scope_mentor',
} as const;

/**
 * A launch refused: `reason` is shown on the error page (it never holds
 * secrets). `restartable` when the browser kept no state for the tool (no
 * cookie, no platform storage): the page offers to launch in a new window.
 */
export class LaunchError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly restartable = false,
    /** Technical detail for the page's disclosure and the log (label and value). */
    readonly detail: Array<[string, string]> = [],
  ) {
    super(reason);
  }
}

/** The claims gradebridge reads, checked. */
export interface LaunchClaims {
  issuer: string;
  clientId: string;
  deploymentId: string;
  sub: string;
  messageType: 'LtiResourceLinkRequest' | 'LtiDeepLinkingRequest';
  roles: string[];
  /** The users (sub) a mentor may see, from role_scope_mentor. */
  mentees: string[];
  name: string | null;
  givenName: string | null;
  familyName: string | null;
  email: string | null;
  context: { id: string; label: string | null; title: string | null } | null;
  resourceLink: { id: string; title: string | null } | null;
  lis: {
    courseOfferingSourcedId: string | null;
    courseSectionSourcedId: string | null;
    personSourcedId: string | null;
  };
  ags: { scopes: string[]; lineItemsUrl: string | null; lineItemUrl: string | null } | null;
  membershipsUrl: string | null;
  deepLinking: DeepLinkingSettings | null;
}

export interface VerifiedLaunch {
  claims: LaunchClaims;
  tenantId: number;
  deploymentRowId: number;
  platform: PlatformInfo;
  key: KeyObject;
}

export interface LaunchCheckOptions {
  db: Db;
  engine: LtiEngine;
  keysets: KeysetCache;
  clockToleranceSeconds: number;
  maxAgeSeconds: number;
  now: () => number;
  /**
   * The registered deployment (its row id and tenant), or null. Called once
   * the token's signature checked out, with the platform's key id: a
   * platform awaiting its first deployment learns it then.
   */
  deployment: (
    issuer: string,
    clientId: string,
    deploymentId: string,
    platformKid: string,
  ) => Promise<{ id: number; tenantId: number } | null>;
}

/** LIS sourcedids go to users.batch_uid and courses.batch_uid. */
const SOURCED_ID_MAX = 333;

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const obj = (v: unknown): Record<string, unknown> | null =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;

/**
 * Everything ltijs leaves unchecked or checks loosely, before ltijs sees the
 * launch: the state must be one this tool issued at login, unused and not
 * expired; the nonce must be the one issued with that state (and it is used
 * up here); only RS256 signatures, with a kid, from the platform's keyset
 * (cached); iss and aud must match the login; several audiences need the
 * tool's azp; iat and exp within a small clock tolerance; the deployment must
 * be registered (it names the tenant); and the LTI claims must be present and
 * well formed.
 */
export async function checkLaunch(
  o: LaunchCheckOptions,
  body: Record<string, unknown>,
  /** The issuer the login's state cookie carried, or the one the platform's storage confirmed the state for. */
  stateCookieIssuer: string | undefined,
): Promise<VerifiedLaunch> {
  const idToken = str(body.id_token);
  const state = str(body.state);
  if (!idToken) throw new LaunchError(400, 'The launch carries no id_token.');
  if (!state) throw new LaunchError(400, 'The launch carries no state.');
  // States are 43 characters of base64url; anything else was not issued here.
  if (identifierProblem(state, 128) !== null)
    throw new LaunchError(401, 'The state was not issued by this tool.');
  // The login is used up here, whatever follows: a state works once.
  const [login] = await o
    .db('lti_logins')
    .where({ state })
    .whereNull('used_at')
    .update({ used_at: new Date(o.now()).toISOString() })
    .returning(['issuer', 'client_id', 'nonce', 'expires_at']);
  if (!login) {
    const known = await o.db('lti_logins').where({ state }).first('state');
    throw new LaunchError(
      401,
      known ? 'This login was already used.' : 'The state was not issued by this tool.',
    );
  }
  if (new Date(login.expires_at).getTime() <= o.now())
    throw new LaunchError(401, 'The login expired; launch again.');
  if (stateCookieIssuer === undefined) {
    throw new LaunchError(
      401,
      'The state cookie set at login is missing (the browser did not send it back).',
      true,
    );
  }
  if (stateCookieIssuer !== login.issuer)
    throw new LaunchError(401, 'The state cookie does not match this login.');

  const decoded = jwt.decode(idToken, { complete: true });
  if (!decoded || typeof decoded.payload !== 'object')
    throw new LaunchError(400, 'The id_token is not a JWT.');
  const { header } = decoded;
  const payload = decoded.payload as Record<string, unknown>;
  if (header.alg !== 'RS256')
    throw new LaunchError(
      401,
      `The id_token is signed with ${header.alg}; only RS256 is accepted.`,
    );
  if (!header.kid) throw new LaunchError(401, 'The id_token header has no kid.');
  if (payload.iss !== login.issuer)
    throw new LaunchError(401, 'The id_token was issued by another platform than the login.');
  const aud = Array.isArray(payload.aud) ? (payload.aud as unknown[]) : [payload.aud];
  if (!aud.includes(login.client_id))
    throw new LaunchError(401, "The id_token's audience is not this tool.");
  if (aud.length > 1 && payload.azp !== login.client_id) {
    throw new LaunchError(
      401,
      'The id_token names several audiences without this tool as its authorized party (azp).',
    );
  }

  const platform = await o.engine.platform(login.issuer, login.client_id);
  if (!platform) throw new LaunchError(401, 'The platform is not registered with this tool.');
  if (!platform.active) throw new LaunchError(401, 'The platform is registered but not active.');
  let key: KeyObject | null;
  try {
    key =
      platform.authConfig.method === 'JWK_SET'
        ? await o.keysets.key(platform.authConfig.key, header.kid)
        : createPublicKey(
            platform.authConfig.method === 'JWK_KEY'
              ? { key: JSON.parse(platform.authConfig.key) as never, format: 'jwk' }
              : platform.authConfig.key,
          );
  } catch {
    throw new LaunchError(502, "The platform's keyset could not be read; try again.");
  }
  if (!key) throw new LaunchError(401, `The platform's keyset has no key "${header.kid}".`);
  try {
    jwt.verify(idToken, key, {
      algorithms: ['RS256'],
      clockTolerance: o.clockToleranceSeconds,
      clockTimestamp: Math.floor(o.now() / 1000),
    });
  } catch (err) {
    const message =
      err instanceof jwt.TokenExpiredError
        ? 'The id_token has expired.'
        : 'The id_token signature is not valid.';
    throw new LaunchError(401, message);
  }
  const nowS = o.now() / 1000;
  if (typeof payload.exp !== 'number') throw new LaunchError(401, 'The id_token has no exp.');
  if (typeof payload.iat !== 'number') throw new LaunchError(401, 'The id_token has no iat.');
  if (payload.iat > nowS + o.clockToleranceSeconds)
    throw new LaunchError(401, 'The id_token was issued in the future (iat).');
  if (nowS - payload.iat > o.maxAgeSeconds + o.clockToleranceSeconds)
    throw new LaunchError(401, 'The id_token is too old (iat).');

  if (payload.nonce !== login.nonce)
    throw new LaunchError(401, 'The nonce is not the one issued at this login.');

  const claims = readClaims(payload, login.client_id);
  const deployment = await o.deployment(
    claims.issuer,
    claims.clientId,
    claims.deploymentId,
    platform.id,
  );
  if (!deployment)
    throw new LaunchError(
      401,
      `Deployment "${claims.deploymentId}" is not registered with this tool.`,
    );
  return {
    claims,
    tenantId: deployment.tenantId,
    deploymentRowId: deployment.id,
    platform,
    key,
  };
}

/** The most mentees a launch may name (their ids travel in the page's session). */
export const MAX_MENTEES = 200;
/** The longest service URL or deep linking return URL kept (the columns they go to). */
const URL_MAX = 2048;
/** The longest deep linking `data` carried back to the platform (it travels in the page's session). */
const DEEP_LINK_DATA_MAX = 4096;

/** A required identifier claim: refused when missing, over-long, or not clean text. */
function requiredId(value: unknown, what: string, max = ID_MAX): string {
  const id = str(value);
  if (!id) throw new LaunchError(400, `The id_token has no ${what}.`);
  return checkedId(id, what, max);
}

function checkedId(id: string, what: string, max = ID_MAX): string {
  const problem = identifierProblem(id, max);
  if (problem) throw new LaunchError(400, `The id_token's ${what} ${problem}.`);
  return id;
}

/** An optional identifier claim: null when absent, refused when malformed. */
const optionalId = (value: unknown, what: string, max = ID_MAX): string | null => {
  const id = str(value);
  return id === null ? null : checkedId(id, what, max);
};

/** Reads and checks the LTI claims of a verified id_token. */
export function readClaims(p: Record<string, unknown>, clientId: string): LaunchClaims {
  const version = p[CLAIM.version];
  if (version === undefined) throw new LaunchError(400, 'The id_token has no LTI version claim.');
  if (version !== '1.3.0')
    throw new LaunchError(400, `LTI version "${displayText(String(version), 40)}" is not 1.3.0.`);
  const messageType = p[CLAIM.messageType];
  if (messageType === undefined)
    throw new LaunchError(400, 'The id_token has no message_type claim.');
  if (messageType !== 'LtiResourceLinkRequest' && messageType !== 'LtiDeepLinkingRequest') {
    throw new LaunchError(
      400,
      `"${displayText(String(messageType), 60)}" is not an LTI message this tool accepts.`,
    );
  }
  const deploymentId = requiredId(p[CLAIM.deploymentId], 'deployment_id claim');
  const sub = requiredId(p.sub, 'sub (the user)');
  const roles = p[CLAIM.roles];
  if (!Array.isArray(roles) || roles.some((r) => typeof r !== 'string')) {
    throw new LaunchError(400, 'The id_token has no roles claim (an empty list is fine).');
  }
  const link = obj(p[CLAIM.resourceLink]);
  const linkId = optionalId(link?.id, 'resource_link id');
  if (messageType === 'LtiResourceLinkRequest' && !linkId) {
    throw new LaunchError(400, 'The resource link launch has no resource_link id.');
  }
  const dl = obj(p[CLAIM.deepLinking]);
  const returnUrl = optionalId(dl?.deep_link_return_url, 'deep_link_return_url', URL_MAX);
  if (messageType === 'LtiDeepLinkingRequest' && !returnUrl) {
    throw new LaunchError(
      400,
      'Your LMS asked gradebridge to add content without saying where to send it back, so nothing can be added. Close this window and try again from the LMS.',
      false,
      [
        [
          'problem',
          dl
            ? 'The deep linking launch has no deep_link_return_url.'
            : 'The deep linking launch has no deep_linking_settings claim.',
        ],
      ],
    );
  }
  const dlData = optionalId(dl?.data, 'deep linking data', DEEP_LINK_DATA_MAX);
  const context = obj(p[CLAIM.context]);
  const contextId = optionalId(context?.id, 'context id');
  const lis = obj(p[CLAIM.lis]) ?? {};
  const ags = obj(p[CLAIM.ags]);
  const nrps = obj(p[CLAIM.nrps]);
  const mentees = p[CLAIM.roleScopeMentor];
  if (
    mentees !== undefined &&
    (!Array.isArray(mentees) || mentees.some((m) => typeof m !== 'string'))
  ) {
    throw new LaunchError(400, 'The role_scope_mentor claim is not a list of user ids.');
  }
  if (Array.isArray(mentees) && mentees.length > MAX_MENTEES) {
    throw new LaunchError(400, `The role_scope_mentor claim names more than ${MAX_MENTEES} users.`);
  }
  // ltijs keys its launch records by these ids together, URL-encoded, in a column of 2048.
  const ltijsContextKey = encodeURIComponent(
    `${String(p.iss)}${clientId}${deploymentId}${contextId ?? 'NF'}_${linkId ?? 'NF'}_${'0'.repeat(64)}`,
  );
  if (ltijsContextKey.length > 2048) {
    throw new LaunchError(
      400,
      "The launch's platform, deployment, context and link ids are too long together.",
    );
  }
  return {
    issuer: p.iss as string,
    clientId,
    deploymentId,
    sub,
    messageType,
    roles: roles as string[],
    mentees: ((mentees as string[] | undefined) ?? []).map((m) =>
      checkedId(m, 'role_scope_mentor entry'),
    ),
    name: displayText(p.name, TEXT_MAX.name),
    givenName: displayText(p.given_name, TEXT_MAX.name),
    familyName: displayText(p.family_name, TEXT_MAX.name),
    email: displayText(p.email, TEXT_MAX.email),
    context: contextId
      ? {
          id: contextId,
          label: displayText(context?.label, TEXT_MAX.title),
          title: displayText(context?.title, TEXT_MAX.title),
        }
      : null,
    resourceLink: linkId ? { id: linkId, title: displayText(link?.title, TEXT_MAX.title) } : null,
    lis: {
      courseOfferingSourcedId: optionalId(
        lis.course_offering_sourcedid,
        'LIS course offering sourcedid',
        SOURCED_ID_MAX,
      ),
      courseSectionSourcedId: optionalId(
        lis.course_section_sourcedid,
        'LIS course section sourcedid',
        SOURCED_ID_MAX,
      ),
      personSourcedId: optionalId(lis.person_sourcedid, 'LIS person sourcedid', SOURCED_ID_MAX),
    },
    ags: ags
      ? {
          // Scopes are kept as one text; ones that are not clean text are of no use anyway.
          scopes: Array.isArray(ags.scope)
            ? (ags.scope as unknown[]).filter(
                (s): s is string => typeof s === 'string' && identifierProblem(s, URL_MAX) === null,
              )
            : [],
          lineItemsUrl: optionalId(ags.lineitems, 'AGS lineitems URL', URL_MAX),
          lineItemUrl: optionalId(ags.lineitem, 'AGS lineitem URL', URL_MAX),
        }
      : null,
    membershipsUrl: optionalId(
      nrps?.context_memberships_url,
      'Names and Roles memberships URL',
      URL_MAX,
    ),
    deepLinking: dl && returnUrl ? deepLinkingSettings(dl, returnUrl, dlData) : null,
  };
}

const isCleanString = (v: unknown): v is string =>
  typeof v === 'string' && identifierProblem(v, 255) === null;

/** A deep linking flag: a boolean (or, as some platforms send it, "true" or "false"). */
function flag(value: unknown): boolean | undefined | 'unusable' {
  if (value === undefined || value === null) return undefined;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  return 'unusable';
}

/**
 * The deep linking settings as the tool may use them. The launch is accepted
 * whatever they hold (the deep linking page explains in plain words what it
 * cannot do and offers to return to the LMS); what is missing or unusable is
 * listed in `unusable`, so nothing is made from it.
 */
function deepLinkingSettings(
  dl: Record<string, unknown>,
  returnUrl: string,
  data: string | null,
): DeepLinkingSettings {
  const unusable: string[] = [];
  let returnUrlOk = false;
  try {
    const url = new URL(returnUrl);
    returnUrlOk = url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    returnUrlOk = false;
  }
  if (!returnUrlOk) unusable.push('deep_link_return_url is not an http(s) URL');
  let acceptTypes: string[] | undefined;
  if (dl.accept_types === undefined || dl.accept_types === null)
    unusable.push('accept_types is missing');
  else if (!Array.isArray(dl.accept_types)) unusable.push('accept_types is not a list');
  else {
    acceptTypes = (dl.accept_types as unknown[]).filter(isCleanString).slice(0, 20);
    if (acceptTypes.length === 0) unusable.push('accept_types is empty');
  }
  const flags: Partial<Record<'accept_multiple' | 'accept_lineitem' | 'auto_create', boolean>> = {};
  for (const name of ['accept_multiple', 'accept_lineitem', 'auto_create'] as const) {
    const value = flag(dl[name]);
    if (value === 'unusable') unusable.push(`${name} is not true or false`);
    else if (value !== undefined) flags[name] = value;
  }
  return {
    deep_link_return_url: returnUrl,
    ...(data ? { data } : {}),
    ...(acceptTypes ? { accept_types: acceptTypes } : {}),
    ...flags,
    ...(unusable.length > 0 ? { unusable } : {}),
  };
}
