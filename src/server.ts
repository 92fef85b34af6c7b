import http from 'node:http';
import { createApp } from './app.js';
import { loadConfigOrExit, openDeps } from './bootstrap.js';
import { demoInstructions, ensureDemoTenant } from './demo/bootstrap.js';
import { seedDemoCourse } from './demo/course.js';
import { startDemoLms } from './demo/lms.js';
import { startDemoDataSync } from './demo/datasync.js';
import { createWorker } from './job-registry.js';
import { createLogger } from './logger.js';
import { exitOnSignals, guardProcess } from './shutdown.js';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger({ level: config.LOG_LEVEL });
  guardProcess(logger);
  const deps = await openDeps(config, logger);
  const { koa } = createApp(deps);

  const server = http.createServer(koa.callback());
  server.keepAliveTimeout = 65_000;
  let lms: Awaited<ReturnType<typeof startDemoLms>> | null = null;
  let dataSync: Awaited<ReturnType<typeof startDemoDataSync>> | null = null;
  let worker: ReturnType<typeof createWorker> | null = null;
  exitOnSignals({
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

  if (config.DEMO) {
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
  process.stdout.write(
    `\ngradebridge is running at ${baseUrl} (API documentation: ${baseUrl}/docs)\n`,
  );

  // The embedded default runs the job worker inside the server; with
  // WORKER_IN_PROCESS=false run `npm run worker` processes instead.
  worker = config.WORKER_IN_PROCESS ? createWorker(deps) : null;
  worker?.start();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
