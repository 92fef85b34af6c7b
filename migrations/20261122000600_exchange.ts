import type { Knex } from 'knex';

/**
 * Grades out through Data Sync's Grades Exchange, and webhooks in:
 * a tenant's Data Sync connection (secrets encrypted), the exchanges
 * gradebridge answers with their planned chunks (so a restarted job resends
 * at most the chunk in flight), each grade's sync state and a log of every
 * send, the columns marked final, webhook senders, and received events
 * (unique by sender and event id, so a replay is recorded once).
 */
export async function up(knex: Knex): Promise<void> {
  const at = (t: Knex.CreateTableBuilder, name = 'created_at') =>
    t.timestamp(name, { useTz: true, precision: 3 }).notNullable();
  const atNull = (t: Knex.CreateTableBuilder, name: string) =>
    t.timestamp(name, { useTz: true, precision: 3 });

  await knex.schema.alterTable('grade_columns', (t) => {
    t.boolean('is_final').notNullable().defaultTo(false);
  });

  await knex.schema.createTable('datasync_connections', (t) => {
    t.increments('id');
    t.integer('tenant_id').notNullable().unique().references('tenants.id').onDelete('CASCADE');
    t.string('base_url', 1024).notNullable();
    t.string('token_url', 1024).notNullable();
    t.string('client_id', 255).notNullable();
    t.text('client_secret').notNullable();
    t.string('course_app_id', 255);
    t.float('rate_per_second').notNullable();
    t.integer('concurrency').notNullable();
    t.text('notice_secret').notNullable();
    atNull(t, 'last_polled_at');
    at(t);
    at(t, 'updated_at');
  });

  await knex.schema.createTable('exchanges', (t) => {
    t.increments('id');
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.integer('connection_id')
      .notNullable()
      .references('datasync_connections.id')
      .onDelete('CASCADE');
    t.string('remote_id', 64).notNullable();
    t.string('state', 16).notNullable();
    t.string('trigger', 16).notNullable();
    t.text('query').notNullable();
    t.integer('max_data_content_length').notNullable();
    t.string('course_app_id', 255);
    t.integer('requested_by').references('users.id').onDelete('SET NULL');
    t.integer('chunks_total');
    t.integer('chunks_sent').notNullable().defaultTo(0);
    t.integer('chunks_resent').notNullable().defaultTo(0);
    t.integer('items_sent').notNullable().defaultTo(0);
    t.string('error_code', 64);
    t.text('error_message');
    t.string('locked_by', 64);
    atNull(t, 'locked_until');
    atNull(t, 'completed_at');
    at(t);
    at(t, 'updated_at');
    t.unique(['connection_id', 'remote_id']);
    t.index(['tenant_id', 'state']);
  });

  await knex.schema.createTable('exchange_courses', (t) => {
    t.integer('exchange_id').notNullable().references('exchanges.id').onDelete('CASCADE');
    t.integer('course_id').notNullable().references('courses.id').onDelete('CASCADE');
    t.primary(['exchange_id', 'course_id']);
    t.index(['course_id']);
  });

  await knex.schema.createTable('exchange_chunks', (t) => {
    t.increments('id');
    t.integer('exchange_id').notNullable().references('exchanges.id').onDelete('CASCADE');
    t.integer('seq').notNullable();
    t.text('body').notNullable();
    t.integer('bytes').notNullable();
    t.boolean('final').notNullable();
    /** Scores and summaries in the body (assignments not counted). */
    t.integer('items').notNullable();
    t.string('state', 16).notNullable();
    t.integer('attempts').notNullable().defaultTo(0);
    atNull(t, 'sent_at');
    t.unique(['exchange_id', 'seq']);
  });

  await knex.schema.createTable('exchange_artifacts', (t) => {
    t.integer('exchange_id').notNullable().references('exchanges.id').onDelete('CASCADE');
    t.string('kind', 16).notNullable();
    t.binary('gzipped').notNullable();
    at(t);
    t.primary(['exchange_id', 'kind']);
  });

  // One row per thing sent (an assignment, a score, a summary) and connection:
  // what was last sent successfully, and where the latest send stands.
  await knex.schema.createTable('exchange_items', (t) => {
    t.increments('id');
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.integer('connection_id')
      .notNullable()
      .references('datasync_connections.id')
      .onDelete('CASCADE');
    t.integer('course_id').notNullable().references('courses.id').onDelete('CASCADE');
    t.string('item_key', 64).notNullable();
    t.string('kind', 16).notNullable();
    t.integer('column_id').notNullable().references('grade_columns.id').onDelete('CASCADE');
    t.integer('user_id').references('users.id').onDelete('CASCADE');
    t.string('status', 16).notNullable();
    t.string('pending_hash', 64);
    t.integer('exchange_id').references('exchanges.id').onDelete('SET NULL');
    t.string('sent_hash', 64);
    atNull(t, 'sent_at');
    t.string('error_code', 64);
    t.text('error_message');
    at(t, 'updated_at');
    t.unique(['connection_id', 'item_key']);
    t.index(['course_id', 'column_id', 'user_id']);
  });

  // Every send of a score or summary, with the version it carried: the history of a grade's sync.
  await knex.schema.createTable('exchange_sends', (t) => {
    t.increments('id');
    t.integer('exchange_id').notNullable().references('exchanges.id').onDelete('CASCADE');
    t.integer('column_id').notNullable().references('grade_columns.id').onDelete('CASCADE');
    t.integer('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.string('kind', 16).notNullable();
    t.bigInteger('version_id');
    t.float('score');
    t.string('grade', 255);
    t.string('status', 16).notNullable();
    t.string('error_code', 64);
    t.text('error_message');
    at(t);
    at(t, 'updated_at');
    t.index(['column_id', 'user_id']);
    t.index(['exchange_id']);
  });

  await knex.schema.createTable('webhook_senders', (t) => {
    t.increments('id');
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.string('kind', 16).notNullable();
    t.string('name', 255).notNullable();
    t.text('secret');
    t.string('jwks_url', 1024);
    t.string('issuer', 1024);
    /** Canvas: the root account whose events this sender may deliver. */
    t.string('account', 255);
    at(t);
    t.unique(['tenant_id', 'kind', 'name']);
  });

  await knex.schema.createTable('webhook_events', (t) => {
    t.increments('id');
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.string('sender', 64).notNullable();
    t.string('event_id', 255).notNullable();
    t.string('event_type', 128).notNullable();
    t.text('payload').notNullable();
    t.string('status', 16).notNullable();
    t.text('detail');
    at(t, 'received_at');
    atNull(t, 'processed_at');
    t.unique(['tenant_id', 'sender', 'event_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    'webhook_events',
    'webhook_senders',
    'exchange_sends',
    'exchange_items',
    'exchange_artifacts',
    'exchange_chunks',
    'exchange_courses',
    'exchanges',
    'datasync_connections',
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
  await knex.schema.alterTable('grade_columns', (t) => {
    t.dropColumn('is_final');
  });
}
