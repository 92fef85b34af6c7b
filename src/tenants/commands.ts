import type { Command } from 'commander';
import {
  CliError,
  JSON_OPTION,
  TENANT_OPTION,
  print,
  type CommandKit,
} from '../cli/command-kit.js';
import { isoNow } from '../db/time.js';
import { setApprovalMode } from '../grades/final-grade-workflow.js';
import { APPROVAL_MODES, type ApprovalMode } from '../grades/final-grades.js';
import { inTransaction } from '../db/transaction.js';
import {
  createApiClient,
  createTenant,
  listApiClients,
  listTenants,
  parseScopes,
  revokeApiClient,
  setTenantTimeZone,
} from './service.js';

/** `tenant create|list|set-time-zone` and `client create|list|revoke`. */
export function registerTenantCommands(program: Command, kit: CommandKit): void {
  const tenant = program.command('tenant').description('tenants');
  tenant
    .command('create')
    .description('create a tenant')
    .requiredOption('--name <name>', 'display name')
    .option('--time-zone <tz>', 'IANA time zone used to bucket grade history by day', 'UTC')
    .option(...JSON_OPTION)
    .action(async (opts: { name: string; timeZone: string; json?: boolean }) => {
      const created = await kit.withDeps((deps) =>
        inTransaction(deps.db, (trx) =>
          createTenant(trx, { name: opts.name, timeZone: opts.timeZone }, isoNow(deps.clock)),
        ),
      );
      print(
        !!opts.json,
        {
          tenantId: created.id,
          uuid: created.uuid,
          name: created.name,
          timeZone: created.timeZone,
        },
        `Created tenant ${created.id} "${created.name}" (${created.uuid}, time zone ${created.timeZone})`,
      );
    });
  tenant
    .command('list')
    .description('list tenants')
    .option(...JSON_OPTION)
    .action(async (opts: { json?: boolean }) => {
      const tenants = await kit.withDeps((deps) => listTenants(deps.db));
      const rows = tenants.map((t) => ({
        tenantId: t.id,
        uuid: t.uuid,
        name: t.name,
        timeZone: t.timeZone,
      }));
      print(
        !!opts.json,
        { tenants: rows },
        rows.map((t) => `${t.tenantId}\t${t.name}\t${t.timeZone}\t${t.uuid}`).join('\n') ||
          '(no tenants)',
      );
    });
  tenant
    .command('set-time-zone')
    .description("change a tenant's time zone")
    .requiredOption(...TENANT_OPTION)
    .requiredOption('--time-zone <tz>', 'IANA time zone')
    .option(...JSON_OPTION)
    .action(async (opts: { tenant: number; timeZone: string; json?: boolean }) => {
      await kit.withDeps((deps) =>
        inTransaction(deps.db, (trx) =>
          setTenantTimeZone(trx, opts.tenant, opts.timeZone, isoNow(deps.clock)),
        ),
      );
      print(
        !!opts.json,
        { tenantId: opts.tenant, timeZone: opts.timeZone },
        `Tenant ${opts.tenant} now uses ${opts.timeZone}`,
      );
    });

  tenant
    .command('set-approval')
    .description(
      'off: final grades go to the SIS as they stand; required: only approved final grades go out',
    )
    .requiredOption(...TENANT_OPTION)
    .requiredOption('--mode <mode>', 'off or required')
    .option(...JSON_OPTION)
    .action(async (opts: { tenant: number; mode: string; json?: boolean }) => {
      if (!(APPROVAL_MODES as readonly string[]).includes(opts.mode))
        throw new CliError(`--mode must be off or required, got "${opts.mode}"`);
      const mode = opts.mode as ApprovalMode;
      await kit.withDeps(async (deps) => {
        await kit.requireTenant(deps, opts.tenant);
        await inTransaction(deps.db, (trx) =>
          setApprovalMode(trx, opts.tenant, mode, isoNow(deps.clock)),
        );
      });
      print(
        !!opts.json,
        { tenantId: opts.tenant, approvalMode: mode },
        mode === 'required'
          ? `Tenant ${opts.tenant}: final grades go to the SIS only once approved`
          : `Tenant ${opts.tenant}: final grades go to the SIS without approval`,
      );
    });

  const client = program.command('client').description('API clients');
  client
    .command('create')
    .description('create an API client; its secret is printed once')
    .requiredOption(...TENANT_OPTION)
    .requiredOption(
      '--scopes <list>',
      'comma-separated: journey, history, progress, exchange, admin, final-grades, approval, reconcile',
    )
    .option('--name <name>', 'display name (shown as the gradebook change user)')
    .option(
      '--grader-name <name>',
      'name shown as the grader of grades this client writes (default: the name)',
    )
    .option(...JSON_OPTION)
    .action(
      async (opts: {
        tenant: number;
        scopes: string;
        name?: string;
        graderName?: string;
        json?: boolean;
      }) => {
        const scopes = parseScopes(opts.scopes);
        const { client: created, secret } = await kit.withDeps((deps) =>
          inTransaction(deps.db, (trx) =>
            createApiClient(
              trx,
              { tenantId: opts.tenant, scopes, name: opts.name, graderName: opts.graderName },
              isoNow(deps.clock),
            ),
          ),
        );
        print(
          !!opts.json,
          {
            tenantId: created.tenantId,
            clientId: created.clientId,
            clientSecret: secret,
            name: created.name,
            scopes,
            graderId: created.graderUserId,
          },
          [
            `Created API client "${created.name}" for tenant ${created.tenantId}`,
            `  client_id:     ${created.clientId}`,
            `  client_secret: ${secret}`,
            `  scopes:        ${scopes.join(', ')}`,
            'The secret is shown only now; it is stored hashed.',
          ].join('\n'),
        );
      },
    );
  client
    .command('list')
    .description("list a tenant's API clients")
    .requiredOption(...TENANT_OPTION)
    .option(...JSON_OPTION)
    .action(async (opts: { tenant: number; json?: boolean }) => {
      const clients = await kit.withDeps(async (deps) => {
        await kit.requireTenant(deps, opts.tenant);
        return listApiClients(deps.db, opts.tenant);
      });
      const rows = clients.map((c) => ({
        clientId: c.clientId,
        name: c.name,
        scopes: c.scopes.split(' '),
        graderId: c.graderUserId,
        lastTokenAt: c.lastTokenAt,
        revokedAt: c.revokedAt,
      }));
      print(
        !!opts.json,
        { tenantId: opts.tenant, clients: rows },
        rows
          .map(
            (c) =>
              `${c.clientId}\t${c.name}\t${c.scopes.join(',')}${c.revokedAt ? '\trevoked' : ''}`,
          )
          .join('\n') || '(no clients)',
      );
    });
  client
    .command('revoke')
    .description('revoke an API client; its tokens stop working at once')
    .requiredOption('--client-id <id>', 'client id')
    .option(...JSON_OPTION)
    .action(async (opts: { clientId: string; json?: boolean }) => {
      const revoked = await kit.withDeps((deps) =>
        inTransaction(deps.db, (trx) => revokeApiClient(trx, opts.clientId, isoNow(deps.clock))),
      );
      if (!revoked) throw new CliError(`no active client "${opts.clientId}"`);
      print(!!opts.json, { clientId: opts.clientId, revoked: true }, `Revoked ${opts.clientId}`);
    });
}
