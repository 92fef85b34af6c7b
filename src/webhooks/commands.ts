import type { Command } from 'commander';
import {
  CliError,
  JSON_OPTION,
  TENANT_OPTION,
  httpUrl,
  positiveInt,
  print,
  type CommandKit,
} from '../cli/command-kit.js';
import { isoNow } from '../db/time.js';
import { inTransaction } from '../db/transaction.js';
import { MAX_OVERLAP_HOURS, rotateSecret } from './rotate-secret.js';
import { addSender, listSenders } from './senders.js';

/** `webhook add|list|rotate-secret`. */
export function registerWebhookCommands(program: Command, kit: CommandKit): void {
  const webhook = program.command('webhook').description('webhook senders');
  webhook
    .command('add')
    .description(
      'register a sender: canvas (Live Events, verified with its JWKS) or hmac (a signed grade webhook; the secret is shown once)',
    )
    .requiredOption(...TENANT_OPTION)
    .requiredOption('--kind <kind>', 'canvas or hmac')
    .requiredOption('--name <name>', 'a name for the sender')
    .option('--jwks-url <url>', "canvas: the publisher's JWKS URL", httpUrl('--jwks-url'))
    .option('--issuer <iss>', 'canvas: the iss the events must carry')
    .option('--root-account <uuid>', "canvas: the root account uuid of the school's events")
    .option(...JSON_OPTION)
    .action(
      async (opts: {
        tenant: number;
        kind: string;
        name: string;
        jwksUrl?: string;
        issuer?: string;
        rootAccount?: string;
        json?: boolean;
      }) => {
        if (opts.kind !== 'canvas' && opts.kind !== 'hmac')
          throw new CliError(`--kind must be canvas or hmac, got "${opts.kind}"`);
        if (opts.kind === 'canvas' && (!opts.jwksUrl || !opts.rootAccount))
          throw new CliError('a canvas sender needs --jwks-url and --root-account');
        const kind = opts.kind;
        const out = await kit.withDeps(async (deps) => {
          await kit.requireTenant(deps, opts.tenant);
          return inTransaction(deps.db, (trx) =>
            addSender(
              trx,
              deps.secrets,
              deps.config.publicUrl,
              {
                tenantId: opts.tenant,
                kind,
                name: opts.name,
                jwksUrl: opts.jwksUrl,
                issuer: opts.issuer,
                account: opts.rootAccount,
              },
              isoNow(deps.clock),
            ),
          );
        });
        print(
          !!opts.json,
          { ...out },
          `Sender ${out.name} (${out.kind}) posts to ${out.url}${out.secret ? `\nSigning secret (shown once): ${out.secret}` : ''}`,
        );
      },
    );
  webhook
    .command('list')
    .description("a tenant's webhook senders")
    .requiredOption(...TENANT_OPTION)
    .option(...JSON_OPTION)
    .action(async (opts: { tenant: number; json?: boolean }) => {
      const senders = await kit.withDeps((deps) =>
        listSenders(deps.db, deps.config.publicUrl, opts.tenant),
      );
      print(
        !!opts.json,
        { tenantId: opts.tenant, senders },
        senders.map((s) => `${s.senderId} ${s.kind} ${s.name} ${s.url}`).join('\n') ||
          'No senders.',
      );
    });
  webhook
    .command('rotate-secret')
    .description(
      "give a signed grade webhook sender (--sender ID) or the tenant's Data Sync notices (--datasync) a new signing secret, shown once; the previous one is still accepted for --overlap-hours, then refused",
    )
    .requiredOption(...TENANT_OPTION)
    .option('--sender <id>', 'the hmac sender (webhook list)', positiveInt('--sender'))
    .option('--datasync', "the tenant's Data Sync notice secret")
    .option(
      '--overlap-hours <n>',
      `how long the previous secret is still accepted (0 to ${MAX_OVERLAP_HOURS}; 0 refuses it at once)`,
      overlapHours,
      24,
    )
    .option(...JSON_OPTION)
    .action(
      async (opts: {
        tenant: number;
        sender?: number;
        datasync?: boolean;
        overlapHours: number;
        json?: boolean;
      }) => {
        if ((opts.sender === undefined) === !opts.datasync)
          throw new CliError('give either --sender ID or --datasync');
        const out = await kit.withDeps(async (deps) => {
          await kit.requireTenant(deps, opts.tenant);
          return inTransaction(deps.db, (trx) =>
            rotateSecret(
              trx,
              deps.secrets,
              deps.config.publicUrl,
              {
                tenantId: opts.tenant,
                target: opts.datasync ? 'datasync' : { senderId: opts.sender! },
                overlapHours: opts.overlapHours,
              },
              isoNow(deps.clock),
            ),
          );
        });
        print(
          !!opts.json,
          { ...out },
          `New signing secret for ${out.url} (shown once): ${out.secret}\n${
            out.previousAcceptedUntil
              ? `The previous secret is still accepted until ${out.previousAcceptedUntil}, then refused.`
              : 'The previous secret is refused from now on.'
          }`,
        );
      },
    );
}

function overlapHours(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > MAX_OVERLAP_HOURS)
    throw new CliError(
      `--overlap-hours must be a number of hours from 0 to ${MAX_OVERLAP_HOURS}, got "${value}"`,
    );
  return n;
}
