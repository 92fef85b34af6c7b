import type { Executor } from '../db/knex.js';
import { chunk } from '../grades/grade-batch.js';

/**
 * The mapping table that joins an outside system's identifiers to ours:
 * (tenant, kind, system, external id) -> local id. For LTI the system is the
 * platform's issuer; kinds are `user` (sub) and `lineitem` (line item URL).
 */
export type ExternalKind = 'user' | 'lineitem' | 'assignment';

/** Mapping rows of one kind and system whose `by` column is among `ids`, 500 ids a query. */
async function mappings(
  db: Executor,
  tenantId: number,
  kind: ExternalKind,
  system: string,
  by: 'external_id' | 'local_id',
  ids: Array<string | number>,
): Promise<Array<{ external_id: string; local_id: number }>> {
  const rows: Array<{ external_id: string; local_id: number }> = [];
  for (const part of chunk([...new Set(ids)], 500)) {
    rows.push(
      ...(await db('external_ids')
        .where({ tenant_id: tenantId, kind, system })
        .whereIn(by, part)
        .select('external_id', 'local_id')),
    );
  }
  return rows;
}

/** Our ids for the outside system's ids (the ones it has). */
export async function findLocalIds(
  db: Executor,
  tenantId: number,
  kind: ExternalKind,
  system: string,
  externalIds: string[],
): Promise<Map<string, number>> {
  const rows = await mappings(db, tenantId, kind, system, 'external_id', externalIds);
  return new Map(rows.map((r) => [r.external_id, r.local_id]));
}

/** The outside system's ids for ours (the ones it has). */
export async function findExternalIds(
  db: Executor,
  tenantId: number,
  kind: ExternalKind,
  system: string,
  localIds: number[],
): Promise<Map<number, string>> {
  const rows = await mappings(db, tenantId, kind, system, 'local_id', localIds);
  return new Map(rows.map((r) => [r.local_id, r.external_id]));
}

/** Maps the outside system's id to ours (one upsert: a transaction is not needed). */
export async function linkExternalId(
  db: Executor,
  tenantId: number,
  kind: ExternalKind,
  system: string,
  externalId: string,
  localId: number,
  now: string,
): Promise<void> {
  await db('external_ids')
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
