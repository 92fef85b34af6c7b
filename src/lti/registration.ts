import type { AppDeps } from '../deps.js';
import type { Db, Executor } from '../db/knex.js';
import { isoNow, toBool, toIso } from '../db/time.js';
import { inTransaction } from '../db/transaction.js';
import { identifierProblem } from './claim-text.js';
import { ROUTES, type PlatformInfo } from './engine.js';

/**
 * A registration that cannot be made, in words for the person who started
 * it: 400 when the request or the registration itself is wrong, 409 when it
 * would change a platform that is already registered, 502 when the LMS could
 * not be reached or answered something unusable. `detail` is technical
 * detail (label and value) for the page's disclosure and the log.
 */
export class RegistrationError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 409 | 502 = 400,
    readonly detail: Array<[string, string]> = [],
  ) {
    super(message);
    this.name = 'RegistrationError';
  }
}

/** How a platform came to be registered. */
export type RegisteredVia = 'command_line' | 'dynamic_registration';

export interface PlatformRegistration {
  tenantId: number;
  issuer: string;
  clientId: string;
  name?: string;
  authenticationEndpoint: string;
  accessTokenEndpoint: string;
  authorizationServer?: string;
  keysetUrl: string;
  /** One or more; none only where allowed (Dynamic Registration without a deployment id). */
  deploymentIds: string[];
}

export interface RegisterOptions {
  via?: RegisteredVia;
  /**
   * What to do when the platform (issuer and client id) is registered already:
   * `add-deployments` adds the new deployment ids when the endpoints are the
   * same (and refuses otherwise); `refuse` refuses in any case (Dynamic
   * Registration never touches a registered platform).
   */
  existing?: 'add-deployments' | 'refuse';
  /** A platform without deployments yet: its first launch names one (Dynamic Registration). */
  allowNoDeployment?: boolean;
  /** Who registered it, for the record (the command line's user). */
  actor?: string | null;
}

