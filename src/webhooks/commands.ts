import type { Command } from 'commander';
import {
  CliError,
  JSON_OPTION,
  TENANT_OPTION,
  httpUrl,
  print,
  type CommandKit,
} from '../cli/command-kit.js';
import { isoNow } from '../db/time.js';
import { inTransaction } from '../db/transaction.js';
import { addSender, listSenders } from './senders.js';

/** `webhook add|list`. */
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
}
