/**
 * A tool under test for bench/lti.ts, in a process of its own: either
 * gradebridge (the whole service) or plain ltijs on the same knex store
 * (JWK_SET keyset, ltijs's own login, launch, ltik redirect and onConnect).
 * Talks to the parent over IPC: { listening: port }, then on
 * { register: {...} } registers the platform and answers { registered: true }.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../config/index.js';
import { createApp } from '../src/app.js';
import { openDeps } from '../src/bootstrap.js';
import { createDb } from '../src/db/knex.js';
import { migrateLatest } from '../src/db/migrate.js';
import { isoNow } from '../src/db/time.js';
import { inTransaction } from '../src/db/transaction.js';
import { createLogger } from '../src/logger.js';
import { KnexLtiStore } from '../src/lti/store.js';
import { registerPlatform } from '../src/lti/registration.js';
import { createTenant } from '../src/tenants/service.js';

interface Registration {
  issuer: string;
  clientId: string;
  deploymentId: string;
  auth: string;
  token: string;
  keyset: string;
}

const mode = process.argv[2] as 'gradebridge' | 'ltijs';
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `gradebridge-bench-${mode}-`));
const send = (m: unknown) => process.send!(m);

async function gradebridge(): Promise<(r: Registration) => Promise<void>> {
  const config = loadConfig({
    NODE_ENV: 'production',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    DEMO: 'false',
    WORKER_IN_PROCESS: 'false',
    PORT: '0',
    HOST: '127.0.0.1',
  });
  const deps = await openDeps(config, createLogger({ level: 'warn' }));
  const { koa } = createApp(deps);
  const server = http.createServer(koa.callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  send({ listening: (server.address() as AddressInfo).port });
  return async (r) => {
    const tenant = await inTransaction(deps.db, (trx) =>
      createTenant(trx, { name: 'Bench' }, isoNow(deps.clock)),
    );
    await registerPlatform(deps, {
      tenantId: tenant.id,
      issuer: r.issuer,
      clientId: r.clientId,
      authenticationEndpoint: r.auth,
      accessTokenEndpoint: r.token,
      keysetUrl: r.keyset,
      deploymentIds: [r.deploymentId],
    });
  };
}

async function plainLtijs(): Promise<(r: Registration) => Promise<void>> {
  const require = createRequire(import.meta.url);
  const singleton = require('ltijs').Provider;
  const lti = new singleton.constructor();
  const db = createDb({ sqliteFile: path.join(dataDir, 'ltijs.sqlite') });
  await migrateLatest(db);
  lti.setup(
    'a-plain-ltijs-encryption-key-of-some-length',
    { plugin: new KnexLtiStore(db) },
    {
      appRoute: '/launch',
      loginRoute: '/login',
      keysetRoute: '/keys',
      cookies: { secure: false, sameSite: 'Lax' },
      tokenMaxAge: 60,
    },
  );
  lti.onConnect(
    (token: { userInfo?: { name?: string } }, _req: unknown, res: { send(b: string): void }) =>
      res.send(
        `<!doctype html><html><body><h1>Teacher page</h1><p>${token.userInfo?.name ?? ''}</p></body></html>`,
      ),
  );
  await lti.deploy({ serverless: true, silent: true });
  const server = http.createServer(lti.app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  send({ listening: (server.address() as AddressInfo).port });
  return async (r) => {
    await lti.registerPlatform({
      url: r.issuer,
      name: 'Emulator',
      clientId: r.clientId,
      authenticationEndpoint: r.auth,
      accesstokenEndpoint: r.token,
      authConfig: { method: 'JWK_SET', key: r.keyset },
    });
  };
}

const register = await (mode === 'gradebridge' ? gradebridge() : plainLtijs());
process.on('message', (m: { register?: Registration; exit?: boolean }) => {
  if (m.register) {
    register(m.register).then(
      () => send({ registered: true }),
      (err: unknown) => send({ error: String(err) }),
    );
  }
  if (m.exit) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  }
});
