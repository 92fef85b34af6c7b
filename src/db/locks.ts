import { dbClient, type Trx } from './knex.js';

const COURSE_LOCK = 71001;
const TENANT_LOCK = 71002;

/**
 * Serialises writers of the same courses on PostgreSQL with transaction-scoped
 * advisory locks, taken in id order so two writers never deadlock. SQLite
 * already allows one writer at a time, so there it is a no-op.
 */
export async function lockCourses(trx: Trx, courseIds: Iterable<number>): Promise<void> {
  if (dbClient(trx) !== 'postgres') return;
  const ids = [...new Set(courseIds)].sort((a, b) => a - b);
  if (ids.length === 0) return;
  await trx.raw(
    'select count(pg_advisory_xact_lock(?, s.id)) from (select unnest(?::int[]) as id order by 1) s',
    [COURSE_LOCK, ids],
  );
}

/** Serialises structural changes (courses, columns, schemas) within a tenant on PostgreSQL. */
export async function lockTenant(trx: Trx, tenantId: number): Promise<void> {
  if (dbClient(trx) !== 'postgres') return;
  await trx.raw('select pg_advisory_xact_lock(?, ?)', [TENANT_LOCK, tenantId]);
}
