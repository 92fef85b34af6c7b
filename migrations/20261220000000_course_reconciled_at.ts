import type { Knex } from 'knex';

/**
 * When each course's grades were last compared with the LMS and the SIS
 * (a reconciliation), so the course page can say how fresh its count of
 * differences is.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('courses', (t) => {
    t.timestamp('reconciled_at', { useTz: true, precision: 3 });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('courses', (t) => {
    t.dropColumn('reconciled_at');
  });
}
