import { expect } from 'chai';
import { ConfigError, loadConfig } from '../config/index.js';

describe('configuration', () => {
  it('has defaults for every setting', () => {
    const config = loadConfig({});
    expect(config.PORT).to.equal(3000);
    expect(config.DATABASE_URL).to.equal(undefined);
    expect(config.sqliteFile).to.match(/data\/gradebridge\.sqlite$/);
    expect(config.JOURNEY_MAX_ITEMS).to.equal(1000);
    expect(config.JOURNEY_MAX_BODY).to.equal(5 * 1024 * 1024);
    expect(config.publicUrl).to.equal('http://localhost:3000');
    expect(Object.isFrozen(config)).to.equal(true);
  });

  it('reads sizes, flags and URLs', () => {
    const config = loadConfig({
      PORT: '8080',
      JOURNEY_MAX_BODY: '512kb',
      DEMO: 'false',
      PUBLIC_URL: 'https://grades.example.edu/',
      DATA_DIR: '/tmp/gb-x',
    });
    expect(config.PORT).to.equal(8080);
    expect(config.JOURNEY_MAX_BODY).to.equal(512 * 1024);
    expect(config.DEMO).to.equal(false);
    expect(config.publicUrl).to.equal('https://grades.example.edu');
    expect(config.sqliteFile).to.equal('/tmp/gb-x/gradebridge.sqlite');
  });

  it('makes LTI cookies Secure (SameSite=None) on https and loopback addresses, unless told', () => {
    const secure = (env: Record<string, string>) => loadConfig(env).cookieSecure;
    expect(secure({})).to.equal(true); // http://localhost:3000
    expect(secure({ PUBLIC_URL: 'https://grades.example.edu' })).to.equal(true);
    expect(secure({ PUBLIC_URL: 'http://127.0.0.1:3000' })).to.equal(true);
    expect(secure({ PUBLIC_URL: 'http://[::1]:3000' })).to.equal(true);
    expect(secure({ PUBLIC_URL: 'http://grades.lan:3000' })).to.equal(false);
    expect(secure({ HOST: '10.0.0.5' })).to.equal(false);
    expect(secure({ LTI_COOKIE_SECURE: 'false' })).to.equal(false);
  });

  it('names every bad setting and hides secrets', () => {
    try {
      loadConfig({
        PORT: 'eighty',
        DATABASE_URL: 'mysql://root:hunter2@db/x',
        TOKEN_SIGNING_SECRET: 'short',
        DEFAULT_TIME_ZONE: 'Mars/Olympus',
      });
      expect.fail('loadConfig accepted bad settings');
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      const message = (err as Error).message;
      expect(message).to.include('PORT');
      expect(message).to.include('DATABASE_URL: must be a postgres:// or postgresql:// URL');
      expect(message).to.include('TOKEN_SIGNING_SECRET: must be at least 32 characters');
      expect(message).to.include('DEFAULT_TIME_ZONE');
      expect(message).not.to.include('hunter2');
      expect(message).not.to.include('short"');
    }
  });

  it('runs several web processes only on PostgreSQL', () => {
    expect(() => loadConfig({ WEB_PROCESSES: '2' })).to.throw(
      ConfigError,
      'WEB_PROCESSES: more than one web process needs DATABASE_URL (PostgreSQL)',
    );
    expect(
      loadConfig({ WEB_PROCESSES: '2', DATABASE_URL: 'postgres://db/x' }).WEB_PROCESSES,
    ).to.equal(2);
    expect(loadConfig({}).WEB_PROCESSES).to.equal(1);
  });
});
