import type { Knex } from 'knex';

/**
 * Late events never move a grade backwards, and signing secrets rotate.
 *
 * - `submissions.changed_at`: when the change that made the current grade
 *   happened at its source (an event's own time for webhooks and Live Events,
 *   the time gradebridge recorded it otherwise). An event older than it is
 *   kept as a version but does not replace the current grade. Rows written
 *   before this migration have none; their `graded_at` stands in for it.
 * - The previous signing secret of a signed grade webhook sender and of a
 *   Data Sync connection's notices, with the time until which it is still
 *   accepted after a rotation.
 */
export async function up(knex: Knex): Promise<void> {
  const atNull = (t: Knex.AlterTableBuilder, name: string) =>
    t.timestamp(name, { useTz: true, precision: 3 });
  await knex.schema.alterTable('submissions', (t) => {
    atNull(t, 'changed_at');
  });
  await knex.schema.alterTable('webhook_senders', (t) => {
    t.text('previous_secret');
    atNull(t, 'previous_secret_until');
  });
  await knex.schema.alterTable('datasync_connections', (t) => {
    t.text('previous_notice_secret');
    atNull(t, 'previous_notice_secret_until');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('datasync_connections', (t) => {
    t.dropColumns('previous_notice_secret', 'previous_notice_secret_until');
  });
  await knex.schema.alterTable('webhook_senders', (t) => {
    t.dropColumns('previous_secret', 'previous_secret_until');
  });
  await knex.schema.alterTable('submissions', (t) => {
    t.dropColumn('changed_at');
  });
}