export interface RegisteredPlatform {
  tenantId: number;
  platformId: string;
  issuer: string;
  clientId: string;
  deployments: string[];
  /** Registered without a deployment: the first launch from the platform names it. */
  awaitingDeployment: boolean;
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

/** Refuses a value that is not an absolute http(s) URL (no credentials in it). */
export function checkUrl(name: string, value: unknown, status: 400 | 502 = 400): URL {
  if (typeof value !== 'string' || value === '')
    throw new RegistrationError(`${name} is missing.`, status);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new RegistrationError(`${name} is not a URL: "${value.slice(0, 200)}"`, status);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new RegistrationError(`${name} must be an http(s) URL`, status);
  if (url.username || url.password)
    throw new RegistrationError(`${name} must not carry a user name or password`, status);
  if (identifierProblem(value, 1024) !== null)
    throw new RegistrationError(`${name} is not a usable URL`, status);
  return url;
}

/** The endpoints and keys a platform is known by (the tool's trust in it). */
interface Endpoints {
  authenticationEndpoint: string;
  accessTokenEndpoint: string;
  authorizationServer: string | null;
  keysetUrl: string | null;
}

function endpointsOf(p: PlatformInfo): Endpoints {
  return {
    authenticationEndpoint: p.authenticationEndpoint,
    accessTokenEndpoint: p.accessTokenEndpoint,
    authorizationServer: p.authorizationServer || null,
    keysetUrl: p.authConfig.method === 'JWK_SET' ? p.authConfig.key : null,
  };
}

const ENDPOINT_WORDS: Record<keyof Endpoints, string> = {
  authenticationEndpoint: 'auth URL',
  accessTokenEndpoint: 'token URL',
  authorizationServer: 'authorization server',
  keysetUrl: 'keyset URL',
};

/** The endpoints of `wanted` that differ from the platform's (an authorization server left out is no change). */
function endpointChanges(
  current: Endpoints,
  wanted: Partial<Endpoints>,
): Array<{ field: keyof Endpoints; from: string | null; to: string }> {
  const changes: Array<{ field: keyof Endpoints; from: string | null; to: string }> = [];
  for (const field of Object.keys(ENDPOINT_WORDS) as Array<keyof Endpoints>) {
    const to = wanted[field];
    if (to === undefined || to === null || to === current[field]) continue;
    changes.push({ field, from: current[field], to });
  }
  return changes;
}

/** Records what happened to a platform's registration. */
export async function recordPlatformEvent(
  db: Executor,
  e: {
    tenantId: number;
    issuer: string;
    clientId: string;
    kind: 'registered' | 'deployments_added' | 'deployment_learned' | 'endpoints_replaced';
    actor?: string | null;
    reason?: string | null;
    detail: Record<string, unknown>;
    at: string;
  },
): Promise<number> {
  const [row] = await db('lti_platform_events')
    .insert({
      tenant_id: e.tenantId,
      issuer: e.issuer,
      client_id: e.clientId,
      kind: e.kind,
      actor: e.actor ?? null,
      reason: e.reason ?? null,
      detail: JSON.stringify(e.detail),
      created_at: e.at,
    })
    .returning('id');
  return row.id as number;
}

/** Whether a database error is a unique index refusing a row (PostgreSQL 23505, SQLite's constraint). */
function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

const REPLACE_HINT =
  'gradebridge keeps the endpoints and keys it has; an administrator replaces them on purpose with `platform replace-endpoints`.';

/**
 * Registers a platform (issuer and client id) for a tenant with its
 * deployments. ltijs makes the tool's key pair for a new platform; each
 * deployment belongs to exactly one tenant. A registration never replaces a
 * registered platform's endpoints or keyset: registering it again with the
 * same ones adds deployments (or, with `existing: 'refuse'`, is refused);
 * with other ones it is refused (see replacePlatformEndpoints).
 */
export async function registerPlatform(
  deps: AppDeps,
  r: PlatformRegistration,
  options: RegisterOptions = {},
): Promise<RegisteredPlatform> {
  const { via = 'command_line', existing = 'add-deployments', allowNoDeployment = false } = options;
  for (const [name, value] of [
    ['issuer', r.issuer],
    ['auth URL', r.authenticationEndpoint],
    ['token URL', r.accessTokenEndpoint],
    ['keyset URL', r.keysetUrl],
  ] as const) {
    checkUrl(name, value);
  }
  if (r.authorizationServer && identifierProblem(r.authorizationServer, 1024) !== null)
    throw new RegistrationError('the authorization server is not usable text');
  if (!r.clientId.trim()) throw new RegistrationError('the client id must not be empty');
  if (identifierProblem(r.clientId) !== null)
    throw new RegistrationError('the client id is not a usable identifier');
  const deploymentIds = [...new Set(r.deploymentIds)];
  if (deploymentIds.some((d) => !d.trim() || identifierProblem(d) !== null))
    throw new RegistrationError('deployment ids must be non-empty identifiers');
  if (deploymentIds.length === 0 && !allowNoDeployment)
    throw new RegistrationError('at least one non-empty deployment id is required');
  const tenant = await deps.db('tenants').where({ id: r.tenantId }).first('id');
  if (!tenant) throw new RegistrationError(`tenant ${r.tenantId} does not exist`);

  const key = { issuer: r.issuer, client_id: r.clientId };
  const owner =
    (await deps.db('lti_platform_registrations').where(key).first('tenant_id')) ??
    (await deps.db('lti_deployments').where(key).first('tenant_id'));
  if (owner && owner.tenant_id !== r.tenantId)
    throw new RegistrationError(
      via === 'dynamic_registration'
        ? // The LMS's side learns nothing about other tenants.
          `The platform ${r.issuer} with client id ${r.clientId} is already registered.`
        : `this platform registration already belongs to tenant ${owner.tenant_id}`,
      409,
    );
  const known = await deps.lti.engine.platform(r.issuer, r.clientId);
  if (owner && !known)
    // Recorded, but its keys and endpoints not stored yet: another registration of it is under way.
    throw new RegistrationError(
      `The platform ${r.issuer} with client id ${r.clientId} is being registered right now; try again in a moment.`,
      409,
    );
  const now = isoNow(deps.clock);

  if (owner || known) {
    if (existing === 'refuse')
      throw new RegistrationError(
        `The platform ${r.issuer} with client id ${r.clientId} is already registered. ${REPLACE_HINT}`,
        409,
        [
          ['issuer', r.issuer],
          ['client id', r.clientId],
        ],
      );
    if (known) {
      const changes = endpointChanges(endpointsOf(known), {
        authenticationEndpoint: r.authenticationEndpoint,
        accessTokenEndpoint: r.accessTokenEndpoint,
        authorizationServer: r.authorizationServer ?? null,
        keysetUrl: r.keysetUrl,
      });
      if (changes.length > 0)
        throw new RegistrationError(
          `The platform ${r.issuer} with client id ${r.clientId} is already registered with another ${changes
            .map((c) => ENDPOINT_WORDS[c.field])
            .join(', ')}. ${REPLACE_HINT}`,
          409,
          changes.map((c) => [ENDPOINT_WORDS[c.field], `${c.from ?? '(none)'} → ${c.to}`]),
        );
    }
  }
  if (!owner) {
    try {
      await deps.db('lti_platform_registrations').insert({
        tenant_id: r.tenantId,
        ...key,
        registered_via: via,
        awaiting_deployment: deploymentIds.length === 0,
        created_at: now,
      });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      // Registered at this very moment by another request.
      throw new RegistrationError(
        `The platform ${r.issuer} with client id ${r.clientId} was registered meanwhile. ${REPLACE_HINT}`,
        409,
      );
    }
  }
  let platform = known;
  if (!platform) {
    try {
      platform = await deps.lti.engine.registerPlatform({
        issuer: r.issuer,
        clientId: r.clientId,
        name: r.name ?? new URL(r.issuer).host,
        authenticationEndpoint: r.authenticationEndpoint,
        accessTokenEndpoint: r.accessTokenEndpoint,
        authorizationServer: r.authorizationServer,
        keysetUrl: r.keysetUrl,
      });
    } catch (err) {
      if (!owner) await deps.db('lti_platform_registrations').where(key).delete();
      throw err;
    }
  }
  const platformId = platform.id;
  await inTransaction(deps.db, async (trx) => {
    const added: string[] = [];
    for (const deploymentId of deploymentIds) {
      const inserted = await trx('lti_deployments')
        .insert({
          tenant_id: r.tenantId,
          ...key,
          deployment_id: deploymentId,
          platform_kid: platformId,
          source: 'registered',
          created_at: now,
        })
        .onConflict(['issuer', 'client_id', 'deployment_id'])
        .ignore()
        .returning('id');
      if (inserted.length > 0) added.push(deploymentId);
    }
    if (added.length > 0)
      await trx('lti_platform_registrations').where(key).update({ awaiting_deployment: false });
    if (!owner || !known) {
      await recordPlatformEvent(trx, {
        tenantId: r.tenantId,
        ...{ issuer: r.issuer, clientId: r.clientId },
        kind: 'registered',
        actor: options.actor,
        detail: {
          via,
          authUrl: r.authenticationEndpoint,
          tokenUrl: r.accessTokenEndpoint,
          keysetUrl: r.keysetUrl,
          ...(r.authorizationServer ? { authorizationServer: r.authorizationServer } : {}),
          deployments: added,
        },
        at: now,
      });
    } else if (added.length > 0) {
      await recordPlatformEvent(trx, {
        tenantId: r.tenantId,
        issuer: r.issuer,
        clientId: r.clientId,
        kind: 'deployments_added',
        actor: options.actor,
        detail: { via, deployments: added },
        at: now,
      });
    }
  });
  const [deployments, registration] = await Promise.all([
    deps.db('lti_deployments').where(key).orderBy('id').select('deployment_id'),
    deps.db('lti_platform_registrations').where(key).first('awaiting_deployment'),
  ]);
  return {
    tenantId: r.tenantId,
    platformId,
    issuer: r.issuer,
    clientId: r.clientId,
    deployments: deployments.map((d) => d.deployment_id as string),
    awaitingDeployment: toBool(registration?.awaiting_deployment),
  };
}

export interface EndpointReplacement {
  tenantId: number;
  issuer: string;
  clientId: string;
  authenticationEndpoint?: string;
  accessTokenEndpoint?: string;
  authorizationServer?: string;
  keysetUrl?: string;
  /** Why, in the administrator's words: kept with the change. */
  reason: string;
  /** Who: kept with the change. */
  actor: string;
}

export interface ReplacedEndpoints {
  tenantId: number;
  issuer: string;
  clientId: string;
  eventId: number;
  changed: Record<string, { from: string | null; to: string }>;
}

/**
 * What an administrator does on purpose, and only from the command line:
 * replaces a registered platform's endpoints or keyset URL. The change is
 * recorded (before and after, who and why) and logged; the platform's
 * cached access tokens are dropped, as they came from the old token URL.
 */
export async function replacePlatformEndpoints(
  deps: AppDeps,
  r: EndpointReplacement,
): Promise<ReplacedEndpoints> {
  if (!r.reason.trim()) throw new RegistrationError('say why (--reason)');
  const wanted: Partial<Endpoints> = {};
  for (const [field, value] of [
    ['authenticationEndpoint', r.authenticationEndpoint],
    ['accessTokenEndpoint', r.accessTokenEndpoint],
    ['authorizationServer', r.authorizationServer],
    ['keysetUrl', r.keysetUrl],
  ] as const) {
    if (value === undefined) continue;
    // The authorization server is the token request's audience: a URL or a name (Canvas).
    if (field !== 'authorizationServer') checkUrl(ENDPOINT_WORDS[field], value);
    else if (!value.trim() || identifierProblem(value, 1024) !== null)
      throw new RegistrationError('the authorization server is not usable text');
    wanted[field] = value;
  }
  if (Object.keys(wanted).length === 0)
    throw new RegistrationError(
      'name at least one of --auth-url, --token-url, --keyset-url, --authorization-server',
    );
  const key = { issuer: r.issuer, client_id: r.clientId };
  const owner = await deps.db('lti_platform_registrations').where(key).first('tenant_id');
  const platform = await deps.lti.engine.platform(r.issuer, r.clientId);
  if (!owner || !platform)
    throw new RegistrationError(
      `no platform ${r.issuer} with client id ${r.clientId} is registered`,
    );
  if (owner.tenant_id !== r.tenantId)
    throw new RegistrationError(
      `this platform registration belongs to tenant ${owner.tenant_id}, not ${r.tenantId}`,
    );
  const changes = endpointChanges(endpointsOf(platform), wanted);
  if (changes.length === 0)
    throw new RegistrationError('the platform already has these endpoints: nothing to replace');
  const next = { ...endpointsOf(platform), ...wanted };
  await deps.lti.engine.registerPlatform({
    issuer: r.issuer,
    clientId: r.clientId,
    name: platform.name,
    authenticationEndpoint: next.authenticationEndpoint,
    accessTokenEndpoint: next.accessTokenEndpoint,
    authorizationServer: next.authorizationServer ?? undefined,
    // A keyset URL only when one is named or kept (a platform known by a fixed key keeps it).
    ...(wanted.keysetUrl || endpointsOf(platform).keysetUrl
      ? { keysetUrl: (wanted.keysetUrl ?? endpointsOf(platform).keysetUrl)! }
      : {}),
  });
  await deps.lti.engine.dropAccessTokens(r.issuer, r.clientId);
  const changed = Object.fromEntries(
    changes.map((c) => [ENDPOINT_WORDS[c.field], { from: c.from, to: c.to }]),
  );
  const eventId = await recordPlatformEvent(deps.db, {
    tenantId: r.tenantId,
    issuer: r.issuer,
    clientId: r.clientId,
    kind: 'endpoints_replaced',
    actor: r.actor,
    reason: r.reason,
    detail: { changed },
    at: isoNow(deps.clock),
  });
  deps.logger.warn(
    {
      tenantId: r.tenantId,
      issuer: r.issuer,
      clientId: r.clientId,
      changed,
      actor: r.actor,
      reason: r.reason,
      eventId,
    },
    'LTI platform endpoints replaced by an administrator',
  );
  return { tenantId: r.tenantId, issuer: r.issuer, clientId: r.clientId, eventId, changed };
}

/**
 * A platform registered without a deployment (Dynamic Registration where the
 * LMS named none) learns it from its first launch, once its signature checked
 * out: the deployment is recorded for the platform's tenant and the platform
 * no longer waits. Null when the platform is not waiting (any other unknown
 * deployment is refused as usual).
 */
export async function learnDeployment(
  db: Db,
  l: { issuer: string; clientId: string; deploymentId: string; platformKid: string; now: string },
): Promise<{ id: number; tenantId: number } | null> {
  return inTransaction(db, async (trx) => {
    const key = { issuer: l.issuer, client_id: l.clientId };
    const registration = await trx('lti_platform_registrations')
      .where(key)
      .first('tenant_id', 'awaiting_deployment');
    if (!registration || !toBool(registration.awaiting_deployment)) return null;
    const claimed = await trx('lti_platform_registrations')
      .where({ ...key, awaiting_deployment: true })
      .update({ awaiting_deployment: false });
    if (claimed !== 1) return null;
    const tenantId = registration.tenant_id as number;
    const [row] = await trx('lti_deployments')
      .insert({
        tenant_id: tenantId,
        ...key,
        deployment_id: l.deploymentId,
        platform_kid: l.platformKid,
        source: 'first_launch',
        created_at: l.now,
      })
      .returning('id');
    await recordPlatformEvent(trx, {
      tenantId,
      issuer: l.issuer,
      clientId: l.clientId,
      kind: 'deployment_learned',
      detail: { deploymentId: l.deploymentId, from: 'first launch' },
      at: l.now,
    });
    return { id: row.id as number, tenantId };
  });
}

export interface PlatformListing {
  issuer: string;
  clientId: string;
  platformId: string | null;
  name: string | null;
  registeredVia: string;
  registeredAt: string | null;
  /** Registered without a deployment: the first launch names it. */
  awaitingDeployment: boolean;
  authUrl: string | null;
  tokenUrl: string | null;
  keysetUrl: string | null;
  deployments: Array<{
    deploymentId: string;
    /** registered, or first_launch (learned from the platform's first launch) */
    source: string;
    addedAt: string | null;
  }>;
  /** When an administrator last replaced its endpoints, if ever. */
  endpointsReplacedAt: string | null;
}

/** A tenant's platforms, each with its deployments and how they came. */
export async function listPlatforms(deps: AppDeps, tenantId: number): Promise<PlatformListing[]> {
  const [registrations, deployments, replaced] = await Promise.all([
    deps
      .db('lti_platform_registrations')
      .where({ tenant_id: tenantId })
      .orderBy('id')
      .select('issuer', 'client_id', 'registered_via', 'awaiting_deployment', 'created_at'),
    deps
      .db('lti_deployments')
      .where({ tenant_id: tenantId })
      .orderBy('id')
      .select('issuer', 'client_id', 'deployment_id', 'source', 'created_at'),
    deps
      .db('lti_platform_events')
      .where({ tenant_id: tenantId, kind: 'endpoints_replaced' })
      .groupBy('issuer', 'client_id')
      .select('issuer', 'client_id')
      .max({ at: 'created_at' }),
  ]);
  const keyOf = (r: { issuer: string; client_id: string }) => `${r.issuer}\n${r.client_id}`;
  const out: PlatformListing[] = [];
  for (const reg of registrations) {
    const platform = await deps.lti.engine.platform(reg.issuer, reg.client_id);
    const endpoints = platform ? endpointsOf(platform) : null;
    out.push({
      issuer: reg.issuer,
      clientId: reg.client_id,
      platformId: platform?.id ?? null,
      name: platform?.name ?? null,
      registeredVia: reg.registered_via,
      registeredAt: toIso(reg.created_at),
      awaitingDeployment: toBool(reg.awaiting_deployment),
      authUrl: endpoints?.authenticationEndpoint ?? null,
      tokenUrl: endpoints?.accessTokenEndpoint ?? null,
      keysetUrl: endpoints?.keysetUrl ?? null,
      deployments: deployments
        .filter((d) => keyOf(d) === keyOf(reg))
        .map((d) => ({
          deploymentId: d.deployment_id,
          source: d.source,
          addedAt: toIso(d.created_at),
        })),
      endpointsReplacedAt: toIso(
        (replaced as Array<{ issuer: string; client_id: string; at: string | Date }>).find(
          (e) => keyOf(e) === keyOf(reg),
        )?.at ?? null,
      ),
    });
  }
  return out;
}

export interface PlatformEvent {
  id: number;
  issuer: string;
  clientId: string;
  kind: string;
  actor: string | null;
  reason: string | null;
  detail: Record<string, unknown>;
  at: string | null;
}

/** What happened to a tenant's platform registrations, oldest first. */
export async function platformEvents(
  deps: AppDeps,
  tenantId: number,
  filter: { issuer?: string; clientId?: string } = {},
): Promise<PlatformEvent[]> {
  const q = deps.db('lti_platform_events').where({ tenant_id: tenantId }).orderBy('id');
  if (filter.issuer) q.where({ issuer: filter.issuer });
  if (filter.clientId) q.where({ client_id: filter.clientId });
  const rows = await q.select(
    'id',
    'issuer',
    'client_id',
    'kind',
    'actor',
    'reason',
    'detail',
    'created_at',
  );
  return rows.map((r) => ({
    id: r.id,
    issuer: r.issuer,
    clientId: r.client_id,
    kind: r.kind,
    actor: r.actor,
    reason: r.reason,
    detail: JSON.parse(r.detail as string) as Record<string, unknown>,
    at: toIso(r.created_at),
  }));
}
