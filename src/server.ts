import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import http from 'node:http';
import type { Config } from '../config/index.js';
import { createApp } from './app.js';
import { loadConfigOrExit, openDeps } from './bootstrap.js';
import { createDb, dbOptionsFromConfig } from './db/knex.js';
import { migrateLatest } from './db/migrate.js';
import { demoInstructions, ensureDemoTenant } from './demo/bootstrap.js';
import { seedDemoCourse } from './demo/course.js';
import { startDemoLms } from './demo/lms.js';
import { startDemoDataSync } from './demo/datasync.js';
import { createWorker } from './job-registry.js';
import { createLogger, flushLogs } from './logger.js';
import { exitOnSignals, guardProcess, SHUTDOWN_GRACE_MS } from './shutdown.js';

/** What a web process tells the cluster's primary once it answers requests. */
interface ReadyMessage {
  type: 'gradebridge:ready';
  port: number;
}
/** What the primary tells its web processes when it is asked to stop. */
const SHUTDOWN_MESSAGE = 'gradebridge:shutdown';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  if (config.WEB_PROCESSES > 1 && cluster.isPrimary) {
    await runPrimary(config);
    return;
  }
  await runWebProcess(config);
}

/**
 * WEB_PROCESSES above 1: this process forks that many web processes, which
 * share PORT through node's cluster module (the primary accepts connections
 * and hands them round-robin to the web processes). It brings the schema up
 * to date once, starts the first web process (which creates shared secrets
 * and the demo tenant and runs the demo emulators) and then the others,
 * replaces a web process that ends unexpectedly, and on SIGTERM or SIGINT
 * stops them all as one.
 */
async function runPrimary(config: Config): Promise<void> {
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'gradebridge-primary' });
  guardProcess(logger);
  const db = createDb(dbOptionsFromConfig(config));
  try {
    const applied = await migrateLatest(db);
    if (applied.length > 0) logger.info({ migrations: applied }, 'database migrated');
  } finally {
    await db.destroy();
  }
  let ready = false;
  let stopping = false;
  /** Web processes that answer and listen for the primary's shutdown message. */
  const answering = new Set<ClusterWorker>();
  const fork = () =>
    new Promise<{ worker: ClusterWorker; port: number }>((resolve, reject) => {
      const worker = cluster.fork();
      const onMessage = (m: unknown) => {
        if ((m as ReadyMessage | null)?.type !== 'gradebridge:ready') return;
        worker.off('message', onMessage);
        worker.off('exit', onExit);
        answering.add(worker);
        // Asked to stop while this one was starting: it stops now.
        if (stopping) worker.send(SHUTDOWN_MESSAGE);
        resolve({ worker, port: (m as ReadyMessage).port });
      };
      const onExit = (code: number | null, signal: string | null) =>
        reject(
          new Error(`web process ${worker.process.pid} ended while starting (${signal ?? code})`),
        );
      worker.on('message', onMessage);
      worker.once('exit', onExit);
    });
  /** SIGTERM: the shutdown message to those that answer (they finish their requests), the signal to those still starting. */
  const stopAll = (signal: NodeJS.Signals) => {
    for (const worker of Object.values(cluster.workers ?? {})) {
      if (!worker || worker.isDead()) continue;
      if (signal === 'SIGTERM' && answering.has(worker) && worker.isConnected())
        worker.send(SHUTDOWN_MESSAGE);
      else worker.process.kill(signal);
    }
  };
  const exitWhenAllEnded = (code: number) => {
    const alive = Object.values(cluster.workers ?? {}).filter((w) => w && !w.isDead());
    if (alive.length > 0) return;
    void flushLogs(logger, 1000).then(() => process.exit(code));
  };
  let exitCode = 0;
  cluster.on('exit', (worker, code, signal) => {
    answering.delete(worker);
    if (stopping) {
      if (code !== 0 && signal !== 'SIGTERM') exitCode = 1;
      exitWhenAllEnded(exitCode);
      return;
    }
    if (!ready) return;
    logger.error(
      { pid: worker.process.pid, code, signal },
      'web process ended unexpectedly; starting another',
    );
    setTimeout(() => {
      if (!stopping)
        fork().catch((err: unknown) => logger.error({ err }, 'could not start a web process'));
    }, 1000).unref();
  });
  const onSignal = (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: ending the web processes now');
      stopAll('SIGKILL');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down the web processes');
    setTimeout(
      () => {
        logger.error('shutdown deadline passed; ending the web processes');
        stopAll('SIGKILL');
        process.exit(1);
      },
      config.SHUTDOWN_TIMEOUT_MS + SHUTDOWN_GRACE_MS + 1000,
    ).unref();
    stopAll('SIGTERM');
    exitWhenAllEnded(exitCode);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  try {
    const first = await fork();
    const rest = await Promise.all(Array.from({ length: config.WEB_PROCESSES - 1 }, fork));
    if (stopping) return;
    ready = true;
    logger.info(
      {
        port: first.port,
        webProcesses: config.WEB_PROCESSES,
        pids: [first, ...rest].map((w) => w.worker.process.pid),
      },
      'web processes ready',
    );
    process.stdout.write(
      `\ngradebridge: ${config.WEB_PROCESSES} web processes answer at ${config.PUBLIC_URL ?? `http://localhost:${first.port}`}\n`,
    );
  } catch (err) {
    if (stopping) return;
    logger.error({ err }, 'a web process did not start');
    stopping = true;
    stopAll('SIGKILL');
    await flushLogs(logger, 1000);
    process.exit(1);
  }
}

