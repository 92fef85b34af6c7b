import { expect } from 'chai';
import type { DataSyncEmulator } from '../../../src/emulators/datasync/index.js';
import { Api, CLIENT, startEmulator } from './helpers.js';

function form(ds: DataSyncEmulator, body: string, headers: Record<string, string> = {}) {
  return fetch(ds.endpoints.token, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body,
  });
}

const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

describe('Data Sync emulator: token endpoint', () => {
  let ds: DataSyncEmulator;

  before(async () => {
    ds = await startEmulator({ tokenTtlSeconds: 0.15 });
  });
  after(() => ds.close());

  it('issues a bearer token to a client authenticated by HTTP Basic', async () => {
    const res = await form(ds, 'grant_type=client_credentials', {
      Authorization: basic(CLIENT.clientId, CLIENT.clientSecret),
    });
    expect(res.status).to.equal(200);
    expect(res.headers.get('cache-control')).to.equal('no-store');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).to.have.keys('access_token', 'token_type', 'expires_in');
    expect(body.token_type).to.equal('Bearer');
    expect(body.expires_in).to.equal(1);
    expect(body.access_token).to.be.a('string').with.length.above(20);
  });

  it('issues a token to a client authenticated by form fields', async () => {
    const res = await form(
      ds,
      new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: CLIENT.clientId,
        client_secret: CLIENT.clientSecret,
      }).toString(),
    );
    expect(res.status).to.equal(200);
    const { access_token: token } = (await res.json()) as { access_token: string };
    expect((await new Api(ds, token).get('/exchanges')).status).to.equal(200);
  });

  it('refuses an unknown client or a wrong secret with 401 invalid_client', async () => {
    for (const auth of [basic(CLIENT.clientId, 'wrong'), basic('nobody', CLIENT.clientSecret)]) {
      const res = await form(ds, 'grant_type=client_credentials', { Authorization: auth });
      expect(res.status).to.equal(401);
      expect(await res.json()).to.include({ error: 'invalid_client' });
    }
    const none = await form(ds, 'grant_type=client_credentials');
    expect(none.status).to.equal(401);
    expect(await none.json()).to.include({ error: 'invalid_client' });
  });

  it('refuses another grant type with 400 unsupported_grant_type, a JSON body with 400', async () => {
    const res = await form(ds, 'grant_type=password&username=a&password=b', {
      Authorization: basic(CLIENT.clientId, CLIENT.clientSecret),
    });
    expect(res.status).to.equal(400);
    expect(await res.json()).to.include({ error: 'unsupported_grant_type' });
    const json = await fetch(ds.endpoints.token, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"grant_type":"client_credentials"}',
    });
    expect(json.status).to.equal(400);
    expect(await json.json()).to.include({ error: 'invalid_request' });
  });

  it('answers the API 401 without a token, with an unknown one and with an expired one', async () => {
    const anonymous = await new Api(ds, null).get('/exchanges');
    expect(anonymous.status).to.equal(401);
    expect(anonymous.body.errors[0].message).to.be.a('string');
    expect(anonymous.headers.get('www-authenticate')).to.match(/^Bearer/);
    expect((await new Api(ds, 'made-up').get('/exchanges')).status).to.equal(401);

    const api = await Api.connect(ds);
    expect((await api.get('/exchanges')).status).to.equal(200);
    // tokenTtlSeconds is 0.15: wait out the token's lifetime.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const expired = await api.get('/exchanges');
    expect(expired.status).to.equal(401);
    expect(expired.body.errors[0].message).to.match(/expired/);
  });

  it('expires every token at once with expireTokens()', async () => {
    const api = await Api.connect(ds);
    expect((await api.get('/exchanges/count')).status).to.equal(200);
    ds.expireTokens();
    expect((await api.get('/exchanges/count')).status).to.equal(401);
  });
});
