import type { Config } from '../config/index.js';
import { loadSigningSecret, TokenService } from './auth/tokens.js';
import type { AppDeps } from './deps.js';
import { createDb, dbOptionsFromConfig } from './db/knex.js';
import { migrateLatest } from './db/migrate.js';
import { isoNow, systemClock, type Clock } from './db/time.js';
import type { Logger } from './logger.js';

/** Opens the database, brings its schema up to date and loads the token key. */
export async function openDeps(
  config: Config,
  logger: Logger,
  clock: Clock = systemClock,
): Promise<AppDeps> {
  const db = createDb(dbOptionsFromConfig(config));
  try {
    const applied = await migrateLatest(db);
    if (applied.length > 0) logger.info({ migrations: applied }, 'database migrated');
    const secret = await loadSigningSecret(db, config.TOKEN_SIGNING_SECRET, isoNow(clock));
    return {
      config,
      db,
      logger,
      clock,
      tokens: new TokenService(secret, config.TOKEN_TTL_SECONDS),
    };
  } catch (err) {
    await db.destroy();
    throw err;
  }
}
