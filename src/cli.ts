/**
 * Operator command line: `npm run --silent cli -- <command> ... [--json]`.
 * With --json every command prints exactly one JSON object on stdout;
 * errors go to stderr with a non-zero exit code.
 */
import { Command, CommanderError } from 'commander';
import { pino } from 'pino';
import { ConfigError, loadConfig } from '../config/index.js';
import { openDeps } from './bootstrap.js';
import type { AppDeps } from './deps.js';
import { rollbackAll, migrateLatest } from './db/migrate.js';
import { isoNow } from './db/time.js';
import { inTransaction } from './db/transaction.js';
import { createLogger } from './logger.js';
import {
  TenantInputError,
  createApiClient,
  createTenant,
  findTenant,
  listApiClients,
  listTenants,
  parseScopes,
  revokeApiClient,
  setTenantTimeZone,
} from './tenants/service.js';
import { setCourseLock } from './courses/service.js';
import {
  registerPlatform,
  RegistrationError,
  registrationUrl,
  toolUrls,
} from './lti/registration.js';
import { pullAndRecord } from './lti/services.js';
import { pollNow } from './exchange/jobs.js';
import { setFinalColumn } from './exchange/final-column.js';
import { addSender, listSenders } from './webhooks/senders.js';

class CliError extends Error {}

type Output = Record<string, unknown>;

