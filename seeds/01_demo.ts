/**
 * Demo data: the demo tenant and API client (when none exists) and a small
 * course with a schema, columns and grades written through the same services
 * the API uses. Development and demo only; tests build their own data.
 */
import type { Knex } from 'knex';
import { loadConfig } from '../config/index.js';
import { buildDeps } from '../src/bootstrap.js';
import { systemClock } from '../src/db/time.js';
import { demoInstructions, ensureDemoTenant } from '../src/demo/bootstrap.js';
import { seedDemoCourse } from '../src/demo/course.js';
import { createLogger } from '../src/logger.js';

export async function seed(knex: Knex): Promise<void> {
  const config = loadConfig();
  const deps = await buildDeps(config, knex, createLogger({ level: 'warn' }), systemClock);
  const demo = await ensureDemoTenant(deps);
  if (demo) process.stdout.write(demoInstructions(config.publicUrl, demo));
  const tenant = await knex('tenants').orderBy('id').first('id');
  await seedDemoCourse(deps, tenant.id);
}
