import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestDatabase } from './database.js';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const execFileAsync = promisify(execFile);

export interface ServerProcess {
  child: ChildProcess;
  /** Everything the process wrote so far, stdout and stderr. */
  output: () => string;
  baseUrl: string;
  /** Sends a signal and waits for the exit code. */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

/** The environment a server or the command line runs with on a test database. */
export function processEnv(
  database: TestDatabase,
  extra: Record<string, string> = {},
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: database.dataDir, ...extra };
  delete env.DATABASE_URL;
  if (database.url) env.DATABASE_URL = database.url;
  return env;
}

/** `npm run build`: what `npm start` runs first. */
export async function buildProject(): Promise<void> {
  await execFileAsync('npm', ['run', '--silent', 'build'], { cwd: projectRoot });
}

/**
 * Starts the server on a free port and waits until it says it is running:
 * `built` runs dist/ as `npm start` does (after buildProject), `source` runs
 * src/ through tsx as `npm run dev` does.
 */
export async function startServer(
  database: TestDatabase,
  options: { from: 'built' | 'source'; env?: Record<string, string> },
): Promise<ServerProcess> {
  const args =
    options.from === 'built'
      ? ['--enable-source-maps', 'dist/src/server.js']
      : ['--import', 'tsx', 'src/server.ts'];
  const child = spawn(process.execPath, args, {
    cwd: projectRoot,
    env: processEnv(database, {
      PORT: '0',
      HOST: '127.0.0.1',
      DEMO_LMS_PORT: '0',
      DEMO_DATASYNC_PORT: '0',
      LOG_LEVEL: 'info',
      ...options.env,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const deadline = Date.now() + 60000;
  while (!/running at \S+/.test(out) || !/"port":\d+/.test(out)) {
    if (child.exitCode !== null) throw new Error(`server exited: ${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const port = /"port":(\d+)/.exec(out)![1];
  return {
    child,
    output: () => out,
    baseUrl: `http://127.0.0.1:${port}`,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode !== null) return child.exitCode;
      const exited = once(child, 'exit');
      child.kill(signal);
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a shell command line (from the project's folder unless told), as a person would type it. */
export async function shell(
  line: string,
  env: NodeJS.ProcessEnv,
  timeoutMs = 60000,
  cwd = projectRoot,
): Promise<CommandResult> {
  try {
    const { stdout, stderr } = await execFileAsync('bash', ['-c', line], {
      cwd,
      env,
      timeout: timeoutMs,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout, stderr: e.stderr };
  }
}
