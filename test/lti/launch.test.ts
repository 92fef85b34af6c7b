import { expect } from 'chai';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { tenantWithClient, type TenantFixture } from '../factories/index.js';
import { sharedContext, type TestContext } from '../helpers/context.js';
import {
  launch,
  launchClaims,
  login,
  LTI,
  sign,
  startTestPlatform,
  type TestPlatform,
} from '../helpers/lti-platform.js';

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** A JWT signed with HMAC, as an attacker would make it with the platform's public key as the secret. */
function hmacToken(claims: Record<string, unknown>, secret: string, kid: string): string {
  const head = `${b64({ alg: 'HS256', typ: 'JWT', kid })}.${b64(claims)}`;
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}

describe('LTI 1.3 launches', function () {
  this.timeout(60000);
  let ctx: TestContext;
  let t: TenantFixture;
  let platform: TestPlatform;

  before(async () => {
    ctx = await sharedContext();
    t = await tenantWithClient(ctx);
    platform = await startTestPlatform(ctx, t.tenantId);
  });
  after(async () => {
    await platform.close();
  });

  /** Logs in, signs the claims the test gives (from the valid ones) and launches. */
  const attempt = async (
    change: (claims: Record<string, unknown>) => Record<string, unknown> = (c) => c,
    sign_: (claims: Record<string, unknown>) => string = (c) => sign(platform, c),
  ) => {
    const l = await login(ctx, platform);
    const token = sign_(change(launchClaims(platform, l.nonce)));
    return launch(ctx, { id_token: token, state: l.state }, l.cookie);
  };

  const expectRefused = async (
    res: { status: number; text: string; headers: Record<string, string> },
    reason: RegExp,
  ) => {
    expect(res.status, res.text).to.be.within(400, 499);
    expect(res.headers['content-type']).to.match(/^text\/html/);
    expect(res.text).to.match(reason);
  };

  describe('accepted', () => {
    it('opens the course page for an instructor, creating the course, the person and the enrollment', async () => {
      const res = await attempt();
      expect(res.status, res.text).to.equal(303);
      expect(res.headers.location).to.match(/^\/lti\/app\?session=/);
      const page = await ctx.http.get(res.headers.location!).expect(200);
      expect(page.text)
        .to.include('Biology 101')
        .and.include('Ada Lovelace')
        .and.include('course staff');
      const course = await ctx
        .db('lti_contexts as x')
        .join('courses as c', 'c.id', 'x.course_id')
        .where({ 'x.context_id': 'ctx-1', 'c.tenant_id': t.tenantId })
        .first('c.title', 'c.id');
      expect(course.title).to.equal('Biology 101');
      const enrollment = await ctx
        .db('enrollments as e')
        .join('users as u', 'u.id', 'e.user_id')
        .where({ 'e.course_id': course.id, 'u.email': 'ada@example.edu' })
        .first('e.role');
      expect(enrollment.role).to.equal('Instructor');
    });

    for (const [label, roles, staff] of [
      [
        'several roles',
        [
          'http://purl.imsglobal.org/vocab/lis/v2/membership#Learner',
          'http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student',
        ],
        false,
      ],
      ['a short role', ['Instructor'], true],
      ['an unknown role', ['http://example.edu/roles#Wizard'], false],
      ['no role', [], false],
    ] as const) {
      it(`accepts a launch with ${label}`, async () => {
        const res = await attempt((c) => ({ ...c, sub: `user-${label}`, [`${LTI}roles`]: roles }));
        expect(res.status, res.text).to.equal(303);
        const page = await ctx.http.get(res.headers.location!).expect(200);
        expect(page.text.includes('course staff')).to.equal(staff);
      });
    }

    it('accepts a launch without name, email or context', async () => {
      const res = await attempt((c) => {
        const { name: _n, email: _e, [`${LTI}context`]: _c, ...rest } = c;
        return { ...rest, sub: 'anonymous-ish' };
      });
      expect(res.status, res.text).to.equal(303);
      await ctx.http.get(res.headers.location!).expect(200);
    });

    it('accepts several audiences when azp names the tool', async () => {
      const res = await attempt((c) => ({
        ...c,
        aud: [platform.clientId, 'another'],
        azp: platform.clientId,
      }));
      expect(res.status, res.text).to.equal(303);
    });

    it('fetches the platform keyset once, and again only for a kid it does not know', async () => {
      const before = platform.jwksRequests();
      await attempt();
      await attempt();
      expect(platform.jwksRequests() - before).to.equal(0);
      platform.rotate();
      ctx.clock.set(Date.now() + 11_000);
      try {
        const l = await login(ctx, platform);
        const res = await launch(
          ctx,
          { id_token: sign(platform, launchClaims(platform, l.nonce)), state: l.state },
          l.cookie,
        );
        expect(res.status, res.text).to.equal(303);
      } finally {
        ctx.clock.release();
      }
      expect(platform.jwksRequests() - before).to.equal(1);
    });
  });

  describe('refused', () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });

    it('a token without kid', async () => {
      await expectRefused(
        await attempt(undefined, (c) => sign(platform, c, { kid: null })),
        /no kid/,
      );
    });
    it('a kid the platform does not have', async () => {
      await expectRefused(
        await attempt(undefined, (c) => sign(platform, c, { kid: 'not-a-key' })),
        /has no key &quot;not-a-key&quot;/,
      );
    });
    it('a bad signature', async () => {
      await expectRefused(
        await attempt(undefined, (c) => sign(platform, c, { key: other.privateKey })),
        /signature is not valid/,
      );
    });
    it('alg none', async () => {
      const none = (c: Record<string, unknown>) =>
        `${b64({ alg: 'none', typ: 'JWT', kid: platform.kid })}.${b64(c)}.`;
      await expectRefused(await attempt(undefined, none), /signed with none; only RS256/);
    });
    it('HMAC signed with the platform public key', async () => {
      await expectRefused(
        await attempt(undefined, (c) => hmacToken(c, platform.publicPem, platform.kid)),
        /signed with HS256; only RS256/,
      );
    });
    it('a wrong or missing LTI version', async () => {
      await expectRefused(
        await attempt((c) => ({ ...c, [`${LTI}version`]: '1.1' })),
        /LTI version &quot;1.1&quot; is not 1.3.0/,
      );
      await expectRefused(
        await attempt((c) => ({ ...c, [`${LTI}version`]: undefined })),
        /no LTI version claim/,
      );
    });
    it('a message that is not an LTI launch, or has no message type', async () => {
      await expectRefused(
        await attempt((c) => ({ ...c, [`${LTI}message_type`]: 'LtiSubmissionReviewRequest' })),
        /is not an LTI message this tool accepts/,
      );
      await expectRefused(
        await attempt((c) => ({ ...c, [`${LTI}message_type`]: undefined })),
        /no message_type claim/,
      );
    });
    it('missing roles, deployment_id, resource link id or sub', async () => {
      await expectRefused(
        await attempt((c) => ({ ...c, [`${LTI}roles`]: undefined })),
        /no roles claim/,
      );
      await expectRefused(
        await attempt((c) => ({ ...c, [`${LTI}deployment_id`]: undefined })),
        /no deployment_id claim/,
      );
      await expectRefused(
        await attempt((c) => ({ ...c, [`${LTI}resource_link`]: { title: 'x' } })),
        /no resource_link id/,
      );
      await expectRefused(await attempt((c) => ({ ...c, sub: undefined })), /no sub/);
    });
    it('an unknown deployment', async () => {
      await expectRefused(
        await attempt((c) => ({ ...c, [`${LTI}deployment_id`]: 'elsewhere' })),
        /Deployment &quot;elsewhere&quot; is not registered/,
      );
    });
    it('iat in the future, exp passed, or a token too old', async () => {
      const now = Math.floor(Date.now() / 1000);
      await expectRefused(await attempt((c) => ({ ...c, iat: now + 120 })), /issued in the future/);
      await expectRefused(
        await attempt((c) => ({ ...c, iat: now - 600, exp: now - 60 })),
        /has expired/,
      );
      await expectRefused(
        await attempt((c) => ({ ...c, iat: now - 3600, exp: now + 60 })),
        /too old/,
      );
    });
    it('accepts a small clock skew within the tolerance', async () => {
      const now = Math.floor(Date.now() / 1000);
      const res = await attempt((c) => ({ ...c, iat: now + 3 }));
      expect(res.status, res.text).to.equal(303);
    });
    it('a wrong iss', async () => {
      await expectRefused(
        await attempt((c) => ({ ...c, iss: 'https://evil.example' })),
        /issued by another platform/,
      );
    });
    it('a wrong aud, or several audiences without the right azp', async () => {
      await expectRefused(
        await attempt((c) => ({ ...c, aud: 'someone-else' })),
        /audience is not this tool/,
      );
      await expectRefused(
        await attempt((c) => ({ ...c, aud: [platform.clientId, 'another'] })),
        /several audiences/,
      );
      await expectRefused(
        await attempt((c) => ({ ...c, aud: [platform.clientId, 'another'], azp: 'another' })),
        /several audiences/,
      );
    });
    it('a nonce not issued for this login', async () => {
      await expectRefused(
        await attempt((c) => ({ ...c, nonce: 'made-up' })),
        /nonce is not the one issued/,
      );
    });
    it('a replayed launch (nonce and state already used)', async () => {
      const l = await login(ctx, platform);
      const body = { id_token: sign(platform, launchClaims(platform, l.nonce)), state: l.state };
      expect((await launch(ctx, body, l.cookie)).status).to.equal(303);
      await expectRefused(await launch(ctx, body, l.cookie), /already used/);
    });
    it('a missing or mismatched state, or a missing state cookie', async () => {
      const l = await login(ctx, platform);
      const token = sign(platform, launchClaims(platform, l.nonce));
      await expectRefused(await launch(ctx, { id_token: token }, l.cookie), /no state/);
      await expectRefused(
        await launch(ctx, { id_token: token, state: 'forged-state' }, l.cookie),
        /not issued by this tool/,
      );
      await expectRefused(
        await launch(ctx, { id_token: token, state: l.state }, ''),
        /state cookie .* missing/,
      );
      // A state works once, even for a refused launch.
      await expectRefused(
        await launch(ctx, { id_token: token, state: l.state }, l.cookie),
        /already used/,
      );
      const l2 = await login(ctx, platform);
      const l3 = await login(ctx, platform);
      await expectRefused(
        await launch(
          ctx,
          { id_token: sign(platform, launchClaims(platform, l2.nonce)), state: l2.state },
          l3.cookie,
        ),
        /state cookie .* missing/,
      );
    });
    it('a launch without id_token', async () => {
      await expectRefused(await launch(ctx, { state: 'x' }, ''), /no id_token/);
    });
  });

  describe('login initiation', () => {
    it('redirects to the platform with a random state and nonce, and refuses bad requests', async () => {
      const l = await login(ctx, platform);
      expect(l.redirect.origin + l.redirect.pathname).to.equal(`${platform.issuer}/auth`);
      expect(Object.fromEntries(l.redirect.searchParams)).to.include({
        response_type: 'id_token',
        response_mode: 'form_post',
        scope: 'openid',
        prompt: 'none',
        client_id: platform.clientId,
        login_hint: 'user-hint',
        lti_deployment_id: platform.deploymentId,
      });
      expect(l.state).to.have.length(43);
      expect(l.nonce).to.have.length(43);
      expect(l.cookie).to.match(/^state[^=]+=s%3A/);
      const missing = await ctx.http.get('/lti/login').query({ iss: platform.issuer }).redirects(0);
      expect(missing.status).to.equal(400);
      expect(missing.text).to.include('needs iss, login_hint and target_link_uri');
      const unknown = await ctx.http
        .get('/lti/login')
        .query({
          iss: 'https://nowhere.example',
          login_hint: 'x',
          target_link_uri: 'http://localhost/lti/launch',
          client_id: 'c',
        })
        .redirects(0);
      expect(unknown.status).to.equal(400);
      expect(unknown.text).to.include('not registered');
      const elsewhere = await ctx.http
        .get('/lti/login')
        .query({
          iss: platform.issuer,
          login_hint: 'x',
          target_link_uri: 'https://evil.example/steal',
          client_id: platform.clientId,
        })
        .redirects(0);
      expect(elsewhere.status).to.equal(400);
    });

    it('serves the tool keyset', async () => {
      const res = await ctx.http.get('/lti/keys').expect(200);
      const keys = res.body.keys as Array<{ kid: string; alg: string; kty: string }>;
      expect(keys.length).to.be.greaterThan(0);
      expect(keys.every((k) => k.alg === 'RS256' && k.kty === 'RSA')).to.equal(true);
    });
  });
});
