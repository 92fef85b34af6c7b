import type { Knex } from 'knex';

/**
 * LTI 1.3: the tables behind ltijs's storage plugin (one per collection, with
 * the fields ltijs looks up as indexed columns), and gradebridge's own:
 * login records that bind each nonce to its state, platform deployments
 * owned by tenants, LMS contexts linked to courses, and the mapping of LMS
 * identifiers (users, line items) to ours.
 */
export async function up(knex: Knex): Promise<void> {
  const at = (t: Knex.CreateTableBuilder, name = 'created_at') =>
    t.timestamp(name, { useTz: true, precision: 3 }).notNullable();

  await knex.schema.createTable('lti_idtokens', (t) => {
    t.increments('id');
    t.string('iss', 1024).notNullable();
    t.string('client_id', 255).notNullable();
    t.string('deployment_id', 255).notNullable();
    t.string('user_sub', 255).notNullable();
    t.text('doc').notNullable();
    at(t);
    t.unique(['iss', 'client_id', 'deployment_id', 'user_sub']);
  });
  await knex.schema.createTable('lti_contexttokens', (t) => {
    t.increments('id');
    t.string('context_id', 2048).notNullable();
    t.string('user_sub', 255).notNullable();
    t.text('doc').notNullable();
    at(t);
    t.unique(['context_id', 'user_sub']);
  });
  await knex.schema.createTable('lti_platforms', (t) => {
    t.increments('id');
    t.string('kid', 64).notNullable().unique();
    t.string('platform_url', 1024).notNullable();
    t.string('client_id', 255).notNullable();
    t.text('doc').notNullable();
    at(t);
    t.unique(['platform_url', 'client_id']);
  });
  await knex.schema.createTable('lti_platform_status', (t) => {
    t.string('id', 64).primary();
    t.text('doc').notNullable();
  });
  await knex.schema.createTable('lti_keys', (t) => {
    t.increments('id');
    t.string('kind', 8).notNullable();
    t.string('kid', 64).notNullable();
    t.string('platform_url', 1024);
    t.string('client_id', 255);
    t.text('iv').notNullable();
    t.text('data').notNullable();
    at(t);
    t.unique(['kind', 'kid']);
    t.index(['kind', 'platform_url', 'client_id']);
  });
  await knex.schema.createTable('lti_access_tokens', (t) => {
    t.increments('id');
    t.string('platform_url', 1024).notNullable();
    t.string('client_id', 255).notNullable();
    t.string('scopes', 1024).notNullable();
    t.text('iv').notNullable();
    t.text('data').notNullable();
    at(t);
    t.unique(['platform_url', 'client_id', 'scopes']);
  });
  await knex.schema.createTable('lti_nonces', (t) => {
    t.string('nonce', 255).primary();
    at(t);
  });
  await knex.schema.createTable('lti_states', (t) => {
    t.string('state', 255).primary();
    t.text('doc').notNullable();
    at(t);
  });

  // gradebridge's own LTI records.
  await knex.schema.createTable('lti_logins', (t) => {
    t.string('state', 128).primary();
    t.string('nonce', 128).notNullable();
    t.string('issuer', 1024).notNullable();
    t.string('client_id', 255).notNullable();
    t.string('target_link_uri', 2048).notNullable();
    at(t);
    t.timestamp('expires_at', { useTz: true, precision: 3 }).notNullable();
    t.timestamp('used_at', { useTz: true, precision: 3 });
    t.index(['expires_at']);
  });
  await knex.schema.createTable('lti_deployments', (t) => {
    t.increments('id');
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.string('issuer', 1024).notNullable();
    t.string('client_id', 255).notNullable();
    t.string('deployment_id', 255).notNullable();
    t.string('platform_kid', 64).notNullable();
    at(t);
    t.unique(['issuer', 'client_id', 'deployment_id']);
    t.index(['tenant_id']);
  });
  await knex.schema.createTable('lti_contexts', (t) => {
    t.increments('id');
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.integer('course_id').notNullable().references('courses.id').onDelete('CASCADE');
    t.integer('deployment_row_id')
      .notNullable()
      .references('lti_deployments.id')
      .onDelete('CASCADE');
    t.string('context_id', 1024).notNullable();
    t.string('title', 1024);
    t.string('lineitems_url', 2048);
    t.text('ags_scopes');
    t.string('memberships_url', 2048);
    t.timestamp('last_pull_at', { useTz: true, precision: 3 });
    t.string('last_pull_status', 16);
    t.text('last_pull_summary');
    t.timestamps(true, true);
    t.unique(['deployment_row_id', 'context_id']);
    t.index(['course_id']);
  });
  await knex.schema.createTable('external_ids', (t) => {
    t.increments('id');
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    /** user, lineitem */
    t.string('kind', 16).notNullable();
    /** The system the id belongs to: the platform issuer for LTI users and line items. */
    t.string('system', 1024).notNullable();
    t.string('external_id', 2048).notNullable();
    t.integer('local_id').notNullable();
    at(t);
    t.unique(['tenant_id', 'kind', 'system', 'external_id']);
    t.index(['tenant_id', 'kind', 'local_id']);
  });

  // One queued job per key (e.g. one pending score send per grade); cleared when the job starts.
  await knex.schema.alterTable('jobs', (t) => {
    t.string('queue_key', 255).unique();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('jobs', (t) => {
    t.dropUnique(['queue_key']);
  });
  await knex.schema.alterTable('jobs', (t) => {
    t.dropColumn('queue_key');
  });
  for (const table of [
    'external_ids',
    'lti_contexts',
    'lti_deployments',
    'lti_logins',
    'lti_states',
    'lti_nonces',
    'lti_access_tokens',
    'lti_keys',
    'lti_platform_status',
    'lti_platforms',
    'lti_contexttokens',
    'lti_idtokens',
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
}
