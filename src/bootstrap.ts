import { ConfigError, loadConfig, type Config } from '../config/index.js';
import { loadSigningSecret, TokenService } from './auth/tokens.js';
import type { AppDeps } from './deps.js';
import { registerFollowers } from './followers.js';
import { createDb, dbOptionsFromConfig, type Db } from './db/knex.js';
import { migrateLatest } from './db/migrate.js';
import { isoNow, systemClock, type Clock } from './db/time.js';
import type { Logger } from './logger.js';
import { LtiTool } from './lti/tool.js';
import { SecretBox } from './auth/secret-box.js';
import { ExchangeService } from './exchange/service.js';

/** The process's configuration; a bad setting prints what is wrong and exits with code 2. */
export function loadConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
}

/** Builds the dependencies on an open, migrated database: shared secrets, tokens, the LTI tool. */
export async function buildDeps(
  config: Config,
  db: Db,
  logger: Logger,
  clock: Clock,
): Promise<AppDeps> {
  registerFollowers();
  const now = isoNow(clock);
  const tokenSecret = await loadSigningSecret(db, 'api-tokens', config.TOKEN_SIGNING_SECRET, now);
  const lti = await LtiTool.create({
    config,
    db,
    logger,
    clock,
    encryptionKey: await loadSigningSecret(db, 'lti-encryption', config.LTI_ENCRYPTION_KEY, now),
    sessionSecret: await loadSigningSecret(db, 'lti-sessions', undefined, now),
  });
  const secrets = new SecretBox(await loadSigningSecret(db, 'secrets', config.SECRETS_KEY, now));
  return {
    config,
    db,
    logger,
    clock,
    tokens: new TokenService(tokenSecret, config.TOKEN_TTL_SECONDS),
    lti,
    secrets,
    exchange: new ExchangeService({ config, db, logger, clock, secrets }),
  };
}

/** Opens the database, brings its schema up to date and builds the dependencies. */
export async function openDeps(
  config: Config,
  logger: Logger,
  clock: Clock = systemClock,
): Promise<AppDeps> {
  const db = createDb(dbOptionsFromConfig(config));
  try {
    const applied = await migrateLatest(db);
    if (applied.length > 0) logger.info({ migrations: applied }, 'database migrated');
    return await buildDeps(config, db, logger, clock);
  } catch (err) {
    await db.destroy();
    throw err;
  }
}
