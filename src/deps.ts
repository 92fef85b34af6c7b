import type { Config } from '../config/index.js';
import type { TokenService } from './auth/tokens.js';
import type { Db } from './db/knex.js';
import type { Clock } from './db/time.js';
import type { Logger } from './logger.js';
import type { LtiTool } from './lti/tool.js';
import type { SecretBox } from './auth/secret-box.js';
import type { ExchangeService } from './exchange/service.js';

/** What the app and its services are built from; tests build their own. */
export interface AppDeps {
  config: Config;
  db: Db;
  logger: Logger;
  clock: Clock;
  tokens: TokenService;
  lti: LtiTool;
  secrets: SecretBox;
  exchange: ExchangeService;
  /** The demo's emulators while they run (server.ts sets them; the landing page links them). */
  demo?: { lmsUrl?: string; dataSyncUrl?: string };
}
