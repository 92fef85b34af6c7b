import type { Knex } from 'knex';

/**
 * Indexes for searching gradebooks by title. Both databases get a
 * (tenant_id, title) index, so a title filter reads the index instead of the
 * table; PostgreSQL also gets trigram indexes (pg_trgm) for case-insensitive
 * "contains" on gradebook and class titles, when the extension can be
 * installed by this database user.
 */
async function trigramAvailable(knex: Knex): Promise<boolean> {
  const { rows } = await knex.raw(
    `select exists (select 1 from pg_available_extensions where name = 'pg_trgm') as available,
            exists (select 1 from pg_extension where extname = 'pg_trgm') as installed,
            has_database_privilege(current_database(), 'CREATE') as can_create`,
  );
  const r = rows[0] as { available: boolean; installed: boolean; can_create: boolean };
  return r.installed || (r.available && r.can_create);
}

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('gradebooks', (t) =>
    t.index(['tenant_id', 'title'], 'gradebooks_tenant_title'),
  );
  if (knex.client.config.client === 'pg' && (await trigramAvailable(knex))) {
    await knex.raw('create extension if not exists pg_trgm');
    await knex.raw(
      'create index gradebooks_title_trgm on gradebooks using gin (title gin_trgm_ops)',
    );
    await knex.raw('create index courses_title_trgm on courses using gin (title gin_trgm_ops)');
  }
}

export async function down(knex: Knex): Promise<void> {
  if (knex.client.config.client === 'pg') {
    await knex.raw('drop index if exists courses_title_trgm');
    await knex.raw('drop index if exists gradebooks_title_trgm');
  }
  await knex.schema.alterTable('gradebooks', (t) =>
    t.dropIndex(['tenant_id', 'title'], 'gradebooks_tenant_title'),
  );
}
