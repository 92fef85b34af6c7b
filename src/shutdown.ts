import { flushLogs, type Logger } from './logger.js';

/** Time after the shutdown timeout for closing the database and writing the last log lines. */
export const SHUTDOWN_GRACE_MS = 5000;

export interface ShutdownOptions {
  logger: Logger;
  /** SHUTDOWN_TIMEOUT_MS: how long the stop may wait for requests and jobs in flight. */
  timeoutMs: number;
  /** Stops the process's work: closes servers, workers, the database. */
  stop: (signal: string) => Promise<void>;
}

/**
 * Process-wide safety: a promise rejected with nobody listening is logged,
 * not fatal (one failed write must not end a process serving everyone), and a
 * reader that went away from stdout or stderr does not crash it either.
 */
export function guardProcess(logger: Logger): void {
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: reason }, 'unhandled promise rejection');
  });
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') logger.error({ err }, 'standard stream error');
    });
  }
}

/**
 * Ends the process on SIGTERM or SIGINT: runs `stop`, writes out the logs and
 * exits 0. A referenced hard deadline (timeoutMs + SHUTDOWN_GRACE_MS) ends the
 * process with exit code 1 whatever a close or a flush is still waiting for,
 * and a second signal ends it at once. Returns a function that starts the
 * same shutdown without a signal (a web process told to stop by the cluster's
 * primary); it does nothing when a shutdown is already under way.
 */
export function exitOnSignals(options: ShutdownOptions): (reason: string) => void {
  const { logger, timeoutMs } = options;
  let stopping = false;
  const exitNow = (code: number) => process.exit(code);
  const onSignal = (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      exitNow(1);
      return;
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      logger.error({ timeoutMs: timeoutMs + SHUTDOWN_GRACE_MS }, 'shutdown deadline passed');
      exitNow(1);
    }, timeoutMs + SHUTDOWN_GRACE_MS);
    options
      .stop(signal)
      .then(
        () => {
          logger.info('stopped');
          return 0;
        },
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          return 1;
        },
      )
      .then(async (code) => {
        await flushLogs(logger, Math.min(1000, SHUTDOWN_GRACE_MS));
        exitNow(code);
      });
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  return (reason: string) => {
    if (!stopping) onSignal(reason);
  };
}
