import type { Db, Trx } from './knex.js';

/**
 * Runs work in one transaction. Routes and jobs open it; services receive the
 * transaction as an argument and never open their own.
 */
export function inTransaction<T>(db: Db, work: (trx: Trx) => Promise<T>): Promise<T> {
  return db.transaction(work);
}
