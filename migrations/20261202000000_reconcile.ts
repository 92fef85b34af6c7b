import type { Knex } from 'knex';

/**
 * Every grade accounted for: what gradebridge last sent to each LMS line
 * item and what the LMS was last seen to hold there, what the SIS accepted
 * (each send's outcome from the details artifact), the differences found
 * (drift), and the repairs people asked for.
 */
export async function up(knex: Knex): Promise<void> {
  const at = (t: Knex.CreateTableBuilder, name: string) =>
    t.timestamp(name, { useTz: true, precision: 3 }).notNullable();
  const atNull = (t: Knex.CreateTableBuilder, name: string) =>
    t.timestamp(name, { useTz: true, precision: 3 });

  await knex.schema.createTable('lms_grades', (t) => {
    t.increments('id');
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.integer('course_id').notNullable().references('courses.id').onDelete('CASCADE');
    t.integer('column_id').notNullable().references('grade_columns.id').onDelete('CASCADE');
    t.integer('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.string('line_item', 2048).notNullable();
    // What gradebridge last sent there: sent, refused (4xx) or failed.
    t.double('sent_score');
    atNull(t, 'sent_at');
    t.string('send_status', 16);
    t.text('send_error');
    // What the LMS was last seen to hold (a pull or a read-back), in the column's points.
    t.double('lms_score');
    t.boolean('lms_has_score').notNullable().defaultTo(false);
    atNull(t, 'lms_read_at');
    at(t, 'updated_at');
    t.unique(['column_id', 'user_id', 'line_item']);
    t.index(['course_id']);
  });

  await knex.schema.alterTable('exchange_sends', (t) => {
    // What the SIS did with it, from the exchange's details artifact: accepted or refused; null until known.
    t.string('sis_outcome', 16);
    t.timestamp('outcome_at', { useTz: true, precision: 3 });
  });

  await knex.schema.createTable('grade_drift', (t) => {
    t.increments('id');
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.integer('course_id').notNullable().references('courses.id').onDelete('CASCADE');
    t.integer('column_id').notNullable().references('grade_columns.id').onDelete('CASCADE');
    t.integer('user_id').notNullable().references('users.id').onDelete('CASCADE');
    // lms_differs, sis_differs, failed, unknown
    t.string('state', 24).notNullable();
    t.double('ours');
    t.double('theirs');
    t.text('detail');
    at(t, 'first_seen_at');
    at(t, 'last_seen_at');
    atNull(t, 'resolved_at');
    t.index(['course_id', 'resolved_at']);
    t.index(['tenant_id', 'resolved_at']);
    t.index(['column_id', 'user_id']);
  });

  await knex.schema.createTable('reconcile_actions', (t) => {
    t.increments('id');
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.integer('course_id').notNullable().references('courses.id').onDelete('CASCADE');
    t.integer('column_id').notNullable().references('grade_columns.id').onDelete('CASCADE');
    t.integer('user_id').notNullable().references('users.id').onDelete('CASCADE');
    // resend_lms, resend_sis, accept_lms
    t.string('action', 16).notNullable();
    t.integer('actor_id').references('users.id').onDelete('SET NULL');
    t.string('actor_name', 255).notNullable();
    t.text('details');
    at(t, 'at');
    t.index(['course_id', 'id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('reconcile_actions');
  await knex.schema.dropTableIfExists('grade_drift');
  await knex.schema.alterTable('exchange_sends', (t) => {
    t.dropColumn('sis_outcome');
    t.dropColumn('outcome_at');
  });
  await knex.schema.dropTableIfExists('lms_grades');
}
