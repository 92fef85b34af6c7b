import type { Knex } from 'knex';

/**
 * Durable jobs: a job is a row written in the same transaction as the change
 * that caused it. Workers claim jobs with a lease; a job whose lease ran out
 * (its worker died) is claimed again. Every attempt is recorded.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('jobs', (t) => {
    t.bigIncrements('id');
    t.integer('tenant_id').references('tenants.id').onDelete('CASCADE');
    t.string('name', 64).notNullable();
    t.text('payload').notNullable();
    t.string('state', 16).notNullable();
    t.integer('priority').notNullable().defaultTo(0);
    t.integer('attempts').notNullable().defaultTo(0);
    t.integer('max_attempts').notNullable();
    t.timestamp('run_at', { useTz: true, precision: 3 }).notNullable();
    t.string('locked_by', 128);
    t.timestamp('locked_until', { useTz: true, precision: 3 });
    t.text('last_error');
    /** At most one job with this key exists (e.g. one run of a recurring job per slot). */
    t.string('dedupe_key', 255).unique();
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable();
    t.timestamp('updated_at', { useTz: true, precision: 3 }).notNullable();
    t.timestamp('finished_at', { useTz: true, precision: 3 });
    t.index(['state', 'run_at']);
    t.index(['state', 'locked_until']);
  });
  await knex.schema.createTable('job_attempts', (t) => {
    t.bigIncrements('id');
    t.bigInteger('job_id').notNullable().references('jobs.id').onDelete('CASCADE');
    t.integer('attempt').notNullable();
    t.string('worker', 128).notNullable();
    t.timestamp('started_at', { useTz: true, precision: 3 }).notNullable();
    t.timestamp('finished_at', { useTz: true, precision: 3 });
    /** succeeded, failed, retry (asked to run later), lost (the worker died). */
    t.string('outcome', 16);
    t.text('error');
    t.index(['job_id', 'attempt']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('job_attempts');
  await knex.schema.dropTableIfExists('jobs');
}
