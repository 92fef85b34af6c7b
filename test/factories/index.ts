import { isoNow } from '../../src/db/time.js';
import { inTransaction } from '../../src/db/transaction.js';
import { createApiClient, createTenant } from '../../src/tenants/service.js';
import type { TestContext } from '../helpers/context.js';

let counter = 0;
const unique = (prefix: string) => `${prefix}-${process.pid}-${++counter}`;

export interface TenantFixture {
  tenantId: number;
  uuid: string;
  clientId: string;
  clientSecret: string;
  apiClientId: number;
  graderId: number;
  token: string;
  clientName: string;
}

/** A tenant with one API client and a token for it. */
export async function tenantWithClient(
  ctx: TestContext,
  overrides: {
    scopes?: string[];
    timeZone?: string;
    name?: string;
    clientName?: string;
    graderName?: string;
  } = {},
): Promise<TenantFixture> {
  return inTransaction(ctx.db, async (trx) => {
    const now = isoNow(ctx.clock);
    const tenant = await createTenant(
      trx,
      { name: overrides.name ?? unique('Tenant'), timeZone: overrides.timeZone },
      now,
    );
    const { client, secret } = await createApiClient(
      trx,
      {
        tenantId: tenant.id,
        scopes: overrides.scopes ?? ['journey', 'history', 'progress', 'exchange'],
        name: overrides.clientName ?? unique('Client'),
        graderName: overrides.graderName,
      },
      now,
    );
    const { token } = ctx.deps.tokens.issue({
      clientId: client.clientId,
      tenantId: tenant.id,
      apiClientId: client.id,
      scopes: client.scopes.split(' '),
    });
    return {
      tenantId: tenant.id,
      uuid: tenant.uuid,
      clientId: client.clientId,
      clientSecret: secret,
      apiClientId: client.id,
      graderId: client.graderUserId!,
      token,
      clientName: client.name,
    };
  });
}

export function uniqueId(prefix: string): string {
  return unique(prefix);
}

/** Another API client in an existing tenant, with its token and grader id. */
export async function addClient(
  ctx: TestContext,
  tenantId: number,
  overrides: { scopes?: string[]; name?: string; graderName?: string } = {},
): Promise<{ clientId: string; apiClientId: number; graderId: number; token: string }> {
  return inTransaction(ctx.db, async (trx) => {
    const { client } = await createApiClient(
      trx,
      {
        tenantId,
        scopes: overrides.scopes ?? ['journey', 'history', 'progress', 'exchange'],
        name: overrides.name ?? unique('Client'),
        graderName: overrides.graderName,
      },
      isoNow(ctx.clock),
    );
    const { token } = ctx.deps.tokens.issue({
      clientId: client.clientId,
      tenantId,
      apiClientId: client.id,
      scopes: client.scopes.split(' '),
    });
    return {
      clientId: client.clientId,
      apiClientId: client.id,
      graderId: client.graderUserId!,
      token,
    };
  });
}
