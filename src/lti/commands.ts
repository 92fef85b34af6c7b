import type { Command } from 'commander';
import {
  CliError,
  JSON_OPTION,
  TENANT_OPTION,
  positiveInt,
  print,
  type CommandKit,
} from '../cli/command-kit.js';
import { registerPlatform, registrationUrl, toolUrls } from './registration.js';
import { pullAndRecord } from './services.js';

/** `platform register|registration-url|list` and `lti pull`. */
export function registerLtiCommands(program: Command, kit: CommandKit): void {
  const platform = program.command('platform').description('LTI 1.3 platforms (LMSs)');
  platform
    .command('register')
    .description(
      "register an LMS (its issuer and the tool's client id there) with one or more deployments for a tenant",
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
        json?: boolean;
      }) => {
        if (opts.deployment.length === 0)
          throw new CliError('at least one --deployment is required');
        const result = await kit.withDeps(async (deps) => {
          const registered = await registerPlatform(deps, {
            tenantId: opts.tenant,
            issuer: opts.issuer,
            clientId: opts.clientId,
            name: opts.name,
            authenticationEndpoint: opts.authUrl,
            accessTokenEndpoint: opts.tokenUrl,
            authorizationServer: opts.authorizationServer,
            keysetUrl: opts.keysetUrl,
            deploymentIds: opts.deployment,
          });
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
    .command('registration-url')
    .description("a tenant's LTI Dynamic Registration URL, to paste into an LMS")
    .requiredOption(...TENANT_OPTION)
    .option('--days <n>', 'how long the URL stays valid', positiveInt('--days'), 7)
    .option(...JSON_OPTION)
    .action(async (opts: { tenant: number; days: number; json?: boolean }) => {
      const url = await kit.withDeps(async (deps) => {
        await kit.requireTenant(deps, opts.tenant);
        return registrationUrl(deps, deps.config.publicUrl, opts.tenant, opts.days * 86400);
      });
      print(!!opts.json, { tenantId: opts.tenant, registrationUrl: url }, url);
    });
  platform
    .command('list')
    .description("a tenant's platforms and deployments")
    .requiredOption(...TENANT_OPTION)
    .option(...JSON_OPTION)
    .action(async (opts: { tenant: number; json?: boolean }) => {
      const rows = await kit.withDeps((deps) =>
        deps
          .db('lti_deployments')
          .where({ tenant_id: opts.tenant })
          .orderBy('id')
          .select('issuer', 'client_id', 'deployment_id', 'platform_kid'),
      );
      const platforms = rows.map((r) => ({
        issuer: r.issuer,
        clientId: r.client_id,
        deploymentId: r.deployment_id,
        platformId: r.platform_kid,
      }));
      print(
        !!opts.json,
        { tenantId: opts.tenant, platforms },
        platforms.map((p) => `${p.issuer}\t${p.clientId}\t${p.deploymentId}`).join('\n') ||
          '(none)',
      );
    });

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
