import type { Executor, Trx } from '../db/knex.js';
import { chunk } from '../grades/grade-batch.js';

/**
 * The mapping table that joins an outside system's identifiers to ours:
 * (tenant, kind, system, external id) -> local id. For LTI the system is the
 * platform's issuer; kinds are `user` (sub) and `lineitem` (line item URL).
 */
export type ExternalKind = 'user' | 'lineitem' | 'assignment';

export async function findLocalIds(
  db: Executor,
  tenantId: number,
  kind: ExternalKind,
  system: string,
  externalIds: string[],
): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  for (const part of chunk([...new Set(externalIds)], 500)) {
    const rows = await db('external_ids')
      .where({ tenant_id: tenantId, kind, system })
      .whereIn('external_id', part)
      .select('external_id', 'local_id');
    for (const r of rows) found.set(r.external_id, r.local_id);
  }
  return found;
}

export async function findExternalIds(
  db: Executor,
  tenantId: number,
  kind: ExternalKind,
  system: string,
  localIds: number[],
): Promise<Map<number, string>> {
  const found = new Map<number, string>();
  for (const part of chunk([...new Set(localIds)], 500)) {
    const rows = await db('external_ids')
      .where({ tenant_id: tenantId, kind, system })
      .whereIn('local_id', part)
      .select('external_id', 'local_id');
    for (const r of rows) found.set(r.local_id, r.external_id);
  }
  return found;
}

export async function linkExternalId(
  trx: Trx,
  tenantId: number,
  kind: ExternalKind,
  system: string,
  externalId: string,
  localId: number,
  now: string,
): Promise<void> {
  await trx('external_ids')
    .insert({
      tenant_id: tenantId,
      kind,
      system,
      external_id: externalId,
      local_id: localId,
      created_at: now,
    })
    .onConflict(['tenant_id', 'kind', 'system', 'external_id'])
    .merge(['local_id']);
}
