import type { Command } from 'commander';
import { JSON_OPTION, print, type CommandKit } from '../cli/command-kit.js';
import { migrateLatest, rollbackAll } from './migrate.js';

/** `db migrate|rollback`. */
export function registerDbCommands(program: Command, kit: CommandKit): void {
  const db = program.command('db').description('database');
  db.command('migrate')
    .description('apply pending migrations')
    .option(...JSON_OPTION)
    .action(async (opts: { json?: boolean }) => {
      const applied = await kit.withDeps(async (deps) => migrateLatest(deps.db));
      print(
        !!opts.json,
        { applied },
        applied.length ? `Applied ${applied.join(', ')}` : 'Already up to date',
      );
    });
  db.command('rollback')
    .description('undo every migration (drops all data)')
    .requiredOption('--all', 'confirm: roll back everything')
    .option(...JSON_OPTION)
    .action(async (opts: { json?: boolean }) => {
      const undone = await kit.withDeps(async (deps) => rollbackAll(deps.db));
      print(!!opts.json, { undone }, `Rolled back ${undone.length} migration(s)`);
    });
}
