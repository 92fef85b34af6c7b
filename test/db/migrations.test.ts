import { expect } from 'chai';
import type { Db } from '../../src/db/knex.js';
import { migrateLatest, migratorConfig, rollbackAll } from '../../src/db/migrate.js';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from '../helpers/database.js';

async function tables(db: Db, kind: 'sqlite' | 'postgres'): Promise<string[]> {
  const rows =
    kind === 'sqlite'
      ? await db('sqlite_master')
          .where({ type: 'table' })
          .whereNot('name', 'like', 'sqlite_%')
          .select('name')
      : await db('information_schema.tables')
          .where({ table_schema: 'public' })
          .select('table_name as name');
  return rows
    .map((r: { name: string }) => r.name)
    .filter((n: string) => !n.startsWith('knex_'))
    .sort();
}

/** A tenant with one user, course, column and an empty submission, written straight into the tables. */
async function seedSubmission(
  db: Db,
  now: string,
  timeZone: string,
): Promise<Record<'tenant' | 'user' | 'course' | 'column' | 'submission', { id: number }>> {
  const [tenant] = await db('tenants')
    .insert({
      uuid: 't-uuid',
      name: 'T',
      time_zone: timeZone,
      created_at: now,
      updated_at: now,
    })
    .returning('id');
  const [user] = await db('users')
    .insert({
      tenant_id: tenant.id,
      uuid: 'u-uuid',
      batch_uid: 'u',
      kind: 'person',
      created_at: now,
      updated_at: now,
    })
    .returning('id');
  const [course] = await db('courses')
    .insert({
      tenant_id: tenant.id,
      uuid: 'c-uuid',
      batch_uid: 'c',
      title: 'C',
      source: 'test',
      created_at: now,
      updated_at: now,
    })
    .returning('id');
  const [column] = await db('grade_columns')
    .insert({
      tenant_id: tenant.id,
      course_id: course.id,
      name: 'Q',
      item_type: 'TEST',
      source: 'test',
      created_at: now,
      updated_at: now,
    })
    .returning('id');
  const [submission] = await db('submissions')
    .insert({
      tenant_id: tenant.id,
      course_id: course.id,
      column_id: column.id,
      user_id: user.id,
      created_at: now,
      updated_at: now,
    })
    .returning('id');
  return { tenant, user, course, column, submission };
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`migrations on ${kind}: up, down and up again`, function () {
    let database: TestDatabase;
    let db: Db;

    before(async function () {
      const reason = kind === 'postgres' ? postgresSkipReason() : null;
      if (reason) {
        process.stderr.write(`    skipped: PostgreSQL migrations (${reason})\n`);
        this.skip();
      }
      database = await createTestDatabase(kind);
      db = database.open();
    });

    after(async () => {
      await db?.destroy();
      await database?.drop();
    });

    it('creates every table, drops them all, and creates them again', async () => {
      const applied = await migrateLatest(db);
      expect(applied.length).to.be.greaterThan(0);
      const created = await tables(db, kind);
      expect(created).to.include.members([
        'tenants',
        'api_clients',
        'users',
        'courses',
        'gradebooks',
        'enrollments',
        'grade_schemas',
        'grade_columns',
        'submissions',
        'grade_versions',
      ]);
      const undone = await rollbackAll(db);
      expect(undone).to.have.length(applied.length);
      expect(await tables(db, kind)).to.deep.equal([]);
      await migrateLatest(db);
      expect(await tables(db, kind)).to.deep.equal(created);
    });

    it('recognises migrations recorded as .js by the built server or .ts from source', async () => {
      await migrateLatest(db);
      const names = (await db('knex_migrations').orderBy('id').pluck('name')) as string[];
      expect(names.every((n) => !/\.(ts|js)$/.test(n))).to.equal(true);
      for (const ext of ['.js', '.ts']) {
        await db('knex_migrations').update({ name: db.raw('name || ?', [ext]) });
        expect(await migrateLatest(db)).to.deep.equal([]);
        expect(await db('knex_migrations').orderBy('id').pluck('name')).to.deep.equal(names);
      }
    });

    it("counts the versions written before the history summary existed, by day in the tenant's zone", async () => {
      await rollbackAll(db);
      await db.migrate.up(migratorConfig); // the foundation only
      const now = '2026-03-02T04:30:00.000Z'; // March 1 in New York
      const { tenant, user, course, column, submission } = await seedSubmission(
        db,
        now,
        'America/New_York',
      );
      for (const [i, at] of [now, now, '2026-03-02T15:00:00.000Z'].entries()) {
        await db('grade_versions').insert({
          tenant_id: tenant.id,
          course_id: course.id,
          column_id: column.id,
          user_id: user.id,
          submission_id: submission.id,
          score: i,
          workflow_state: 'graded',
          graded_at: at,
          recorded_at: at,
          source: 'journey',
          idempotency_key: `k${i}`,
        });
      }
      await migrateLatest(db);
      const days = await db('grade_history_days')
        .where({ course_id: course.id })
        .orderBy('day')
        .select('day', 'grader_id', 'versions');
      expect(days).to.deep.equal([
        { day: '2026-03-01', grader_id: 0, versions: 2 },
        { day: '2026-03-02', grader_id: 0, versions: 1 },
      ]);
      const total = await db('grade_history_totals')
        .where({ course_id: course.id })
        .first('versions');
      expect(total.versions).to.equal(3);
      await rollbackAll(db);
      await migrateLatest(db);
    });

    it('refuses a second version with the same idempotency key from the same source', async () => {
      const now = new Date().toISOString();
      const { tenant, user, course, column, submission } = await seedSubmission(db, now, 'UTC');
      const version = {
        tenant_id: tenant.id,
        course_id: course.id,
        column_id: column.id,
        user_id: user.id,
        submission_id: submission.id,
        score: 1,
        workflow_state: 'graded',
        graded_at: now,
        recorded_at: now,
        source: 'ags',
        idempotency_key: 'result-1@2026-01-01',
      };
      await db('grade_versions').insert(version);
      let failed = false;
      try {
        await db('grade_versions').insert(version);
      } catch {
        failed = true;
      }
      expect(failed).to.equal(true);
      await db('grade_versions').insert({ ...version, source: 'webhook' });
      // Two live columns of one course cannot share a name; a deleted one can.
      const sameName = {
        tenant_id: tenant.id,
        course_id: course.id,
        name: 'Q',
        item_type: 'TEST',
        source: 'test',
        created_at: now,
        updated_at: now,
      };
      let duplicate = false;
      try {
        await db('grade_columns').insert(sameName);
      } catch {
        duplicate = true;
      }
      expect(duplicate).to.equal(true);
      await db('grade_columns').where({ id: column.id }).update({ deleted_at: now });
      await db('grade_columns').insert(sameName);
    });
  });
}
