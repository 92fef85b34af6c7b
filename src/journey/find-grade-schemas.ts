import type { Trx } from '../db/knex.js';
import { chunk } from '../grades/grade-batch.js';
import { GradeSchema } from '../models/grade-schema.js';

/** A tenant's grade schemas by title. */
export async function findGradeSchemas(
  trx: Trx,
  tenantId: number,
  titles: string[],
): Promise<Map<string, GradeSchema>> {
  const found = new Map<string, GradeSchema>();
  for (const part of chunk([...new Set(titles)], 500)) {
    const rows = await GradeSchema.query(trx).where({ tenant_id: tenantId }).whereIn('title', part);
    for (const s of rows) found.set(s.title, s);
  }
  return found;
}
