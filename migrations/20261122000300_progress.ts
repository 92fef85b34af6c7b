import type { Knex } from 'knex';

/** Progress API: background gradebook exports, and the audit log of who asked for what and why. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('progress_exports', (t) => {
    t.increments('id');
    /** Unguessable: 256 random bits, base64url. */
    t.string('export_key', 64).notNullable().unique();
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.integer('api_client_id').references('api_clients.id').onDelete('SET NULL');
    t.string('format', 8).notNullable();
    t.text('query').notNullable();
    /** queued, running, ready, failed */
    t.string('state', 16).notNullable();
    t.string('file', 255);
    t.integer('rows');
    t.bigInteger('bytes');
    t.text('error');
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable();
    t.timestamp('finished_at', { useTz: true, precision: 3 });
    t.timestamp('expires_at', { useTz: true, precision: 3 }).notNullable();
    t.index(['expires_at']);
  });
  await knex.schema.createTable('audit_log', (t) => {
    t.bigIncrements('id');
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.integer('api_client_id').references('api_clients.id').onDelete('SET NULL');
    t.string('surface', 32).notNullable();
    t.string('operation', 64).notNullable();
    t.string('request_id', 128).notNullable();
    /** The caller's Origin: when, organization, user, proxy, description, reason, source. */
    t.text('origin');
    t.text('criteria');
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable();
    t.index(['tenant_id', 'created_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('audit_log');
  await knex.schema.dropTableIfExists('progress_exports');
}
