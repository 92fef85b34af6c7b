import type { Knex } from 'knex';

/**
 * Final grades with a person in the loop: a tenant's approval policy, the
 * people named approvers, submissions of a course's final grades (each a
 * snapshot of the values at that moment, approved or rejected with a
 * comment), and every step as an event with who, when and why.
 */
export async function up(knex: Knex): Promise<void> {
  const at = (t: Knex.CreateTableBuilder, name = 'created_at') =>
    t.timestamp(name, { useTz: true, precision: 3 }).notNullable();
  const atNull = (t: Knex.CreateTableBuilder, name: string) =>
    t.timestamp(name, { useTz: true, precision: 3 });

  await knex.schema.alterTable('tenants', (t) => {
    // off: final grades go out as they stand; required: only approved values go out.
    t.string('approval_mode', 16).notNullable().defaultTo('off');
  });

  await knex.schema.createTable('approvers', (t) => {
    t.increments('id');
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.integer('user_id').notNullable().references('users.id').onDelete('CASCADE');
    // cli: named by an operator; lti: launched with an institution or system Administrator role.
    t.string('source', 16).notNullable();
    at(t);
    t.unique(['tenant_id', 'user_id']);
  });

  await knex.schema.createTable('final_grade_submissions', (t) => {
    t.increments('id');
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.integer('course_id').notNullable().references('courses.id').onDelete('CASCADE');
    t.integer('column_id').notNullable().references('grade_columns.id').onDelete('CASCADE');
    // submitted, approved, rejected, or replaced (a newer submission took its place before a decision)
    t.string('state', 16).notNullable();
    t.integer('submitted_by').references('users.id').onDelete('SET NULL');
    t.string('submitted_by_name', 255).notNullable();
    t.text('comment');
    at(t, 'submitted_at');
    t.integer('decided_by').references('users.id').onDelete('SET NULL');
    t.string('decided_by_name', 255);
    t.text('decision_comment');
    atNull(t, 'decided_at');
    t.index(['course_id', 'id']);
    t.index(['tenant_id', 'state']);
    t.index(['column_id', 'state']);
  });

  // The values a submission holds: what an approval lets out.
  await knex.schema.createTable('final_grade_snapshots', (t) => {
    t.integer('submission_id')
      .notNullable()
      .references('final_grade_submissions.id')
      .onDelete('CASCADE');
    t.integer('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.double('score');
    t.string('grade', 333);
    t.double('points_possible');
    t.bigInteger('version_id');
    t.timestamp('graded_at', { useTz: true, precision: 3 });
    t.primary(['submission_id', 'user_id']);
  });

  await knex.schema.createTable('final_grade_events', (t) => {
    t.increments('id');
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.integer('course_id').notNullable().references('courses.id').onDelete('CASCADE');
    t.integer('submission_id').references('final_grade_submissions.id').onDelete('CASCADE');
    // submitted, approved, rejected, replaced, changed_since_approval
    t.string('kind', 32).notNullable();
    // The learner an event is about (changed_since_approval); null for a whole submission.
    t.integer('learner_id').references('users.id').onDelete('CASCADE');
    t.integer('actor_id').references('users.id').onDelete('SET NULL');
    t.string('actor_name', 255).notNullable();
    t.text('comment');
    t.text('details');
    at(t, 'at');
    t.index(['course_id', 'id']);
    t.index(['learner_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('final_grade_events');
  await knex.schema.dropTableIfExists('final_grade_snapshots');
  await knex.schema.dropTableIfExists('final_grade_submissions');
  await knex.schema.dropTableIfExists('approvers');
  await knex.schema.alterTable('tenants', (t) => {
    t.dropColumn('approval_mode');
  });
}
