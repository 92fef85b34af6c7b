import type { Knex } from 'knex';

/**
 * The grade model every surface stands on: tenants and their API clients,
 * courses with one gradebook each, people and enrollments, grade schemas,
 * columns, submissions (the current grade) and append-only grade versions.
 */
function times(t: Knex.CreateTableBuilder): void {
  t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable();
  t.timestamp('updated_at', { useTz: true, precision: 3 }).notNullable();
}

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('signing_keys', (t) => {
    t.increments('id');
    t.string('purpose', 64).notNullable().unique();
    t.string('secret', 255).notNullable();
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable();
  });

  await knex.schema.createTable('tenants', (t) => {
    t.increments('id');
    t.string('uuid', 36).notNullable().unique();
    t.string('name', 255).notNullable();
    t.string('time_zone', 64).notNullable().defaultTo('UTC');
    times(t);
  });

  await knex.schema.createTable('users', (t) => {
    t.increments('id');
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.string('uuid', 36).notNullable().unique();
    t.string('batch_uid', 333);
    t.string('name', 255);
    t.string('email', 320);
    t.string('kind', 16).notNullable().defaultTo('person');
    times(t);
    t.unique(['tenant_id', 'batch_uid']);
  });

  await knex.schema.createTable('api_clients', (t) => {
    t.increments('id');
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.string('client_id', 64).notNullable().unique();
    t.string('secret_hash', 128).notNullable();
    t.string('name', 255).notNullable();
    t.string('scopes', 255).notNullable();
    t.integer('grader_user_id').references('users.id').onDelete('SET NULL');
    t.timestamp('last_token_at', { useTz: true, precision: 3 });
    t.timestamp('revoked_at', { useTz: true, precision: 3 });
    times(t);
    t.index(['tenant_id']);
  });

  await knex.schema.createTable('courses', (t) => {
    t.increments('id');
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.string('uuid', 36).notNullable().unique();
    t.string('batch_uid', 333);
    t.string('title', 333).notNullable();
    t.timestamp('starts_at', { useTz: true, precision: 3 });
    t.timestamp('ends_at', { useTz: true, precision: 3 });
    t.string('source', 16).notNullable();
    times(t);
    t.unique(['tenant_id', 'batch_uid']);
  });

  await knex.schema.createTable('gradebooks', (t) => {
    t.increments('id');
    t.string('uuid', 36).notNullable().unique();
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.integer('course_id').notNullable().unique().references('courses.id').onDelete('CASCADE');
    t.string('title', 333);
    t.string('type', 64);
    t.string('reference', 333);
    t.boolean('is_locked').notNullable().defaultTo(false);
    t.string('achievement_id', 36);
    t.string('achievement_title', 333);
    t.string('framework_id', 36);
    t.string('period_id', 36);
    t.string('last_change_type', 64);
    t.string('last_change_user', 255);
    t.timestamp('last_change_time', { useTz: true, precision: 3 }).notNullable();
    times(t);
    t.index(['tenant_id']);
  });

  await knex.schema.createTable('enrollments', (t) => {
    t.increments('id');
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.integer('course_id').notNullable().references('courses.id').onDelete('CASCADE');
    t.integer('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.string('role', 64).notNullable().defaultTo('Learner');
    t.text('optional_data');
    t.string('source', 16).notNullable();
    times(t);
    t.unique(['course_id', 'user_id']);
    t.index(['user_id']);
  });

  await knex.schema.createTable('grade_schemas', (t) => {
    t.increments('id');
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.string('title', 333).notNullable();
    t.text('symbols').notNullable();
    t.text('optional_data');
    times(t);
    t.unique(['tenant_id', 'title']);
  });

  await knex.schema.createTable('grade_columns', (t) => {
    t.increments('id');
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.integer('course_id').notNullable().references('courses.id').onDelete('CASCADE');
    t.string('name', 333).notNullable();
    t.string('item_type', 32).notNullable();
    t.double('points').notNullable().defaultTo(100);
    t.integer('grade_schema_id').references('grade_schemas.id').onDelete('SET NULL');
    t.string('mapping', 333);
    t.text('calculation');
    t.boolean('is_external').notNullable().defaultTo(false);
    t.text('instructions');
    t.boolean('anonymous').notNullable().defaultTo(false);
    t.boolean('group_submission').notNullable().defaultTo(false);
    t.string('content_area_name', 255);
    t.boolean('available').notNullable().defaultTo(false);
    t.string('color', 10);
    t.integer('attempts').notNullable().defaultTo(-1);
    t.boolean('tracked').notNullable().defaultTo(false);
    t.timestamp('start_at', { useTz: true, precision: 3 });
    t.timestamp('end_at', { useTz: true, precision: 3 });
    t.timestamp('due_at', { useTz: true, precision: 3 });
    t.integer('sequence_num');
    t.boolean('extract').notNullable().defaultTo(true);
    t.text('optional_data');
    t.string('source', 16).notNullable();
    t.timestamp('deleted_at', { useTz: true, precision: 3 });
    times(t);
    t.index(['course_id']);
  });
  // A name is unique among a course's live columns; deleted ones keep theirs.
  await knex.raw(
    'create unique index grade_columns_live_name on grade_columns (course_id, name) where deleted_at is null',
  );
  await knex.raw(
    'create unique index grade_columns_one_external on grade_columns (course_id) where is_external = true and deleted_at is null',
  );

  await knex.schema.createTable('submissions', (t) => {
    t.increments('id');
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.integer('course_id').notNullable().references('courses.id').onDelete('CASCADE');
    t.integer('column_id').notNullable().references('grade_columns.id').onDelete('CASCADE');
    t.integer('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.double('score');
    t.string('grade', 333);
    t.timestamp('graded_at', { useTz: true, precision: 3 });
    t.integer('grader_id').references('users.id').onDelete('SET NULL');
    t.string('workflow_state', 32).notNullable().defaultTo('unsubmitted');
    t.boolean('excused').notNullable().defaultTo(false);
    t.boolean('late').notNullable().defaultTo(false);
    t.boolean('missing').notNullable().defaultTo(false);
    t.integer('attempt');
    t.timestamp('submitted_at', { useTz: true, precision: 3 });
    t.string('submission_type', 64);
    times(t);
    t.unique(['column_id', 'user_id']);
    t.index(['course_id', 'user_id']);
  });

  await knex.schema.createTable('grade_versions', (t) => {
    t.bigIncrements('id');
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.integer('course_id').notNullable().references('courses.id').onDelete('CASCADE');
    t.integer('column_id').notNullable().references('grade_columns.id').onDelete('CASCADE');
    t.integer('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.integer('submission_id').notNullable().references('submissions.id').onDelete('CASCADE');
    t.double('score');
    t.string('grade', 333);
    t.double('points_possible');
    t.string('workflow_state', 32).notNullable();
    t.boolean('excused').notNullable().defaultTo(false);
    t.boolean('late').notNullable().defaultTo(false);
    t.boolean('missing').notNullable().defaultTo(false);
    t.timestamp('graded_at', { useTz: true, precision: 3 }).notNullable();
    t.timestamp('recorded_at', { useTz: true, precision: 3 }).notNullable();
    t.integer('grader_id').references('users.id').onDelete('SET NULL');
    t.string('source', 16).notNullable();
    t.integer('api_client_id').references('api_clients.id').onDelete('SET NULL');
    t.string('idempotency_key', 255).notNullable();
    t.unique(['tenant_id', 'source', 'idempotency_key']);
    t.index(['course_id', 'id']);
    t.index(['submission_id', 'id']);
    t.index(['course_id', 'graded_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    'grade_versions',
    'submissions',
    'grade_columns',
    'grade_schemas',
    'enrollments',
    'gradebooks',
    'courses',
    'api_clients',
    'users',
    'tenants',
    'signing_keys',
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
}
