import { userInfo } from 'node:os';
import type { Command } from 'commander';
import {
  CliError,
  JSON_OPTION,
  TENANT_OPTION,
  positiveInt,
  print,
  type CommandKit,
} from '../cli/command-kit.js';
import { registrationLink } from './dynamic-registration.js';
import {
  listPlatforms,
  platformEvents,
  registerPlatform,
  replacePlatformEndpoints,
  toolUrls,
  type PlatformListing,
} from './registration.js';
import { pullAndRecord } from './services.js';

/** Who runs a command, for the record: --by, else the operating system's user. */
function actorName(by: string | undefined): string {
  if (by?.trim()) return by.trim();
  try {
    return `${userInfo().username} (command line)`;
  } catch {
    return 'command line';
  }
}

/** A platform's line in `platform list`: its deployments, how they came, or that it awaits its first launch. */
function platformLine(p: PlatformListing): string {
  const deployments = p.deployments.map((d) =>
    d.source === 'first_launch'
      ? `${d.deploymentId} (learned from the first launch, ${d.addedAt ?? '?'})`
      : d.deploymentId,
  );
  return [
    `${p.issuer}\t${p.clientId}\t${
      p.awaitingDeployment
        ? 'deployment: awaiting the first launch'
        : `deployments: ${deployments.join(', ') || '(none)'}`
    }`,
    `  registered by ${p.registeredVia.replace('_', ' ')} at ${p.registeredAt ?? '?'}; auth ${p.authUrl ?? '?'}, token ${p.tokenUrl ?? '?'}, keyset ${p.keysetUrl ?? '?'}${
      p.endpointsReplacedAt ? `; endpoints replaced at ${p.endpointsReplacedAt}` : ''
    }`,
  ].join('\n');
}

