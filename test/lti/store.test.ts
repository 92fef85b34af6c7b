import { expect } from 'chai';
import type { Db } from '../../src/db/knex.js';
import { migrateLatest } from '../../src/db/migrate.js';
import { KnexLtiStore } from '../../src/lti/store.js';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from '../helpers/database.js';

const KEY = 'an-encryption-key-of-enough-length-1234';

/** Whether the promise rejects. */
const rejects = (p: Promise<unknown>): Promise<boolean> =>
  p.then(
    () => false,
    () => true,
  );

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`ltijs storage plugin on ${kind}`, function () {
    let database: TestDatabase;
    let db: Db;
    let store: KnexLtiStore;

    before(async function () {
      const reason = kind === 'postgres' ? postgresSkipReason() : null;
      if (reason) {
        process.stderr.write(`    skipped: ltijs storage plugin on PostgreSQL (${reason})\n`);
        this.skip();
      }
      database = await createTestDatabase(kind);
      db = database.open();
      await migrateLatest(db);
      store = new KnexLtiStore(db);
    });
    after(async () => {
      await db?.destroy();
      await database?.drop();
    });

    it('answers false for nothing and the documents for a query, by indexed fields and others', async () => {
      expect(await store.Get(false, 'platform', { platformUrl: 'https://lms.example' })).to.equal(
        false,
      );
      const platform = {
        platformName: 'LMS',
        platformUrl: 'https://lms.example',
        clientId: 'c1',
        authEndpoint: 'https://lms.example/auth',
        accesstokenEndpoint: 'https://lms.example/token',
        kid: 'kid-1',
        authConfig: { method: 'JWK_SET', key: 'https://lms.example/jwks' },
      };
      await store.Replace(
        false,
        'platform',
        { platformUrl: platform.platformUrl, clientId: 'c1' },
        platform,
      );
      await store.Replace(
        false,
        'platform',
        { platformUrl: platform.platformUrl, clientId: 'c2' },
        { ...platform, clientId: 'c2', kid: 'kid-2' },
      );
      const byUrl = (await store.Get(false, 'platform', {
        platformUrl: platform.platformUrl,
      })) as Array<Record<string, unknown>>;
      expect(byUrl.map((p) => p.clientId).sort()).to.deep.equal(['c1', 'c2']);
      const byKid = (await store.Get(false, 'platform', { kid: 'kid-2' })) as Array<
        Record<string, unknown>
      >;
      expect(byKid).to.have.length(1);
      expect(byKid[0]).to.deep.include({
        clientId: 'c2',
        authConfig: { method: 'JWK_SET', key: 'https://lms.example/jwks' },
      });
      const byName = (await store.Get(false, 'platform', {
        platformName: 'LMS',
        clientId: 'c1',
      })) as Array<Record<string, unknown>>;
      expect(byName).to.have.length(1);
      expect(((await store.Get(false, 'platform')) as unknown[]).length).to.equal(2);
    });

    it('replaces a document in place and modifies fields, indexed ones included', async () => {
      await store.Replace(
        false,
        'contexttoken',
        { contextId: 'ctx', user: 'u1' },
        { contextId: 'ctx', user: 'u1', path: '/a' },
      );
      await store.Replace(
        false,
        'contexttoken',
        { contextId: 'ctx', user: 'u1' },
        { contextId: 'ctx', user: 'u1', path: '/b' },
      );
      let docs = (await store.Get(false, 'contexttoken', {
        contextId: 'ctx',
        user: 'u1',
      })) as Array<Record<string, unknown>>;
      expect(docs).to.have.length(1);
      expect(docs[0]!.path).to.equal('/b');
      expect(docs[0]!.createdAt).to.be.a('number');
      await store.Modify(false, 'contexttoken', { contextId: 'ctx', user: 'u1' }, { path: '/c' });
      docs = (await store.Get(false, 'contexttoken', { contextId: 'ctx' })) as Array<
        Record<string, unknown>
      >;
      expect(docs[0]!.path).to.equal('/c');
      await store.Modify(false, 'platform', { kid: 'kid-1' }, { clientId: 'c9' });
      expect(await store.Get(false, 'platform', { clientId: 'c9' })).to.have.length(1);
    });

    it('replaces every match when the query is not the unique key, and upserts when it is', async () => {
      const token = (deploymentId: string, n: number) => ({
        iss: 'https://lms.example',
        clientId: 'c1',
        deploymentId,
        user: 'u7',
        n,
      });
      const key = (deploymentId: string) => ({
        iss: 'https://lms.example',
        clientId: 'c1',
        deploymentId,
        user: 'u7',
      });
      await store.Replace(false, 'idtoken', key('d1'), token('d1', 1));
      await store.Replace(false, 'idtoken', key('d2'), token('d2', 2));
      await store.Replace(false, 'idtoken', key('d1'), token('d1', 3));
      let docs = (await store.Get(false, 'idtoken', { user: 'u7' })) as Array<
        Record<string, unknown>
      >;
      expect(docs.map((d) => [d.deploymentId, d.n]).sort()).to.deep.equal([
        ['d1', 3],
        ['d2', 2],
      ]);
      // By the user alone: both documents go, one takes their place.
      await store.Replace(false, 'idtoken', { user: 'u7' }, token('d3', 4));
      docs = (await store.Get(false, 'idtoken', { user: 'u7' })) as Array<Record<string, unknown>>;
      expect(docs.map((d) => [d.deploymentId, d.n])).to.deep.equal([['d3', 4]]);
    });

    it('keeps keys and access tokens encrypted, readable only with the key', async () => {
      const index = { kid: 'k-1', platformUrl: 'https://lms.example', clientId: 'c1' };
      for (const [name, pem] of [
        ['privatekey', 'PRIVATE'],
        ['publickey', 'PUBLIC'],
      ] as const) {
        await store.Replace(
          KEY,
          name,
          { platformUrl: index.platformUrl, clientId: 'c1' },
          { key: `-----BEGIN ${pem}-----`, kid: 'k-1' },
          index,
        );
      }
      const row = await db('lti_keys').where({ kind: 'private', kid: 'k-1' }).first();
      expect(JSON.stringify(row)).not.to.include('BEGIN PRIVATE');
      const priv = (await store.Get(KEY, 'privatekey', { kid: 'k-1' })) as Array<
        Record<string, unknown>
      >;
      expect(priv[0]).to.deep.include({ key: '-----BEGIN PRIVATE-----', kid: 'k-1' });
      const pub = (await store.Get(KEY, 'publickey')) as Array<Record<string, unknown>>;
      expect(pub.map((k) => k.key)).to.deep.equal(['-----BEGIN PUBLIC-----']);
      const failed = await rejects(
        store.Get('another-key-another-key-another-key!!', 'privatekey', { kid: 'k-1' }),
      );
      expect(failed).to.equal(true);
      await store.Modify(false, 'publickey', { kid: 'k-1' }, { clientId: 'c2' });
      expect(await store.Get(KEY, 'publickey', { clientId: 'c2' })).to.have.length(1);
      const scopes = 'https://purl.imsglobal.org/spec/lti-ags/scope/score';
      const tokenIndex = { platformUrl: 'https://lms.example', clientId: 'c1', scopes };
      await store.Replace(
        KEY,
        'accesstoken',
        tokenIndex,
        { token: { access_token: 'secret-token', expires_in: 3600 } },
        tokenIndex,
      );
      const token = (await store.Get(KEY, 'accesstoken', tokenIndex)) as Array<{
        token: { access_token: string };
        createdAt: number;
      }>;
      expect(token[0]!.token.access_token).to.equal('secret-token');
      expect(Date.now() - token[0]!.createdAt).to.be.lessThan(60_000);
      expect(JSON.stringify(await db('lti_access_tokens').first())).not.to.include('secret-token');
    });

    it('inserts and deletes nonces, states and statuses', async () => {
      await store.Insert(false, 'nonce', { nonce: 'n-1' });
      expect(await store.Get(false, 'nonce', { nonce: 'n-1' })).to.have.length(1);
      const duplicate = await rejects(store.Insert(false, 'nonce', { nonce: 'n-1' }));
      expect(duplicate).to.equal(true);
      await store.Insert(false, 'state', { state: 's-1', query: { a: '1' } });
      expect(
        ((await store.Get(false, 'state', { state: 's-1' })) as Array<Record<string, unknown>>)[0]!
          .query,
      ).to.deep.equal({ a: '1' });
      await store.Delete('state', { state: 's-1' });
      expect(await store.Get(false, 'state', { state: 's-1' })).to.equal(false);
      await store.Replace(false, 'platformStatus', { id: 'kid-1' }, { id: 'kid-1', active: true });
      expect(
        (
          (await store.Get(false, 'platformStatus', { id: 'kid-1' })) as Array<
            Record<string, unknown>
          >
        )[0]!.active,
      ).to.equal(true);
      await store.Delete('platform', { platformUrl: 'https://lms.example' });
      expect(await store.Get(false, 'platform')).to.equal(false);
    });
  });
}
