import type { Command } from 'commander';
import {
  CliError,
  JSON_OPTION,
  TENANT_OPTION,
  print,
  type CommandKit,
} from '../cli/command-kit.js';
import { isoNow } from '../db/time.js';
import { inTransaction } from '../db/transaction.js';
import { setFinalColumn } from './final-column.js';
import { setCourseLock } from './service.js';

/** `course lock|unlock|final-column`, courses named by their batch_uid. */
export function registerCourseCommands(program: Command, kit: CommandKit): void {
  const course = program.command('course').description('courses');
  for (const [name, locked] of [
    ['lock', true],
    ['unlock', false],
  ] as const) {
    course
      .command(name)
      .description(
        `${name} a course's gradebook (a locked gradebook refuses grade and column changes)`,
      )
      .requiredOption(...TENANT_OPTION)
      .requiredOption('--course <batchUid>', "the course's batch_uid")
      .option(...JSON_OPTION)
      .action(async (opts: { tenant: number; course: string; json?: boolean }) => {
        const found = await kit.withDeps((deps) =>
          inTransaction(deps.db, (trx) =>
            setCourseLock(trx, opts.tenant, opts.course, locked, 'cli', isoNow(deps.clock)),
          ),
        );
        if (!found) throw new CliError(`tenant ${opts.tenant} has no course "${opts.course}"`);
        print(
          !!opts.json,
          { tenantId: opts.tenant, courseId: opts.course, isLocked: locked },
          `Course ${opts.course} ${locked ? 'locked' : 'unlocked'}`,
        );
      });
  }

  course
    .command('final-column')
    .description(
      "mark a weighted or total column as the course's final grade (sent as the final summary when the course has no external grade column)",
    )
    .requiredOption(...TENANT_OPTION)
    .requiredOption('--course <batchUid>', "the course's batch_uid")
    .requiredOption('--column <name>', "the column's name")
    .option('--clear', 'unmark it instead')
    .option(...JSON_OPTION)
    .action(
      async (opts: {
        tenant: number;
        course: string;
        column: string;
        clear?: boolean;
        json?: boolean;
      }) => {
        const result = await kit.withDeps((deps) =>
          inTransaction(deps.db, (trx) =>
            setFinalColumn(
              trx,
              opts.tenant,
              opts.course,
              opts.column,
              !opts.clear,
              isoNow(deps.clock),
            ),
          ),
        );
        if (typeof result === 'string') throw new CliError(result);
        print(
          !!opts.json,
          {
            tenantId: opts.tenant,
            courseId: opts.course,
            column: opts.column,
            isFinal: !opts.clear,
          },
          `${opts.column} is ${opts.clear ? 'no longer' : 'now'} the final grade of ${opts.course}`,
        );
      },
    );
}
