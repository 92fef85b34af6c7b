import type { Command } from 'commander';
import {
  CliError,
  JSON_OPTION,
  TENANT_OPTION,
  httpUrl,
  positiveInt,
  positiveNumber,
  print,
  type CommandKit,
} from '../cli/command-kit.js';
import type { AppDeps } from '../deps.js';
import { isoNow } from '../db/time.js';
import { inTransaction } from '../db/transaction.js';
import { pollNow } from './jobs.js';

async function requireConnection(deps: AppDeps, tenantId: number) {
  const conn = await deps.exchange.connection(deps.db, tenantId);
  if (!conn)
    throw new CliError(`tenant ${tenantId} has no Data Sync connection (datasync connect)`);
  return conn;
}

/** `datasync connect|poll|status`. */
export function registerExchangeCommands(program: Command, kit: CommandKit): void {
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
        const out = await kit.withDeps(async (deps) => {
          await kit.requireTenant(deps, opts.tenant);
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
      const out = await kit.withDeps(async (deps) => {
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
      const out = await kit.withDeps(async (deps) => {
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
}
