/**
 * What every operator command shares: the program and its exit codes, the
 * `--json` output, option parsers, and opening the app's dependencies. Each
 * feature registers its own commands from its folder (`<feature>/commands.ts`)
 * with a `CommandKit`; this module imports no feature.
 */
import { Command, CommanderError } from 'commander';
import { pino } from 'pino';
import { ConfigError, loadConfig, type Config } from '../../config/index.js';
import type { AppDeps } from '../deps.js';
import { createLogger, type Logger } from '../logger.js';

/** An operator's mistake: printed as `error: <message>`, exit code 1. */
export class CliError extends Error {}

export type Output = Record<string, unknown>;

/** Prints one JSON object with --json, the human text otherwise. */
export function print(json: boolean, value: Output, human: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${human}\n`);
}

export function httpUrl(name: string) {
  return (value: string): string => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new CliError(`${name} must be an http(s) URL, got "${value}"`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw new CliError(`${name} must be an http(s) URL, got "${value}"`);
    return value;
  };
}

export function positiveNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0 || n > 10000)
      throw new CliError(`${name} must be a number above 0 (and at most 10000), got "${value}"`);
    return n;
  };
}

export function positiveInt(name: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < 1)
      throw new CliError(`${name} must be a positive integer, got "${value}"`);
    return Number(value);
  };
}

/** Options most commands take, spelled once. */
export const TENANT_OPTION = ['--tenant <id>', 'tenant id', positiveInt('--tenant')] as const;
export const JSON_OPTION = ['--json', 'print one JSON object'] as const;

/** What a feature's commands are given to reach the app. */
export interface CommandKit {
  /** Opens the app's dependencies (migrated database, services), runs `work`, closes them. */
  withDeps<T>(work: (deps: AppDeps) => Promise<T>): Promise<T>;
  /** Fails with "tenant N does not exist" unless the tenant is there. */
  requireTenant(deps: AppDeps, tenantId: number): Promise<void>;
}

/** How the kit reaches the app; the entry point supplies both. */
export interface CommandKitSources {
  openDeps(config: Config, logger: Logger): Promise<AppDeps>;
  findTenant(db: AppDeps['db'], tenantId: number): Promise<unknown>;
}

export function createCommandKit(sources: CommandKitSources): CommandKit {
  return {
    async withDeps<T>(work: (deps: AppDeps) => Promise<T>): Promise<T> {
      const config = loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
      const logger = createLogger({ level: config.LOG_LEVEL }, pino.destination(2));
      const deps = await sources.openDeps(config, logger);
      try {
        return await work(deps);
      } finally {
        await deps.exchange.close();
        await deps.db.destroy();
      }
    },
    async requireTenant(deps: AppDeps, tenantId: number): Promise<void> {
      const tenant = await sources.findTenant(deps.db, tenantId);
      if (!tenant) throw new CliError(`tenant ${tenantId} does not exist`);
    },
  };
}

/** The root command; usage errors surface as a CommanderError for `runCli`. */
export function createProgram(name: string, description: string): Command {
  return new Command(name).description(description).exitOverride().showHelpAfterError();
}

/** An error class whose message is meant for the operator as it stands. */
export type OperatorErrorClass = abstract new (...args: never[]) => Error;

/**
 * Parses and runs one command line. Exit codes: 0 on success (and for help),
 * 2 for usage errors (commander has printed them), 1 for anything else; a
 * CliError, a ConfigError or one of `operatorErrors` prints `error: <message>`,
 * any other error prints in full.
 */
export async function runCli(
  program: Command,
  argv: string[],
  operatorErrors: readonly OperatorErrorClass[],
): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    if (
      err instanceof CliError ||
      err instanceof ConfigError ||
      operatorErrors.some((kind) => err instanceof kind)
    ) {
      console.error(`error: ${(err as Error).message}`);
      process.exitCode = 1;
      return;
    }
    console.error(err);
    process.exitCode = 1;
  }
}
