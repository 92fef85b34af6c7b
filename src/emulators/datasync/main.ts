import crypto from 'node:crypto';
import { runUntilSignal } from '../shared/main.js';
import { courseQuery } from './course-query.js';
import { DataSyncEmulator } from './emulator.js';
import type { NoticeTarget } from './types.js';

function intFromEnv(name: string, fallback: number | null, min: number, max: number) {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max}, not "${text}".`);
  }
  return value;
}

/**
 * Runs the Data Sync emulator on its own:
 * - DATASYNC_PORT (default 4200);
 * - DATASYNC_RATE: a rate limit in requests per second (default none);
 * - DATASYNC_MAX_PAGE_SIZE: the largest page a list answers, and the default
 *   page_size (default 100);
 * - DATASYNC_CLIENT_ID / DATASYNC_CLIENT_SECRET: the demo client (default
 *   `demo-client` and a random secret);
 * - DATASYNC_NOTICE_URL / DATASYNC_NOTICE_SECRET: where to send signed
 *   exchange-created notices (default none).
 */
async function main(): Promise<DataSyncEmulator> {
  const port = intFromEnv('DATASYNC_PORT', 4200, 0, 65535)!;
  const rate = intFromEnv('DATASYNC_RATE', null, 1, 1_000_000);
  const maxPageSize = intFromEnv('DATASYNC_MAX_PAGE_SIZE', 100, 1, 1_000_000)!;
  const noticeUrl = process.env.DATASYNC_NOTICE_URL;
  const notice: NoticeTarget | null = noticeUrl
    ? { url: noticeUrl, secret: process.env.DATASYNC_NOTICE_SECRET ?? 'demo-notice-secret' }
    : null;
  const ds = await DataSyncEmulator.start({
    port,
    maxPageSize,
    rateLimit: rate === null ? undefined : { requestsPerSecond: rate },
    notice,
  });
  const client = ds.addClient({
    clientId: process.env.DATASYNC_CLIENT_ID || 'demo-client',
    clientSecret:
      process.env.DATASYNC_CLIENT_SECRET || crypto.randomBytes(18).toString('base64url'),
  });
  ds.addSection('demo-section-1', 'SIS-SECTION-1');
  ds.addSchedule({ exchanges: [{ query: courseQuery('DEMO-COURSE-1') }] });

  console.log(`Data Sync emulator listening on ${ds.url}

  Home page:            ${ds.url}/
  Token endpoint:       ${ds.endpoints.token}
  Grades Exchange API:  ${ds.endpoints.api}
  Control API:          ${ds.url}/_emulator/state
  Client id:            ${client.clientId}
  Client secret:        ${client.clientSecret}
  Rate limit:           ${rate === null ? 'none' : `${rate} requests per second`}
  Largest page:         ${maxPageSize} (DATASYNC_MAX_PAGE_SIZE)
  Notices:              ${notice ? `${notice.url} (secret ${notice.secret})` : 'none (set DATASYNC_NOTICE_URL)'}

Create an exchange from the home page, or:
  curl -s -X POST ${ds.url}/_emulator/exchanges -H 'Content-Type: application/json' \\
    -d '{"courseSourceId":"DEMO-COURSE-1","type":"assignment_scores"}'`);
  return ds;
}

runUntilSignal(main);
