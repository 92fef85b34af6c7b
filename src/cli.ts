/**
 * Operator command line: `npm run --silent cli -- <command> ... [--json]`.
 * With --json every command prints exactly one JSON object on stdout;
 * errors go to stderr with a non-zero exit code. Each feature's commands live
 * in its folder (`<feature>/commands.ts`); what they share is in
 * cli/command-kit.ts.
 */
import type { Command } from 'commander';
import { openDeps } from './bootstrap.js';
import { createCommandKit, createProgram, runCli, type CommandKit } from './cli/command-kit.js';
import { registerCourseCommands } from './courses/commands.js';
import { registerDbCommands } from './db/commands.js';
import { registerExchangeCommands } from './exchange/commands.js';
import { registerFinalGradeCommands } from './final-grades/commands.js';
import { registerReconcileCommands } from './reconcile/commands.js';
import { AppError } from './http/errors.js';
import { registerLtiCommands } from './lti/commands.js';
import { RegistrationError } from './lti/registration.js';
import { registerTenantCommands } from './tenants/commands.js';
import { findTenant, TenantInputError } from './tenants/service.js';
import { registerWebhookCommands } from './webhooks/commands.js';

export function buildCli(kit: CommandKit): Command {
  const program = createProgram('gradebridge', 'gradebridge operator commands');
  registerTenantCommands(program, kit);
  registerCourseCommands(program, kit);
  registerLtiCommands(program, kit);
  registerExchangeCommands(program, kit);
  registerFinalGradeCommands(program, kit);
  registerReconcileCommands(program, kit);
  registerWebhookCommands(program, kit);
  registerDbCommands(program, kit);
  return program;
}

await runCli(buildCli(createCommandKit({ openDeps, findTenant })), process.argv, [
  TenantInputError,
  RegistrationError,
  AppError,
]);
