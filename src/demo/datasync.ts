import { randomBytes } from 'node:crypto';
import type { AppDeps } from '../deps.js';
import { isoNow } from '../db/time.js';
import { inTransaction } from '../db/transaction.js';
import { DataSyncEmulator } from '../emulators/datasync/index.js';

const DEMO_RATE = 20;
const DEMO_CLIENT = 'gradebridge-demo';

/**
 * The demo's Data Sync: the emulator on DEMO_DATASYNC_PORT with a client for
 * gradebridge, connected to the demo tenant (unless that tenant already has a
 * connection of its own, which is left alone), sending its exchange notices to
 * gradebridge's webhook. A person watches exchanges go through on its home
 * page.
 */
export async function startDemoDataSync(
  deps: AppDeps,
  tenantId: number,
  baseUrl: string,
): Promise<DataSyncEmulator | null> {
  const existing = await deps.exchange.connection(deps.db, tenantId);
  const ds = await DataSyncEmulator.start({
    port: deps.config.DEMO_DATASYNC_PORT,
    host: 'localhost',
    rateLimit: { requestsPerSecond: DEMO_RATE },
  });
  if (existing && existing.client_id !== DEMO_CLIENT) {
    await ds.close();
    return null;
  }
  const clientSecret = randomBytes(24).toString('base64url');
  ds.addClient({ clientId: DEMO_CLIENT, clientSecret, courseAppId: DEMO_CLIENT });
  await inTransaction(deps.db, (trx) =>
    deps.exchange.connect(
      trx,
      {
        tenantId,
        baseUrl: ds.endpoints.api,
        tokenUrl: ds.endpoints.token,
        clientId: DEMO_CLIENT,
        clientSecret,
        courseAppId: DEMO_CLIENT,
        ratePerSecond: DEMO_RATE,
        concurrency: 4,
      },
      isoNow(deps.clock),
    ),
  );
  const conn = (await deps.exchange.connection(deps.db, tenantId))!;
  ds.setNotice({
    url: `${baseUrl}/webhooks/datasync/${conn.id}`,
    secret: deps.exchange.noticeSecret(conn),
  });
  return ds;
}
