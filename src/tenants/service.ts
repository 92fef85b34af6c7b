import { randomBytes, randomUUID } from 'node:crypto';
import { isTimeZone } from '../../config/index.js';
import type { Executor, Trx } from '../db/knex.js';
import { ApiClient } from '../models/api-client.js';
import { Tenant } from '../models/tenant.js';
import { User } from '../models/user.js';
import { hashSecret } from '../auth/client-secrets.js';
import { SCOPES } from '../auth/tokens.js';
import { rebuildVersionDays } from '../history/days.js';
import { forgetTenantCourses } from '../history/service.js';

export class TenantInputError extends Error {}

function checkTimeZone(timeZone: string): void {
  if (!isTimeZone(timeZone))
    throw new TenantInputError(`time zone "${timeZone}" is not an IANA time zone`);
}

/** A display name, trimmed; `what` names it in the error. */
function checkName(text: string, what: string): string {
  const name = text.trim();
  if (name === '' || name.length > 255)
    throw new TenantInputError(`${what} must be 1 to 255 characters`);
  return name;
}

export async function createTenant(
  trx: Trx,
  input: { name: string; timeZone?: string | undefined },
  now: string,
): Promise<Tenant> {
  const name = checkName(input.name, 'name');
  const timeZone = input.timeZone ?? 'UTC';
  checkTimeZone(timeZone);
  return Tenant.query(trx).insertAndFetch({
    uuid: randomUUID(),
    name,
    timeZone,
    createdAt: now,
    updatedAt: now,
  });
}

export async function findTenant(db: Executor, id: number): Promise<Tenant | undefined> {
  return Tenant.query(db).findById(id);
}

export async function setTenantTimeZone(
  trx: Trx,
  id: number,
  timeZone: string,
  now: string,
): Promise<void> {
  checkTimeZone(timeZone);
  const count = await Tenant.query(trx).findById(id).patch({ timeZone, updatedAt: now });
  if (count === 0) throw new TenantInputError(`tenant ${id} does not exist`);
  // History days are bucketed in the tenant's zone: recount them in the new one.
  await rebuildVersionDays(trx, id);
  forgetTenantCourses(id);
}

export function parseScopes(text: string): string[] {
  const scopes = [...new Set(text.split(/[,\s]+/).filter(Boolean))];
  if (scopes.length === 0) throw new TenantInputError('at least one scope is required');
  const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (unknown.length > 0) {
    throw new TenantInputError(
      `unknown scope(s) ${unknown.join(', ')}; known scopes: ${SCOPES.join(', ')}`,
    );
  }
  return scopes;
}

export interface CreatedClient {
  client: ApiClient;
  secret: string;
}

/**
 * Creates an API client with a new secret (returned once, stored hashed) and
 * a grader identity: a service user whose id and name stand for the client
 * in grade history.
 */
export async function createApiClient(
  trx: Trx,
  input: {
    tenantId: number;
    scopes: string[];
    name?: string | undefined;
    graderName?: string | undefined;
  },
  now: string,
): Promise<CreatedClient> {
  const tenant = await Tenant.query(trx).findById(input.tenantId);
  if (!tenant) throw new TenantInputError(`tenant ${input.tenantId} does not exist`);
  const clientId = randomBytes(12).toString('hex');
  const name = checkName(input.name ?? `API client ${clientId.slice(0, 8)}`, 'name');
  const graderName = checkName(input.graderName ?? name, 'grader name');
  const grader = await User.query(trx).insertAndFetch({
    tenantId: tenant.id,
    uuid: randomUUID(),
    batchUid: null,
    name: graderName,
    email: null,
    kind: 'service',
    createdAt: now,
    updatedAt: now,
  });
  const secret = randomBytes(32).toString('base64url');
  const client = await ApiClient.query(trx).insertAndFetch({
    tenantId: tenant.id,
    clientId,
    secretHash: hashSecret(secret),
    name,
    scopes: input.scopes.join(' '),
    graderUserId: grader.id,
    createdAt: now,
    updatedAt: now,
  });
  return { client, secret };
}

export async function revokeApiClient(trx: Trx, clientId: string, now: string): Promise<boolean> {
  const count = await ApiClient.query(trx)
    .where({ client_id: clientId })
    .whereNull('revoked_at')
    .patch({ revokedAt: now, updatedAt: now });
  return count > 0;
}

export async function listTenants(db: Executor): Promise<Tenant[]> {
  return Tenant.query(db).orderBy('id');
}

export async function listApiClients(db: Executor, tenantId: number): Promise<ApiClient[]> {
  return ApiClient.query(db).where({ tenant_id: tenantId }).orderBy('id');
}