/**
 * One web process: the HTTP server (and, with WORKER_IN_PROCESS, a job
 * worker). Under the cluster's primary only the first one runs the demo
 * emulators and prints the start banner.
 */
async function runWebProcess(config: Config): Promise<void> {
  const first = !cluster.isWorker || cluster.worker?.id === 1;
  const logger = createLogger({ level: config.LOG_LEVEL });
  guardProcess(logger);
  const deps = await openDeps(config, logger);
  const { koa } = createApp(deps);

  const server = http.createServer(koa.callback());
  server.keepAliveTimeout = 65_000;
  let lms: Awaited<ReturnType<typeof startDemoLms>> | null = null;
  let dataSync: Awaited<ReturnType<typeof startDemoDataSync>> | null = null;
  let worker: ReturnType<typeof createWorker> | null = null;
  const stop = exitOnSignals({
    logger,
    timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    stop: async () => {
      // Requests in flight get the timeout to finish, then their connections are closed.
      const force = setTimeout(() => {
        logger.warn('shutdown timed out; closing open connections');
        server.closeAllConnections();
      }, config.SHUTDOWN_TIMEOUT_MS);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await Promise.all([closed, worker?.stop(config.SHUTDOWN_TIMEOUT_MS)]);
      clearTimeout(force);
      await lms?.close();
      await dataSync?.close();
      await deps.lti.close();
      await deps.exchange.close();
      await deps.db.destroy();
    },
  });
  if (cluster.isWorker) {
    process.on('message', (m) => {
      if (m === SHUTDOWN_MESSAGE) stop('primary');
    });
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, config.HOST, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  const baseUrl = config.PUBLIC_URL ?? `http://localhost:${port}`;
  logger.info(
    { port, database: config.DATABASE_URL ? 'postgres' : config.sqliteFile },
    'gradebridge listening',
  );

  if (config.DEMO && first) {
    const demo = await ensureDemoTenant(deps);
    // Printed to the terminal, not the log: the secret must never reach log storage.
    if (demo) {
      await seedDemoCourse(deps, demo.tenantId);
      process.stdout.write(demoInstructions(baseUrl, demo));
    }
    // The emulators serve the first tenant (the demo one on a fresh database).
    const tenant =
      config.DEMO_LMS || config.DEMO_DATASYNC
        ? await deps.db('tenants').orderBy('id').first('id')
        : null;
    if (config.DEMO_LMS) {
      lms = await startDemoLms(deps, tenant.id, baseUrl);
      deps.demo = { ...deps.demo, lmsUrl: lms.url };
      process.stdout.write(
        `\nLMS emulator: ${lms.url}/ (launch gradebridge from there as the teacher or a learner)\n`,
      );
    }
    if (config.DEMO_DATASYNC) {
      dataSync = await startDemoDataSync(deps, tenant.id, baseUrl);
      if (dataSync) {
        deps.demo = { ...deps.demo, dataSyncUrl: dataSync.url };
        process.stdout.write(
          `Data Sync emulator: ${dataSync.url}/ (create an exchange there and watch it go through; final grades go out once approved)\n`,
        );
      }
    }
  }
  if (first) {
    process.stdout.write(
      `\ngradebridge is running at ${baseUrl} (API documentation: ${baseUrl}/docs)\n`,
    );
  }

  // The embedded default runs the job worker inside the server; with
  // WORKER_IN_PROCESS=false run `npm run worker` processes instead.
  worker = config.WORKER_IN_PROCESS ? createWorker(deps) : null;
  worker?.start();
  if (cluster.isWorker) process.send?.({ type: 'gradebridge:ready', port } satisfies ReadyMessage);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
