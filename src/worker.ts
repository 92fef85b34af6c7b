/**
 * The worker process role: claims and runs jobs until SIGTERM or SIGINT.
 * Several workers (on several machines, with PostgreSQL) share the queue.
 */
import { loadConfigOrExit, openDeps } from './bootstrap.js';
import { createWorker } from './job-registry.js';
import { createLogger } from './logger.js';
import { exitOnSignals, guardProcess } from './shutdown.js';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'gradebridge-worker' });
  // The worker records every outcome without rejecting; anything else left unhandled is logged, not fatal.
  guardProcess(logger);
  const deps = await openDeps(config, logger);
  const worker = createWorker(deps);
  worker.start();
  logger.info({ worker: worker.id, concurrency: config.JOBS_CONCURRENCY }, 'worker started');
  exitOnSignals({
    logger,
    timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    stop: async () => {
      await worker.stop(config.SHUTDOWN_TIMEOUT_MS);
      await deps.lti.close();
      await deps.exchange.close();
      await deps.db.destroy();
    },
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
