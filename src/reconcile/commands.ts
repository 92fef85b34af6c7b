import type { Command } from 'commander';
import {
  CliError,
  JSON_OPTION,
  TENANT_OPTION,
  positiveInt,
  print,
  type CommandKit,
} from '../cli/command-kit.js';
import { isoNow } from '../db/time.js';
import { inTransaction } from '../db/transaction.js';
import { findPerson } from '../grades/final-grades.js';
import { openDrift } from './drift.js';
import { presentReport } from './presenters.js';
import { REPAIR_ACTIONS, repair, type RepairAction } from './repair.js';
import { reconcile } from './service.js';

/** `reconcile`: the report of a tenant or a course, and `--repair` of chosen grades. */
export function registerReconcileCommands(program: Command, kit: CommandKit): void {
  program
    .command('reconcile')
    .description(
      'what the LMS holds, what gradebridge holds and what the SIS accepted, for every grade that leaves gradebridge',
    )
    .requiredOption(...TENANT_OPTION)
    .option('--course <batchUid>', 'only this course (its SIS id, Journey courseId)')
    .option('--all', 'list every grade, not only those that need attention')
    .option(
      '--dry-run',
      'what would go out now: the grades the next exchange carries and those waiting for the LMS, and how they differ',
    )
    .option('--repair <action>', `repair chosen grades: ${REPAIR_ACTIONS.join(', ')}`)
    .option(
      '--column <id>',
      'with --repair: the column id (columnId in the report)',
      positiveInt('--column'),
    )
    .option(
      '--user <userIds>',
      'with --repair: comma-separated learner ids as the report shows them (Journey userId or lti:SUB)',
    )
    .option('--by <userId>', 'with --repair: the person the repair is recorded for')
    .option(...JSON_OPTION)
    .action(
      async (opts: {
        tenant: number;
        course?: string;
        all?: boolean;
        dryRun?: boolean;
        repair?: string;
        column?: number;
        user?: string;
        by?: string;
        json?: boolean;
      }) => {
        if (opts.repair && !(REPAIR_ACTIONS as readonly string[]).includes(opts.repair))
          throw new CliError(`--repair must be one of ${REPAIR_ACTIONS.join(', ')}`);
        if (opts.repair && (!opts.course || !opts.column || !opts.user))
          throw new CliError('--repair needs --course, --column and --user: the grades to repair');
        const out = await kit.withDeps(async (deps) => {
          await kit.requireTenant(deps, opts.tenant);
          let courseId: number | undefined;
          if (opts.course) {
            const c = await deps
              .db('courses')
              .where({ tenant_id: opts.tenant, batch_uid: opts.course })
              .first('id');
            if (!c) throw new CliError(`tenant ${opts.tenant} has no course "${opts.course}"`);
            courseId = c.id;
          }
          const repairs: Array<{ userId: string; done: string }> = [];
          if (opts.repair) {
            let actor = { userId: null as number | null, name: 'command line' };
            if (opts.by) {
              const p = await findPerson(deps.db, opts.tenant, opts.by);
              if (!p) throw new CliError(`tenant ${opts.tenant} has no person "${opts.by}"`);
              actor = { userId: p.id, name: p.name };
            }
            for (const id of opts
              .user!.split(',')
              .map((u) => u.trim())
              .filter(Boolean)) {
              const learner = await findPerson(deps.db, opts.tenant, id);
              if (!learner) throw new CliError(`tenant ${opts.tenant} has no learner "${id}"`);
              const { done } = await inTransaction(deps.db, (trx) =>
                repair(trx, {
                  tenantId: opts.tenant,
                  courseId: courseId!,
                  columnId: opts.column!,
                  userId: learner.id,
                  action: opts.repair as RepairAction,
                  actor,
                  now: isoNow(deps.clock),
                }),
              );
              repairs.push({ userId: id, done });
            }
          }
          const report = await reconcile(deps, opts.tenant, courseId);
          const drift = await openDrift(deps.db, [...new Set(report.items.map((i) => i.courseId))]);
          return {
            ...presentReport(
              report,
              drift,
              opts.dryRun
                ? (i) => !!i.sis?.wouldSend || i.lms?.state === 'waiting'
                : opts.all
                  ? undefined
                  : ['lms_differs', 'sis_differs', 'waiting', 'failed', 'unknown'],
            ),
            ...(opts.repair ? { repairs } : {}),
          };
        });
        const lines = [
          ...(out.repairs ?? []).map((r) => `repaired ${r.userId}: ${r.done}`),
          Object.entries(out.counts)
            .map(([state, n]) => `${state} ${n}`)
            .join(', '),
          ...out.items.map(
            (i) =>
              `${i.state}\t${i.course}\t${i.column} (${i.columnId})\t${i.userId}\tgradebridge ${i.gradebridge?.score ?? '-'}\tLMS ${i.lms ? (i.lms.score ?? '-') : 'n/a'}\tSIS ${i.sis ? (i.sis.accepted?.score ?? '-') : 'n/a'}`,
          ),
        ];
        print(!!opts.json, out, lines.join('\n'));
      },
    );
}
