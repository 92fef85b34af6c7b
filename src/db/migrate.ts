import path from 'node:path';
import type { Knex } from 'knex';

/** migrations/ sits beside src/ both in the source tree and in dist/. */
export const migrationsDirectory = path.resolve(import.meta.dirname, '../../migrations');

export const migratorConfig: Knex.MigratorConfig = {
  directory: migrationsDirectory,
  loadExtensions: import.meta.filename.endsWith('.ts') ? ['.ts'] : ['.js'],
  tableName: 'knex_migrations',
};

export async function migrateLatest(db: Knex): Promise<string[]> {
  const [, applied] = (await db.migrate.latest(migratorConfig)) as [number, string[]];
  return applied;
}

export async function rollbackAll(db: Knex): Promise<string[]> {
  const [, undone] = (await db.migrate.rollback(migratorConfig, true)) as [number, string[]];
  return undone;
}
