import type { Knex } from 'knex';

/**
 * Launches where the browser sends no cookies to the tool (an LMS iframe with
 * third-party cookies blocked): a login remembers the platform storage frame
 * it was asked to use (lti_storage_target), what restarts it in a new window
 * (its hints and deployment), and, while the launch page asks the platform's
 * storage for the state, a one-time confirmation that the page posts back.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('lti_logins', (t) => {
    t.string('storage_target', 64);
    t.text('login_hint');
    t.text('message_hint');
    t.string('deployment_id', 255);
    t.string('confirm_hash', 64);
    t.timestamp('confirm_expires_at', { useTz: true, precision: 3 });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('lti_logins', (t) => {
    t.dropColumns(
      'storage_target',
      'login_hint',
      'message_hint',
      'deployment_id',
      'confirm_hash',
      'confirm_expires_at',
    );
  });
}
