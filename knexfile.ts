/**
 * For the knex command line (`npx knex --knexfile knexfile.ts ...`). The
 * service itself migrates on start; see src/db/migrate.ts.
 */
import path from 'node:path';
import type { Knex } from 'knex';
import { loadConfig } from './config/index.js';
import { dbOptionsFromConfig, knexConfig } from './src/db/knex.js';
import { migratorConfig } from './src/db/migrate.js';

const config = loadConfig();

const knexfile: Knex.Config = {
  ...knexConfig(dbOptionsFromConfig(config)),
  migrations: migratorConfig,
  seeds: {
    directory: path.resolve(import.meta.dirname, 'seeds'),
    loadExtensions: [import.meta.filename.endsWith('.ts') ? '.ts' : '.js'],
  },
};

export default knexfile;
