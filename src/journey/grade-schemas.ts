import type { Trx } from '../db/knex.js';
import { lockTenant } from '../db/locks.js';
import { parseOptionalData } from '../grades/optional-data.js';
import { parseSymbols } from '../grades/symbols.js';
import { GradeSchema } from '../models/grade-schema.js';
import type { JourneyActor } from './actor.js';
import { findGradeSchemas } from './find-grade-schemas.js';
import { fail, ok, prepare } from './item-results.js';
import { gradeSchemaItem, type ItemResult } from './schemas.js';

/** gradeSchemasAPI: creates or updates grade schemas by title within the tenant. */
export async function upsertGradeSchemas(
  trx: Trx,
  actor: JourneyActor,
  items: unknown[],
  now: string,
): Promise<ItemResult[]> {
  const { results, valid } = prepare(gradeSchemaItem, items, (i) => ({
    courseId: '',
    name: i.title,
  }));
  await lockTenant(trx, actor.tenantId);
  const existing = await findGradeSchemas(
    trx,
    actor.tenantId,
    valid.map((v) => v.value.title),
  );
  for (const { index, value } of valid) {
    const symbols = parseSymbols(value.symbols);
    if (!symbols.ok) {
      fail(results, index, symbols.error);
      continue;
    }
    const data = parseOptionalData(value.optionalData);
    if (!data.ok) {
      fail(results, index, data.error);
      continue;
    }
    const found = existing.get(value.title);
    if (found) {
      await GradeSchema.query(trx)
        .findById(found.id)
        .patch({
          symbols: symbols.value,
          ...(value.optionalData == null ? {} : { optionalData: data.value }),
          updatedAt: now,
        });
      ok(results, index, 'Grade schema successfully updated');
    } else {
      const created = await GradeSchema.query(trx).insertAndFetch({
        tenantId: actor.tenantId,
        title: value.title,
        symbols: symbols.value,
        optionalData: data.value,
        createdAt: now,
        updatedAt: now,
      });
      existing.set(created.title, created);
      ok(results, index, 'Grade schema successfully created');
    }
  }
  return results;
}
