import { expect } from 'chai';
import { parseAutoPostForm } from '../../src/emulators/lms/index.js';
import { tenantWithClient, type TenantFixture } from '../factories/index.js';
import { sharedContext, type TestContext } from '../helpers/context.js';
import {
  launch,
  launchClaims,
  login,
  sign,
  startTestPlatform,
  type TestPlatform,
} from '../helpers/lti-platform.js';

/** The JSON settings a login or launch page hands its script. */
function pageConfig(html: string): Record<string, unknown> {
  const match =
    /<script type="application\/json" id="lti-storage-config">([\s\S]*?)<\/script>/.exec(html);
  expect(match, 'the page carries its storage settings').to.not.equal(null);
  return JSON.parse(match![1]!) as Record<string, unknown>;
}

/** The href of the page's "Open in a new window" link, unescaped. */
function newWindowLink(html: string): string | null {
  const match = /<a\b[^>]*href="([^"]+)"[^>]*target="_blank"[^>]*>\s*Open in a new window/.exec(
    html,
  );
  return match ? match[1]!.replace(/&amp;/g, '&') : null;
}

describe('LTI launches through platform storage (the server side)', function () {
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
    ctx.clock.release();
    await platform.close();
  });

  const loginParams = (overrides: Record<string, string> = {}) => ({
    iss: platform.issuer,
    login_hint: 'user-hint',
    target_link_uri: 'http://localhost/lti/launch',
    client_id: platform.clientId,
    lti_deployment_id: platform.deploymentId,
    lti_message_hint: 'message-hint-1',
    lti_storage_target: 'post_message_forwarding',
    ...overrides,
  });

  /** A login initiation naming a storage frame, as Canvas sends it. */
  const storageLogin = async (overrides: Record<string, string> = {}) => {
    const res = await ctx.http.get('/lti/login').query(loginParams(overrides)).redirects(0);
    expect(res.status, res.text).to.equal(200);
    const config = pageConfig(res.text);
    const next = new URL(config.next as string);
    return {
      res,
      config,
      state: next.searchParams.get('state')!,
      nonce: next.searchParams.get('nonce')!,
      cookie: ((res.headers['set-cookie'] as unknown as string[] | undefined) ?? [])
        .map((c) => c.split(';')[0])
        .join('; '),
    };
  };

  /** The launch's first post, without the state cookie (a blocked third-party cookie). */
  const firstPost = async (l: { state: string; nonce: string }, nonce = l.nonce) => {
    const res = await launch(
      ctx,
      {
        id_token: sign(platform, launchClaims(platform, nonce)),
        state: l.state,
        lti_storage_target: 'post_message_forwarding',
      },
      '',
    );
    expect(res.status, res.text).to.equal(200);
    return { res, form: parseAutoPostForm(res.text), config: pageConfig(res.text) };
  };

  /** What the launch page posts back after reading the platform's storage. */
  const postBack = (fields: Record<string, string>, overrides: Record<string, string> = {}) =>
    launch(ctx, { ...fields, storage_state: fields.state!, storage_error: '', ...overrides }, '');

  const expectRefused = (
    res: { status: number; text: string },
    reason: RegExp,
    { newWindow }: { newWindow: boolean },
  ) => {
    expect(res.status, res.text).to.equal(401);
    expect(res.text).to.match(reason);
    if (newWindow)
      expect(newWindowLink(res.text), 'an Open in a new window link').to.be.a('string');
    else expect(newWindowLink(res.text)).to.equal(null);
  };

  describe('the login', () => {
    it('keeps the state and the nonce in the platform storage, under keys that hold them, then goes on to the platform', async () => {
      const l = await storageLogin();
      expect(l.res.headers['content-type']).to.match(/^text\/html/);
      expect(l.res.headers['cache-control']).to.equal('no-store');
      expect(l.config).to.deep.include({
        mode: 'login',
        target: 'post_message_forwarding',
        origin: new URL(platform.issuer).origin,
        put: [
          { key: `state_${l.state}`, value: l.state },
          { key: `nonce_${l.nonce}`, value: l.nonce },
        ],
      });
      const next = new URL(l.config.next as string);
      expect(next.origin + next.pathname).to.equal(`${platform.issuer}/auth`);
      expect(Object.fromEntries(next.searchParams)).to.include({
        client_id: platform.clientId,
        login_hint: 'user-hint',
        lti_message_hint: 'message-hint-1',
        prompt: 'none',
      });
      expect(l.state).to.have.length(43);
      // The cookie is still set: where the browser keeps it, it is enough.
      expect(l.cookie).to.match(/^state[^=]+=s%3A/);
    });

    it('allows only its own inline script, by a nonce in its Content-Security-Policy', async () => {
      const { res } = await storageLogin();
      const csp = res.headers['content-security-policy'] as string;
      const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
      expect(nonce, csp).to.be.a('string');
      expect(csp).to.include("default-src 'none'").and.include("form-action 'self'");
      const scripts = [...res.text.matchAll(/<script\b([^>]*)>/g)].map((m) => m[1]!);
      expect(scripts.filter((a) => !a.includes('application/json'))).to.deep.equal([
        ` nonce="${nonce}"`,
      ]);
    });

    it('refuses a storage target that is not a frame name, storing nothing', async () => {
      const before = await ctx.db('lti_logins').count({ n: '*' }).first();
      const res = await ctx.http
        .get('/lti/login')
        .query(loginParams({ lti_storage_target: 'x"><script>' }))
        .redirects(0);
      expect(res.status).to.equal(400);
      expect(res.text).to.include('lti_storage_target');
      const after = await ctx.db('lti_logins').count({ n: '*' }).first();
      expect(Number(after!.n)).to.equal(Number(before!.n));
    });
  });

  describe('the launch without a state cookie', () => {
    it('answers a page that reads the state back from the platform storage and posts the launch again', async () => {
      const l = await storageLogin();
      const { res, form, config } = await firstPost(l);
      expect(res.headers['content-security-policy']).to.match(/script-src 'nonce-/);
      expect(res.headers['cache-control']).to.equal('no-store');
      expect(form.action).to.equal('/lti/launch');
      expect(form.method).to.equal('POST');
      expect(Object.keys(form.fields).sort()).to.deep.equal([
        'id_token',
        'state',
        'storage_confirmation',
        'storage_error',
        'storage_state',
      ]);
      expect(form.fields.state).to.equal(l.state);
      expect(form.fields.storage_confirmation).to.have.length(43);
      expect(config).to.deep.equal({
        mode: 'launch',
        target: 'post_message_forwarding',
        origin: new URL(platform.issuer).origin,
        state: l.state,
        key: `state_${l.state}`,
        remove: [`state_${l.state}`, `nonce_${l.nonce}`],
      });
    });

    it('opens the course page once the storage confirmed the state, without cookies after the launch', async () => {
      const l = await storageLogin();
      const { form } = await firstPost(l);
      const res = await postBack(form.fields);
      expect(res.status, res.text).to.equal(303);
      expect(res.headers.location).to.match(/^\/lti\//);
      const cookies = (res.headers['set-cookie'] as unknown as string[] | undefined) ?? [];
      // Nothing but the state cookie, expired: the session is the token in the page's links.
      expect(cookies.every((c) => /^state/.test(c) && /Expires=Thu, 01 Jan 1970/.test(c))).to.equal(
        true,
      );
      const page = await ctx.http.get(res.headers.location!);
      expect(page.status).to.equal(200);
      expect(page.text).to.include('Biology 101');
    });

    it('works once: the confirmation, like the state, cannot be used again', async () => {
      const l = await storageLogin();
      const { form } = await firstPost(l);
      expect((await postBack(form.fields)).status).to.equal(303);
      expectRefused(await postBack(form.fields), /already used/, { newWindow: false });
      // Posting the launch again does not start another confirmation.
      const again = await launch(
        ctx,
        { id_token: form.fields.id_token!, state: l.state, lti_storage_target: 'x' },
        '',
      );
      expectRefused(again, /already used/, { newWindow: false });
    });

    it('takes only the latest confirmation of a login', async () => {
      const l = await storageLogin();
      const first = await firstPost(l);
      const second = await firstPost(l);
      expect(second.form.fields.storage_confirmation).to.not.equal(
        first.form.fields.storage_confirmation,
      );
      expectRefused(await postBack(first.form.fields), /confirmation is not the one issued/, {
        newWindow: false,
      });
      // A refusal uses the login up.
      expectRefused(await postBack(second.form.fields), /already used/, { newWindow: false });
    });

    it('refuses a state the platform storage does not hold, and offers a new window', async () => {
      const l = await storageLogin();
      const { form } = await firstPost(l);
      const res = await postBack(form.fields, { storage_state: '' });
      expectRefused(res, /does not hold this login&#39;s state/, { newWindow: true });
      const forged = await storageLogin();
      const f = await firstPost(forged);
      expectRefused(await postBack(f.form.fields, { storage_state: l.state }), /does not hold/, {
        newWindow: true,
      });
      // The login is used up: the right value afterwards changes nothing.
      expectRefused(await postBack(form.fields), /already used/, { newWindow: false });
    });

    it('says why the page could not ask the platform storage', async () => {
      for (const [error, reason] of [
        ['timeout', /did not answer in time/],
        ['unsupported', /does not offer platform storage/],
        ['no_frame', /no platform storage frame/],
        ['storage_exhaustion', /answered with an error \(storage_exhaustion\)/],
        ['<b>odd</b>', /answered with an error \(error\)/],
      ] as const) {
        const l = await storageLogin();
        const { form } = await firstPost(l);
        const res = await postBack(form.fields, { storage_state: '', storage_error: error });
        expectRefused(res, reason, { newWindow: true });
        expect(res.text).to.not.include('<b>odd');
      }
    });

    it('refuses a confirmation it did not issue, and one for a login that used cookies', async () => {
      const l = await storageLogin();
      const { form } = await firstPost(l);
      expectRefused(
        await postBack({ ...form.fields, storage_confirmation: 'forged-confirmation' }),
        /confirmation is not the one issued/,
        { newWindow: false },
      );
      expectRefused(await postBack(form.fields), /already used/, { newWindow: false });
      const c = await login(ctx, platform);
      expectRefused(
        await postBack({
          id_token: sign(platform, launchClaims(platform, c.nonce)),
          state: c.state,
          storage_confirmation: 'anything',
        }),
        /confirmation is not the one issued/,
        { newWindow: false },
      );
      expectRefused(
        await postBack({
          id_token: 'x',
          state: 'never-issued',
          storage_confirmation: 'anything',
        }),
        /not issued by this tool/,
        { newWindow: false },
      );
    });

    it('expires: the page has two minutes to confirm, within the login', async () => {
      try {
        const l = await storageLogin();
        const { form } = await firstPost(l);
        ctx.clock.advance(121_000);
        expectRefused(await postBack(form.fields), /not confirmed in time/, { newWindow: true });
        ctx.clock.release();
        // A login past its lifetime gets no confirmation page at all.
        const late = await storageLogin();
        ctx.clock.advance(ctx.config.LTI_LOGIN_TTL_SECONDS * 1000 + 1000);
        const res = await launch(
          ctx,
          { id_token: sign(platform, launchClaims(platform, late.nonce)), state: late.state },
          '',
        );
        expectRefused(res, /login expired/, { newWindow: false });
      } finally {
        ctx.clock.release();
      }
    });

    it('still checks the nonce against the one issued with the state', async () => {
      const l = await storageLogin();
      const other = await storageLogin();
      const { form } = await firstPost(l, other.nonce);
      expectRefused(await postBack(form.fields), /nonce is not the one issued/, {
        newWindow: false,
      });
    });

    it('uses the cookie when it came back, without asking the platform storage', async () => {
      const l = await storageLogin();
      const res = await launch(
        ctx,
        { id_token: sign(platform, launchClaims(platform, l.nonce)), state: l.state },
        l.cookie,
      );
      expect(res.status, res.text).to.equal(303);
    });
  });

  describe('a launch with neither cookie nor platform storage', () => {
    it('offers "Open in a new window", which runs the same login again without a storage frame', async () => {
      const l = await login(ctx, platform, { lti_message_hint: 'message-hint-2' });
      const res = await launch(
        ctx,
        { id_token: sign(platform, launchClaims(platform, l.nonce)), state: l.state },
        '',
      );
      expectRefused(res, /state cookie .* missing/, { newWindow: true });
      expect(res.text).to.include('gradebridge cannot open inside this page');
      const href = newWindowLink(res.text)!;
      const url = new URL(href, 'http://tool.test');
      expect(url.pathname).to.equal('/lti/login');
      expect(Object.fromEntries(url.searchParams)).to.deep.equal({
        iss: platform.issuer,
        login_hint: 'user-hint',
        target_link_uri: 'http://localhost/lti/launch',
        client_id: platform.clientId,
        lti_deployment_id: platform.deploymentId,
        lti_message_hint: 'message-hint-2',
      });
      // In the new window the login redirects at once, with a fresh state and its cookie.
      const again = await ctx.http.get(href).redirects(0);
      expect(again.status).to.equal(302);
      const redirect = new URL(again.headers.location!);
      expect(redirect.searchParams.get('state')).to.not.equal(l.state);
      expect(redirect.searchParams.get('lti_message_hint')).to.equal('message-hint-2');
      expect((again.headers['set-cookie'] as unknown as string[]).join()).to.match(/^state/);
    });

    it('keeps no restart for hints that are not clean text of a sane length', async () => {
      const l = await login(ctx, platform, { login_hint: 'x'.repeat(5000) });
      const res = await launch(
        ctx,
        { id_token: sign(platform, launchClaims(platform, l.nonce)), state: l.state },
        '',
      );
      expectRefused(res, /state cookie .* missing/, { newWindow: false });
      expect(res.text).to.include('Open gradebridge from your course again');
    });
  });
});