/** `platform register|replace-endpoints|registration-url|list|history` and `lti pull`. */
export function registerLtiCommands(program: Command, kit: CommandKit): void {
  const platform = program.command('platform').description('LTI 1.3 platforms (LMSs)');
  platform
    .command('register')
    .description(
      "register an LMS (its issuer and the tool's client id there) with one or more deployments for a tenant; registering it again adds deployments, and never changes its endpoints (see replace-endpoints)",
    )
    .requiredOption(...TENANT_OPTION)
    .requiredOption('--issuer <url>', "the platform's issuer (iss)")
    .requiredOption('--client-id <id>', 'the client id the LMS gave the tool')
    .requiredOption('--auth-url <url>', "the platform's OIDC authorization endpoint")
    .requiredOption('--token-url <url>', "the platform's access token endpoint")
    .requiredOption('--keyset-url <url>', "the platform's JWKS URL")
    .option(
      '--deployment <id>',
      'a deployment id (repeat for several)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--name <name>', 'a name for the platform')
    .option('--authorization-server <url>', 'aud for access token requests, when not the token URL')
    .option('--by <name>', 'who registers it, for the record (default: your user name)')
    .option(...JSON_OPTION)
    .action(
      async (opts: {
        tenant: number;
        issuer: string;
        clientId: string;
        authUrl: string;
        tokenUrl: string;
        keysetUrl: string;
        deployment: string[];
        name?: string;
        authorizationServer?: string;
        by?: string;
        json?: boolean;
      }) => {
        if (opts.deployment.length === 0)
          throw new CliError('at least one --deployment is required');
        const result = await kit.withDeps(async (deps) => {
          const registered = await registerPlatform(
            deps,
            {
              tenantId: opts.tenant,
              issuer: opts.issuer,
              clientId: opts.clientId,
              name: opts.name,
              authenticationEndpoint: opts.authUrl,
              accessTokenEndpoint: opts.tokenUrl,
              authorizationServer: opts.authorizationServer,
              keysetUrl: opts.keysetUrl,
              deploymentIds: opts.deployment,
            },
            { via: 'command_line', actor: actorName(opts.by) },
          );
          return { ...registered, toolUrls: toolUrls(deps.config.publicUrl) };
        });
        print(
          !!opts.json,
          result,
          [
            `Registered ${result.issuer} (client ${result.clientId}) for tenant ${result.tenantId}`,
            `  deployments: ${result.deployments.join(', ')}`,
            `  paste into the LMS: login ${result.toolUrls.login}, launch ${result.toolUrls.launch}, keyset ${result.toolUrls.keys}`,
          ].join('\n'),
        );
      },
    );
  platform
    .command('replace-endpoints')
    .description(
      "replace a registered platform's auth URL, token URL, keyset URL or authorization server, on purpose: the change (before, after, who, why) is recorded and logged",
    )
    .requiredOption(...TENANT_OPTION)
    .requiredOption('--issuer <url>', "the platform's issuer (iss)")
    .requiredOption('--client-id <id>', "the tool's client id there")
    .option('--auth-url <url>', 'the new OIDC authorization endpoint')
    .option('--token-url <url>', 'the new access token endpoint')
    .option('--keyset-url <url>', "the new JWKS URL (the platform's signing keys)")
    .option('--authorization-server <url>', 'the new aud for access token requests')
    .requiredOption('--reason <text>', 'why, kept with the change')
    .option('--by <name>', 'who, kept with the change (default: your user name)')
    .option(...JSON_OPTION)
    .action(
      async (opts: {
        tenant: number;
        issuer: string;
        clientId: string;
        authUrl?: string;
        tokenUrl?: string;
        keysetUrl?: string;
        authorizationServer?: string;
        reason: string;
        by?: string;
        json?: boolean;
      }) => {
        const result = await kit.withDeps(async (deps) => {
          await kit.requireTenant(deps, opts.tenant);
          return replacePlatformEndpoints(deps, {
            tenantId: opts.tenant,
            issuer: opts.issuer,
            clientId: opts.clientId,
            authenticationEndpoint: opts.authUrl,
            accessTokenEndpoint: opts.tokenUrl,
            keysetUrl: opts.keysetUrl,
            authorizationServer: opts.authorizationServer,
            reason: opts.reason,
            actor: actorName(opts.by),
          });
        });
        print(
          !!opts.json,
          { ...result },
          [
            `Replaced for ${result.issuer} (client ${result.clientId}), recorded as event ${result.eventId}:`,
            ...Object.entries(result.changed).map(
              ([what, c]) => `  ${what}: ${c.from ?? '(none)'} -> ${c.to}`,
            ),
          ].join('\n'),
        );
      },
    );
  platform
    .command('registration-url')
    .description(
      'a Dynamic Registration URL for a tenant, to paste into an LMS: it registers one platform, once',
    )
    .requiredOption(...TENANT_OPTION)
    .option('--days <n>', 'how long the URL stays valid', positiveInt('--days'), 7)
    .option(...JSON_OPTION)
    .action(async (opts: { tenant: number; days: number; json?: boolean }) => {
      const link = await kit.withDeps(async (deps) => {
        await kit.requireTenant(deps, opts.tenant);
        return registrationLink(deps, deps.config.publicUrl, opts.tenant, opts.days * 86400);
      });
      print(
        !!opts.json,
        { tenantId: opts.tenant, registrationUrl: link.url, expiresAt: link.expiresAt },
        `${link.url}\n(registers one platform, once; valid until ${link.expiresAt})`,
      );
    });
  platform
    .command('list')
    .description(
      "a tenant's platforms: their deployments (and which were learned from a first launch, or that one is awaited) and endpoints",
    )
    .requiredOption(...TENANT_OPTION)
    .option(...JSON_OPTION)
    .action(async (opts: { tenant: number; json?: boolean }) => {
      const platforms = await kit.withDeps((deps) => listPlatforms(deps, opts.tenant));
      print(
        !!opts.json,
        { tenantId: opts.tenant, platforms },
        platforms.map(platformLine).join('\n') || '(none)',
      );
    });
  platform
    .command('history')
    .description(
      "what happened to a tenant's platform registrations: registered, deployments added or learned, endpoints replaced (who, why)",
    )
    .requiredOption(...TENANT_OPTION)
    .option('--issuer <url>', 'only this platform')
    .option('--client-id <id>', 'only this client id')
    .option(...JSON_OPTION)
    .action(
      async (opts: { tenant: number; issuer?: string; clientId?: string; json?: boolean }) => {
        const events = await kit.withDeps((deps) =>
          platformEvents(deps, opts.tenant, { issuer: opts.issuer, clientId: opts.clientId }),
        );
        print(
          !!opts.json,
          { tenantId: opts.tenant, events },
          events
            .map(
              (e) =>
                `${e.at ?? '?'}\t${e.kind}\t${e.issuer}\t${e.clientId}${e.actor ? `\tby ${e.actor}` : ''}${
                  e.reason ? `\t"${e.reason}"` : ''
                }\t${JSON.stringify(e.detail)}`,
            )
            .join('\n') || '(none)',
        );
      },
    );

  const lti = program.command('lti').description('LTI courses');
  lti
    .command('pull')
    .description("pull an LMS course's roster, line items and results now")
    .requiredOption(...TENANT_OPTION)
    .requiredOption('--context <id>', "the LMS's context (course) id")
    .option('--deployment <id>', 'the deployment, when the context id is known on several')
    .option(...JSON_OPTION)
    .action(
      async (opts: { tenant: number; context: string; deployment?: string; json?: boolean }) => {
        const out = await kit.withDeps(async (deps) => {
          const q = deps
            .db('lti_contexts as x')
            .join('lti_deployments as d', 'd.id', 'x.deployment_row_id')
            .join('courses as c', 'c.id', 'x.course_id')
            .where({ 'x.tenant_id': opts.tenant, 'x.context_id': opts.context })
            .select('x.id', 'd.deployment_id', 'c.id as course_id', 'c.title');
          if (opts.deployment) q.where('d.deployment_id', opts.deployment);
          const found = await q;
          if (found.length === 0)
            throw new CliError(
              `tenant ${opts.tenant} has no LMS context "${opts.context}" (it is known after a first launch)`,
            );
          if (found.length > 1)
            throw new CliError('the context id is known on several deployments; add --deployment');
          const summary = await pullAndRecord(deps, found[0].id);
          return {
            tenantId: opts.tenant,
            context: opts.context,
            deploymentId: found[0].deployment_id,
            course: { id: found[0].course_id, title: found[0].title },
            read: {
              members: summary.members,
              lineItems: summary.lineItems,
              results: summary.results,
            },
            recorded: {
              versions: summary.versions,
              columnsCreated: summary.columnsCreated,
              usersCreated: summary.usersCreated,
            },
          };
        });
        print(
          !!opts.json,
          out,
          `Pulled ${out.context}: read ${out.read.members} members, ${out.read.lineItems} line items, ${out.read.results} results; recorded ${out.recorded.versions} grade versions`,
        );
      },
    );
}
