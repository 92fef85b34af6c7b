import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Knex } from 'knex';

/** migrations/ sits beside src/ both in the source tree and in dist/. */
export const migrationsDirectory = path.resolve(import.meta.dirname, '../../migrations');

const MIGRATIONS_TABLE = 'knex_migrations';
/** Run from source the migrations are `.ts`; built, they are `.js`. */
const SCRIPT = /\.(ts|js)$/;

/**
 * The migrations as knex sees them, named without their extension: a database
 * migrated by the built server (`*.js`) and then by the command line run from
 * source (`*.ts`), or the other way round, sees the same names.
 */
class MigrationFiles implements Knex.MigrationSource<string> {
  constructor(private readonly directory: string) {}

  async getMigrations(): Promise<string[]> {
    const extension = import.meta.filename.endsWith('.ts') ? '.ts' : '.js';
    const files = await fs.readdir(this.directory);
    return files.filter((f) => f.endsWith(extension) && !f.endsWith('.d.ts')).sort();
  }

  getMigrationName(file: string): string {
    return file.replace(SCRIPT, '');
  }

  async getMigration(file: string): Promise<Knex.Migration> {
    return (await import(pathToFileURL(path.join(this.directory, file)).href)) as Knex.Migration;
  }
}

export const migratorConfig: Knex.MigratorConfig = {
  migrationSource: new MigrationFiles(migrationsDirectory),
  tableName: MIGRATIONS_TABLE,
};

/**
 * Databases migrated before names lost their extension recorded
 * `name.ts` or `name.js`; record them under the plain name so knex finds them.
 */
async function normalizeRecordedNames(db: Knex): Promise<void> {
  if (!(await db.schema.hasTable(MIGRATIONS_TABLE))) return;
  const rows: Array<{ id: number; name: string }> = await db(MIGRATIONS_TABLE)
    .where('name', 'like', '%.ts')
    .orWhere('name', 'like', '%.js')
    .select('id', 'name');
  for (const row of rows) {
    await db(MIGRATIONS_TABLE)
      .where({ id: row.id })
      .update({ name: row.name.replace(SCRIPT, '') });
  }
}

export async function migrateLatest(db: Knex): Promise<string[]> {
  await normalizeRecordedNames(db);
  const [, applied] = (await db.migrate.latest(migratorConfig)) as [number, string[]];
  return applied;
}

export async function rollbackAll(db: Knex): Promise<string[]> {
  await normalizeRecordedNames(db);
  const [, undone] = (await db.migrate.rollback(migratorConfig, true)) as [number, string[]];
  return undone;
}
