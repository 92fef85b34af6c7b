import type { Knex } from 'knex';
import { DateTime } from 'luxon';

/**
 * A per-day summary of grade versions for the Gradebook History API: how many
 * versions each grader wrote in each column on each day, the day taken in the
 * tenant's time zone. Kept up to date as versions are written, so listing a
 * course's days does not group its whole history on every call.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('grade_history_days', (t) => {
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.integer('course_id').notNullable().references('courses.id').onDelete('CASCADE');
    t.string('day', 10).notNullable();
    /** users.id of the grader, 0 for "Graded on submission". */
    t.integer('grader_id').notNullable();
    t.integer('column_id').notNullable().references('grade_columns.id').onDelete('CASCADE');
    t.integer('versions').notNullable();
    t.primary(['course_id', 'day', 'grader_id', 'column_id']);
  });
  // Versions per course, for the feed's page count.
  await knex.schema.createTable('grade_history_totals', (t) => {
    t.integer('course_id').primary().references('courses.id').onDelete('CASCADE');
    t.integer('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.integer('versions').notNullable();
  });

  // Versions written before this migration.
  const zones = new Map<number, string>();
  for (const t of await knex('tenants').select('id', 'time_zone')) zones.set(t.id, t.time_zone);
  const counts = new Map<string, number>();
  let after = 0;
  for (;;) {
    const rows = await knex('grade_versions')
      .select('id', 'tenant_id', 'course_id', 'column_id', 'grader_id', 'graded_at')
      .where('id', '>', after)
      .orderBy('id')
      .limit(10000);
    if (rows.length === 0) break;
    for (const r of rows) {
      const day = DateTime.fromISO(new Date(r.graded_at).toISOString(), { zone: 'utc' })
        .setZone(zones.get(r.tenant_id) ?? 'UTC')
        .toISODate();
      const key = `${r.tenant_id}|${r.course_id}|${day}|${r.grader_id ?? 0}|${r.column_id}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    after = rows[rows.length - 1].id;
  }
  const rows = [...counts].map(([key, versions]) => {
    const [tenant, course, day, grader, column] = key.split('|');
    return {
      tenant_id: Number(tenant),
      course_id: Number(course),
      day,
      grader_id: Number(grader),
      column_id: Number(column),
      versions,
    };
  });
  for (let i = 0; i < rows.length; i += 200) {
    await knex('grade_history_days').insert(rows.slice(i, i + 200));
  }
  const totals = (await knex('grade_versions')
    .select('course_id', 'tenant_id')
    .count({ versions: '*' })
    .groupBy('course_id', 'tenant_id')) as Array<{
    course_id: number;
    tenant_id: number;
    versions: number | string;
  }>;
  for (let i = 0; i < totals.length; i += 200) {
    await knex('grade_history_totals').insert(
      totals.slice(i, i + 200).map((t) => ({
        course_id: t.course_id,
        tenant_id: t.tenant_id,
        versions: Number(t.versions),
      })),
    );
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('grade_history_totals');
  await knex.schema.dropTableIfExists('grade_history_days');
}
