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
import type { AppDeps } from '../deps.js';
import {
  addApprover,
  isApprover,
  listApprovers,
  removeApprover,
  type Actor,
} from '../grades/final-grade-workflow.js';
import { finalGradeStatus, findPerson, ltiSubs, personId } from '../grades/final-grades.js';
import { decide, submit } from './actions.js';
import { presentStatus, presentSubmission } from './presenters.js';

const COURSE_OPTION = ['--course <batchUid>', "the course's SIS id (Journey courseId)"] as const;
const USER_OPTION = [
  '--user <userId>',
  'the person the step is recorded for: their Journey userId, or lti:SUB for people known only from the LMS',
] as const;
const COMMENT_OPTION = ['--comment <text>', 'a comment recorded with the step'] as const;

async function courseId(deps: AppDeps, tenantId: number, batchUid: string): Promise<number> {
  const course = await deps
    .db('courses')
    .where({ tenant_id: tenantId, batch_uid: batchUid })
    .first('id');
  if (!course) throw new CliError(`tenant ${tenantId} has no course "${batchUid}"`);
  return course.id;
}

async function person(deps: AppDeps, tenantId: number, id: string) {
  const found = await findPerson(deps.db, tenantId, id);
  if (!found) throw new CliError(`tenant ${tenantId} has no person "${id}"`);
  return found;
}