function print(json: boolean, value: Output, human: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${human}\n`);
}

function httpUrl(name: string) {
  return (value: string): string => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new CliError(`${name} must be an http(s) URL, got "${value}"`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw new CliError(`${name} must be an http(s) URL, got "${value}"`);
    return value;
  };
}

function positiveNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0 || n > 10000)
      throw new CliError(`${name} must be a number above 0 (and at most 10000), got "${value}"`);
    return n;
  };
}

function positiveInt(name: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < 1)
      throw new CliError(`${name} must be a positive integer, got "${value}"`);
    return Number(value);
  };
}

async function withDeps<T>(work: (deps: AppDeps) => Promise<T>): Promise<T> {
  const config = loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
  const logger = createLogger({ level: config.LOG_LEVEL }, pino.destination(2));
  const deps = await openDeps(config, logger);
  try {
    return await work(deps);
  } finally {
    await deps.exchange.close();
    await deps.db.destroy();
  }
}

async function requireTenant(deps: AppDeps, id: number) {
  const tenant = await findTenant(deps.db, id);
  if (!tenant) throw new CliError(`tenant ${id} does not exist`);
  return tenant;
}

async function requireConnection(deps: AppDeps, tenantId: number) {
  const conn = await deps.exchange.connection(deps.db, tenantId);
  if (!conn)
    throw new CliError(`tenant ${tenantId} has no Data Sync connection (datasync connect)`);
  return conn;
}

/** Options most commands take, spelled once. */
const TENANT_OPTION = ['--tenant <id>', 'tenant id', positiveInt('--tenant')] as const;
const JSON_OPTION = ['--json', 'print one JSON object'] as const;

export function buildCli(): Command {
  const program = new Command('gradebridge')
    .description('gradebridge operator commands')
    .exitOverride()
    .showHelpAfterError();

  const tenant = program.command('tenant').description('tenants');
  tenant
    .command('create')
    .description('create a tenant')
    .requiredOption('--name <name>', 'display name')
    .option('--time-zone <tz>', 'IANA time zone used to bucket grade history by day', 'UTC')
    .option(...JSON_OPTION)
    .action(async (opts: { name: string; timeZone: string; json?: boolean }) => {
      const created = await withDeps((deps) =>
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
      const tenants = await withDeps((deps) => listTenants(deps.db));
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
      await withDeps((deps) =>
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

  const client = program.command('client').description('API clients');
  client
    .command('create')
    .description('create an API client; its secret is printed once')
    .requiredOption(...TENANT_OPTION)
    .requiredOption(
      '--scopes <list>',
      'comma-separated: journey, history, progress, exchange, admin',
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
        const { client: created, secret } = await withDeps((deps) =>
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
      const clients = await withDeps(async (deps) => {
        await requireTenant(deps, opts.tenant);
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
      const revoked = await withDeps((deps) =>
        inTransaction(deps.db, (trx) => revokeApiClient(trx, opts.clientId, isoNow(deps.clock))),
      );
      if (!revoked) throw new CliError(`no active client "${opts.clientId}"`);
      print(!!opts.json, { clientId: opts.clientId, revoked: true }, `Revoked ${opts.clientId}`);
    });

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
        const found = await withDeps((deps) =>
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
        const result = await withDeps(async (deps) => {
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
      const url = await withDeps(async (deps) => {
        await requireTenant(deps, opts.tenant);
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
      const rows = await withDeps((deps) =>
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
        const out = await withDeps(async (deps) => {
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
        const result = await withDeps((deps) =>
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

  const datasync = program.command('datasync').description('Data Sync Grades Exchange');
  datasync
    .command('connect')
    .description("set a tenant's Data Sync connection (final grades go out through it)")
    .requiredOption(...TENANT_OPTION)
    .requiredOption(
      '--base-url <url>',
      'the Grades API base, e.g. https://api.us2.kimonocloud.com/v2/grades',
      httpUrl('--base-url'),
    )
    .requiredOption('--token-url <url>', 'the OAuth2 token endpoint', httpUrl('--token-url'))
    .requiredOption('--client-id <id>', 'OAuth2 client id')
    .requiredOption('--client-secret <secret>', 'OAuth2 client secret (stored encrypted)')
    .requiredOption(
      '--rate <n>',
      'requests per second allowed (the quota)',
      positiveNumber('--rate'),
    )
    .option('--concurrency <n>', 'requests in flight at once', positiveInt('--concurrency'), 4)
    .option('--course-app-id <id>', 'the course_app_id this connection answers for')
    .option(...JSON_OPTION)
    .action(
      async (opts: {
        tenant: number;
        baseUrl: string;
        tokenUrl: string;
        clientId: string;
        clientSecret: string;
        rate: number;
        concurrency: number;
        courseAppId?: string;
        json?: boolean;
      }) => {
        const out = await withDeps(async (deps) => {
          await requireTenant(deps, opts.tenant);
          return inTransaction(deps.db, (trx) =>
            deps.exchange.connect(
              trx,
              {
                tenantId: opts.tenant,
                baseUrl: opts.baseUrl,
                tokenUrl: opts.tokenUrl,
                clientId: opts.clientId,
                clientSecret: opts.clientSecret,
                courseAppId: opts.courseAppId ?? null,
                ratePerSecond: opts.rate,
                concurrency: opts.concurrency,
              },
              isoNow(deps.clock),
            ),
          );
        });
        print(
          !!opts.json,
          { ...out },
          `Data Sync connected for tenant ${opts.tenant} at ${out.ratePerSecond} requests/s.\nNotices go to ${out.noticeUrl}${out.noticeSecret ? `\nNotice signing secret (shown once): ${out.noticeSecret}` : ''}`,
        );
      },
    );
  datasync
    .command('poll')
    .description(
      'look for waiting exchanges once and answer them to the end, printing what was sent',
    )
    .requiredOption(...TENANT_OPTION)
    .option(...JSON_OPTION)
    .action(async (opts: { tenant: number; json?: boolean }) => {
      const out = await withDeps(async (deps) => {
        const conn = await requireConnection(deps, opts.tenant);
        const exchanges = await pollNow(deps, conn, deps.logger);
        return { tenantId: opts.tenant, exchanges, throttled: deps.exchange.throttled };
      });
      print(
        !!opts.json,
        out,
        out.exchanges.length === 0
          ? 'No exchange was waiting.'
          : out.exchanges
              .map(
                (e) =>
                  `Exchange ${e.remoteId}: ${e.state}, ${e.itemsSent} scores and summaries in ${e.chunks} chunk(s)${e.chunksResent ? `, ${e.chunksResent} sent again` : ''}${e.errorCode ? ` (${e.errorCode}: ${e.errorMessage})` : ''}`,
              )
              .join('\n'),
      );
    });
  datasync
    .command('status')
    .description("a tenant's connection and its latest exchanges")
    .requiredOption(...TENANT_OPTION)
    .option(...JSON_OPTION)
    .action(async (opts: { tenant: number; json?: boolean }) => {
      const out = await withDeps(async (deps) => {
        const conn = await requireConnection(deps, opts.tenant);
        const exchanges = await deps
          .db('exchanges')
          .where({ connection_id: conn.id })
          .orderBy('id', 'desc')
          .limit(20)
          .select(
            'remote_id',
            'state',
            'trigger',
            'chunks_total',
            'chunks_sent',
            'chunks_resent',
            'items_sent',
            'error_code',
            'error_message',
            'created_at',
            'completed_at',
          );
        return {
          connection: deps.exchange.summary(conn),
          lastPolledAt: conn.last_polled_at,
          exchanges,
        };
      });
      print(
        !!opts.json,
        out,
        [
          `Data Sync at ${out.connection.baseUrl}, ${out.connection.ratePerSecond} requests/s`,
          ...out.exchanges.map(
            (e) => `  ${e.remote_id} ${e.state} (${e.trigger}) ${e.items_sent} sent`,
          ),
        ].join('\n'),
      );
    });

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
        const out = await withDeps(async (deps) => {
          await requireTenant(deps, opts.tenant);
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
      const senders = await withDeps((deps) =>
        listSenders(deps.db, deps.config.publicUrl, opts.tenant),
      );
      print(
        !!opts.json,
        { tenantId: opts.tenant, senders },
        senders.map((s) => `${s.senderId} ${s.kind} ${s.name} ${s.url}`).join('\n') ||
          'No senders.',
      );
    });

  const db = program.command('db').description('database');
  db.command('migrate')
    .description('apply pending migrations')
    .option(...JSON_OPTION)
    .action(async (opts: { json?: boolean }) => {
      const applied = await withDeps(async (deps) => migrateLatest(deps.db));
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
      const undone = await withDeps(async (deps) => rollbackAll(deps.db));
      print(!!opts.json, { undone }, `Rolled back ${undone.length} migration(s)`);
    });

  return program;
}

async function main(argv: string[]): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    if (
      err instanceof CliError ||
      err instanceof TenantInputError ||
      err instanceof ConfigError ||
      err instanceof RegistrationError
    ) {
      console.error(`error: ${err.message}`);
      process.exitCode = 1;
      return;
    }
    console.error(err);
    process.exitCode = 1;
  }
}

await main(process.argv);
