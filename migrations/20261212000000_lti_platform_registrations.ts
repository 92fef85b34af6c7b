import type { Knex } from 'knex';

/**
 * LTI platforms owned by tenants, and how they came to be:
 *
 * - `lti_platform_registrations`: a platform (issuer and client id) belongs
 *   to one tenant, with or without deployments yet. A platform registered by
 *   Dynamic Registration without a deployment id awaits it: the first launch
 *   from it names the deployment, which is then recorded.
 * - `lti_deployments.source`: `registered` (by the command line or Dynamic
 *   Registration) or `first_launch` (learned from the platform's first launch).
 * - `lti_registration_links`: Dynamic Registration links, each good for one
 *   registration: only a hash of the link's token is kept; a link is claimed
 *   while a registration runs and, once the LMS has answered, used and bound
 *   to the platform it registered.
 * - `lti_platform_events`: what happened to a platform's registration (how it
 *   was registered, deployments learned, endpoints replaced by an
 *   administrator), with who and why.
 *
 * Platforms registered before this migration are recorded from their
 * deployments.
 */
export async function up(knex: Knex): Promise<void> {
  const at = (t: Knex.CreateTableBuilder, name: string) =>
    t.timestamp(name, { useTz: true, precision: 3 });

  await knex.schema.createTable('lti_platform_registrations', (t) => {
    t.increments('id');
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.string('issuer', 1024).notNullable();
    t.string('client_id', 255).notNullable();
    /** command_line, dynamic_registration */
    t.string('registered_via', 32).notNullable();
    t.boolean('awaiting_deployment').notNullable().defaultTo(false);
    at(t, 'created_at').notNullable();
    t.unique(['issuer', 'client_id']);
    t.index(['tenant_id']);
  });
  await knex.schema.alterTable('lti_deployments', (t) => {
    t.string('source', 16).notNullable().defaultTo('registered');
  });
  await knex.schema.createTable('lti_registration_links', (t) => {
    t.increments('id');
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.string('token_hash', 64).notNullable().unique();
    at(t, 'created_at').notNullable();
    at(t, 'expires_at').notNullable();
    /** Set while a registration runs with the link (claim_id names that run). */
    t.string('claim_id', 64);
    at(t, 'claimed_at');
    at(t, 'used_at');
    /** registered, refused */
    t.string('outcome', 16);
    t.string('issuer', 1024);
    t.string('client_id', 255);
    t.index(['tenant_id']);
  });
  await knex.schema.createTable('lti_platform_events', (t) => {
    t.increments('id');
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.string('issuer', 1024).notNullable();
    t.string('client_id', 255).notNullable();
    /** registered, deployments_added, deployment_learned, endpoints_replaced */
    t.string('kind', 32).notNullable();
    t.string('actor', 255);
    t.text('reason');
    t.text('detail').notNullable();
    at(t, 'created_at').notNullable();
    t.index(['issuer', 'client_id']);
    t.index(['tenant_id']);
  });

  // Platforms registered before: one registration per issuer and client id, from its deployments.
  const rows = (await knex('lti_deployments')
    .select('tenant_id', 'issuer', 'client_id')
    .min({ created_at: 'created_at' })
    .groupBy('tenant_id', 'issuer', 'client_id')
    .orderBy('created_at')) as Array<{
    tenant_id: number;
    issuer: string;
    client_id: string;
    created_at: string | Date;
  }>;
  const seen = new Set<string>();
  for (const r of rows) {
    const key = `${r.issuer}\n${r.client_id}`;
    if (seen.has(key)) continue;
    seen.add(key);
    await knex('lti_platform_registrations').insert({
      tenant_id: r.tenant_id,
      issuer: r.issuer,
      client_id: r.client_id,
      registered_via: 'command_line',
      awaiting_deployment: false,
      created_at: r.created_at,
    });
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('lti_platform_events');
  await knex.schema.dropTableIfExists('lti_registration_links');
  await knex.schema.alterTable('lti_deployments', (t) => {
    t.dropColumn('source');
  });
  await knex.schema.dropTableIfExists('lti_platform_registrations');
}