/** `final-grades status|submit|approve|reject` and `approver add|list|remove`. */
export function registerFinalGradeCommands(program: Command, kit: CommandKit): void {
  const finals = program
    .command('final-grades')
    .description("a course's final grades: review, submit, approve, reject");

  finals
    .command('status')
    .description('per learner: the final score and grade, the state and the flags')
    .requiredOption(...TENANT_OPTION)
    .requiredOption(...COURSE_OPTION)
    .option(...JSON_OPTION)
    .action(async (opts: { tenant: number; course: string; json?: boolean }) => {
      const out = await kit.withDeps(async (deps) => {
        await kit.requireTenant(deps, opts.tenant);
        const id = await courseId(deps, opts.tenant, opts.course);
        return presentStatus((await finalGradeStatus(deps.db, opts.tenant, id))!);
      });
      const lines = [
        `${out.course.title} (${out.course.courseId}): approval ${out.approvalMode}; final column ${out.finalColumn?.name ?? '(none)'}`,
        ...out.flags.map((f) => `! ${f.message}`),
        `a send now carries ${out.send.finalGrades} final grades, ${out.send.changedSinceLastSend} changed since the last send, ${out.send.blocked} held back`,
        ...out.learners.map(
          (l) =>
            `${l.userId}\t${l.score ?? '-'}\t${l.grade ?? '-'}\t${l.state}${l.flags.length ? `\t${l.flags.join(',')}` : ''}`,
        ),
      ];
      print(!!opts.json, out, lines.join('\n'));
    });

  finals
    .command('submit')
    .description("submit the course's final grades for approval (a snapshot of them now)")
    .requiredOption(...TENANT_OPTION)
    .requiredOption(...COURSE_OPTION)
    .option(...USER_OPTION)
    .option(...COMMENT_OPTION)
    .option(...JSON_OPTION)
    .action(
      async (opts: {
        tenant: number;
        course: string;
        user?: string;
        comment?: string;
        json?: boolean;
      }) => {
        const out = await kit.withDeps(async (deps) => {
          await kit.requireTenant(deps, opts.tenant);
          const id = await courseId(deps, opts.tenant, opts.course);
          let actor: Actor = { userId: null, name: 'command line', canApprove: false };
          if (opts.user) {
            const p = await person(deps, opts.tenant, opts.user);
            const enrolled = await deps
              .db('enrollments')
              .where({ course_id: id, user_id: p.id })
              .whereIn('role', ['Instructor', 'TeachingAssistant'])
              .first('id');
            if (!enrolled)
              throw new CliError(
                `"${opts.user}" is not course staff of ${opts.course}: only course staff submit final grades`,
              );
            actor = { userId: p.id, name: p.name, canApprove: false };
          }
          return inTransaction(deps.db, (trx) =>
            submit(deps, trx, {
              tenantId: opts.tenant,
              courseId: id,
              actor,
              comment: opts.comment ?? null,
              now: isoNow(deps.clock),
            }),
          );
        });
        const s = presentSubmission(out.submission)!;
        print(
          !!opts.json,
          { submission: s },
          `Submitted ${s.learners} final grades of ${opts.course} for approval (submission ${s.id})`,
        );
      },
    );

  for (const kind of ['approve', 'reject'] as const) {
    finals
      .command(kind)
      .description(
        kind === 'approve'
          ? "approve the course's waiting submission: its values are what the SIS receives"
          : "reject the course's waiting submission, with a comment for the teacher",
      )
      .requiredOption(...TENANT_OPTION)
      .requiredOption(...COURSE_OPTION)
      .requiredOption(...USER_OPTION)
      .option(...COMMENT_OPTION)
      .option(...JSON_OPTION)
      .action(
        async (opts: {
          tenant: number;
          course: string;
          user: string;
          comment?: string;
          json?: boolean;
        }) => {
          const out = await kit.withDeps(async (deps) => {
            await kit.requireTenant(deps, opts.tenant);
            const id = await courseId(deps, opts.tenant, opts.course);
            const p = await person(deps, opts.tenant, opts.user);
            if (!(await isApprover(deps.db, opts.tenant, p.id)))
              throw new CliError(
                `"${opts.user}" is not an approver of tenant ${opts.tenant} (approver add)`,
              );
            const pending = await deps
              .db('final_grade_submissions')
              .where({ course_id: id, state: 'submitted' })
              .orderBy('id', 'desc')
              .first('id');
            if (!pending)
              throw new CliError(`${opts.course} has no submission waiting for a decision`);
            return inTransaction(deps.db, (trx) =>
              decide(deps, trx, {
                tenantId: opts.tenant,
                submissionId: pending.id,
                decision: kind,
                actor: { userId: p.id, name: p.name, canApprove: true },
                comment: opts.comment ?? null,
                now: isoNow(deps.clock),
              }),
            );
          });
          const s = presentSubmission(out.submission)!;
          print(
            !!opts.json,
            { submission: s, sendQueued: out.sendQueued },
            `${kind === 'approve' ? 'Approved' : 'Rejected'} submission ${s.id} of ${opts.course}${out.sendQueued ? '; the approved final grades are being sent to the SIS' : ''}`,
          );
        },
      );
  }

  const approver = program.command('approver').description('the people who approve final grades');
  approver
    .command('add')
    .description('name a person an approver of the tenant')
    .requiredOption(...TENANT_OPTION)
    .requiredOption(...USER_OPTION)
    .option(...JSON_OPTION)
    .action(async (opts: { tenant: number; user: string; json?: boolean }) => {
      const out = await kit.withDeps(async (deps) => {
        await kit.requireTenant(deps, opts.tenant);
        const p = await person(deps, opts.tenant, opts.user);
        const added = await inTransaction(deps.db, (trx) =>
          addApprover(trx, opts.tenant, p.id, 'cli', isoNow(deps.clock)),
        );
        return { tenantId: opts.tenant, userId: opts.user, name: p.name, added };
      });
      print(
        !!opts.json,
        out,
        out.added
          ? `${out.name} (${out.userId}) approves final grades of tenant ${out.tenantId}`
          : `${out.name} was already an approver`,
      );
    });
  approver
    .command('remove')
    .description('remove an approver')
    .requiredOption(...TENANT_OPTION)
    .requiredOption(...USER_OPTION)
    .option(...JSON_OPTION)
    .action(async (opts: { tenant: number; user: string; json?: boolean }) => {
      const out = await kit.withDeps(async (deps) => {
        await kit.requireTenant(deps, opts.tenant);
        const p = await person(deps, opts.tenant, opts.user);
        const removed = await inTransaction(deps.db, (trx) =>
          removeApprover(trx, opts.tenant, p.id),
        );
        return { tenantId: opts.tenant, userId: opts.user, removed };
      });
      print(
        !!opts.json,
        out,
        out.removed ? `${out.userId} no longer approves` : `${out.userId} was not an approver`,
      );
    });
  approver
    .command('list')
    .description("list the tenant's approvers")
    .requiredOption(...TENANT_OPTION)
    .option(...JSON_OPTION)
    .action(async (opts: { tenant: number; json?: boolean }) => {
      const approvers = await kit.withDeps(async (deps) => {
        await kit.requireTenant(deps, opts.tenant);
        const rows = await listApprovers(deps.db, opts.tenant);
        const subs = await ltiSubs(
          deps.db,
          opts.tenant,
          rows.map((r) => r.userId as number),
        );
        return rows.map((r) => ({
          userId: personId({ id: r.userId, batch_uid: r.batchUid }, subs),
          name: r.name,
          source: r.source,
        }));
      });
      print(
        !!opts.json,
        { tenantId: opts.tenant, approvers },
        approvers.map((a) => `${a.userId}\t${a.name ?? ''}\t${a.source}`).join('\n') ||
          '(no approvers)',
      );
    });
}
