import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from './context.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** `npm run worker` as its own process, on the test's database. */
export class WorkerProcess {
  readonly output: string[] = [];
  private constructor(readonly child: ChildProcess) {}

  static start(ctx: TestContext, env: Record<string, string> = {}): WorkerProcess {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/worker.ts')], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'test',
        DATA_DIR: ctx.database.dataDir,
        ...(ctx.database.url ? { DATABASE_URL: ctx.database.url } : {}),
        LOG_LEVEL: 'warn',
        JOBS_POLL_MS: '50',
        JOBS_LEASE_MS: '2000',
        DATASYNC_POLL_SECONDS: '0',
        // A dead worker's hold on an exchange runs out after twice this.
        DATASYNC_TIMEOUT_MS: '2000',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const w = new WorkerProcess(child);
    child.stdout!.on('data', (d: Buffer) => w.output.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => w.output.push(d.toString()));
    return w;
  }

  /** Ends it with a signal (SIGKILL: no chance to clean up) and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill(signal);
    await exited;
  }
}

/** Waits until `check` holds, looking every `everyMs`; fails after `timeoutMs`. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 30000,
  everyMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
