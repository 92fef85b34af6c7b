import { expect } from 'chai';
import { cut, displayText, identifierProblem } from '../../src/lti/claim-text.js';
import { tenantWithClient, uniqueId, type TenantFixture } from '../factories/index.js';
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

const NUL = '\u0000';
const LONE_HIGH = '\uD83D';
const LONE_LOW = '\uDE00';
const GRIN = '\uD83D\uDE00';

describe('over-long and malformed LTI claims', function () {
  this.timeout(60000);
  let ctx: TestContext;
  let t: TenantFixture;
  let platform: TestPlatform;

  before(async () => {
    ctx = await sharedContext();
    t = await tenantWithClient(ctx);
    platform = await startTestPlatform(ctx, t.tenantId);
  });
  after(() => platform.close());

  /** Launches with the valid claims changed; a fresh sub and context unless the change sets them. */
  const attempt = async (change: (c: Record<string, unknown>) => Record<string, unknown>) => {
    const l = await login(ctx, platform);
    const base = launchClaims(platform, l.nonce, {
      sub: uniqueId('sub'),
      [`${LTI}context`]: { id: uniqueId('ctx'), title: 'Claims 101' },
    });
    return launch(ctx, { id_token: sign(platform, change(base)), state: l.state }, l.cookie);
  };

  /** The user and course a successful launch recorded. */
  const recorded = async (res: { status: number; text: string }, sub: string) => {
    expect(res.status, res.text.slice(0, 1500)).to.equal(303);
    const row = await ctx
      .db('external_ids as e')
      .join('users as u', 'u.id', 'e.local_id')
      .join('enrollments as en', 'en.user_id', 'u.id')
      .join('courses as c', 'c.id', 'en.course_id')
      .join('lti_contexts as x', 'x.course_id', 'c.id')
      .where({ 'e.tenant_id': t.tenantId, 'e.kind': 'user', 'e.external_id': sub })
      .first('u.name', 'u.email', 'c.title as course', 'x.title as context');
    expect(row, 'launch recorded').to.not.equal(undefined);
    return row as { name: string | null; email: string | null; course: string; context: string };
  };

  const expectRefused = (
    res: { status: number; text: string; headers: Record<string, string> },
    status: number,
    reason: RegExp,
  ) => {
    expect(res.status, res.text.slice(0, 1500)).to.equal(status);
    expect(res.headers['content-type']).to.match(/^text\/html/);
    expect(res.text).to.match(reason);
  };

  describe('display texts are cleaned and cut to their column', () => {
    it('cuts a 5,000-character name to 255 and a 20,000-character context title to 333', async () => {
      const sub = uniqueId('long');
      const row = await recorded(
        await attempt((c) => ({
          ...c,
          sub,
          name: 'N'.repeat(5000),
          email: `${'e'.repeat(400)}@example.edu`,
          [`${LTI}context`]: { id: uniqueId('ctx'), title: 'T'.repeat(20_000), label: 'L' },
        })),
        sub,
      );
      expect(row.name).to.equal('N'.repeat(255));
      expect(row.email).to.have.length(320);
      expect(row.course).to.equal('T'.repeat(333));
      expect(row.context).to.equal('T'.repeat(333));
    });

    it('removes NUL characters and replaces lone surrogates in names, titles and email', async () => {
      const sub = uniqueId('nul');
      const row = await recorded(
        await attempt((c) => ({
          ...c,
          sub,
          name: undefined,
          given_name: `Ada${NUL}`,
          family_name: `Love${LONE_HIGH}lace ${GRIN}`,
          email: `ada${NUL}@example.edu`,
          [`${LTI}context`]: { id: uniqueId('ctx'), title: `Bio${NUL}logy ${LONE_LOW}101` },
        })),
        sub,
      );
      expect(row.name).to.equal(`Ada Love\uFFFDlace ${GRIN}`);
      expect(row.email).to.equal('ada@example.edu');
      expect(row.course).to.equal('Biology \uFFFD101');
    });

    it('cuts a name of astral characters by characters, never inside a pair', async () => {
      const sub = uniqueId('astral');
      const row = await recorded(
        await attempt((c) => ({ ...c, sub, name: GRIN.repeat(300) })),
        sub,
      );
      expect(row.name).to.equal(GRIN.repeat(255));
    });

    it('refuses a launch of a megabyte with the LTI error page, not a 500', async () => {
      const res = await attempt((c) => ({ ...c, name: 'N'.repeat(1024 * 1024) }));
      expectRefused(res, 413, /larger than the limit/);
    });
  });

  describe('identifiers are refused when over-long or not clean text', () => {
    const cases: Array<[string, (c: Record<string, unknown>) => Record<string, unknown>, RegExp]> =
      [
        [
          'a sub of 256 characters',
          (c) => ({ ...c, sub: 's'.repeat(256) }),
          /sub \(the user\) is longer than 255/,
        ],
        [
          'a sub with a NUL',
          (c) => ({ ...c, sub: `user${NUL}1` }),
          /sub \(the user\) must not contain NUL/,
        ],
        [
          'a sub with a lone surrogate',
          (c) => ({ ...c, sub: `user${LONE_HIGH}` }),
          /sub \(the user\) must be valid Unicode/,
        ],
        [
          'a context id of 300 characters',
          (c) => ({ ...c, [`${LTI}context`]: { id: 'c'.repeat(300), title: 'x' } }),
          /context id is longer than 255/,
        ],
        [
          'a context id with a NUL',
          (c) => ({ ...c, [`${LTI}context`]: { id: `ctx${NUL}`, title: 'x' } }),
          /context id must not contain NUL/,
        ],
        [
          'a deployment id with a NUL',
          (c) => ({ ...c, [`${LTI}deployment_id`]: `${platform.deploymentId}${NUL}` }),
          /deployment_id claim must not contain NUL/,
        ],
        [
          'a deployment id of 256 characters',
          (c) => ({ ...c, [`${LTI}deployment_id`]: 'd'.repeat(256) }),
          /deployment_id claim is longer than 255/,
        ],
        [
          'a resource link id with a lone surrogate',
          (c) => ({ ...c, [`${LTI}resource_link`]: { id: `rl${LONE_LOW}` } }),
          /resource_link id must be valid Unicode/,
        ],
        [
          'a LIS person sourcedid with a NUL',
          (c) => ({ ...c, [`${LTI}lis`]: { person_sourcedid: `P${NUL}1` } }),
          /LIS person sourcedid must not contain NUL/,
        ],
        [
          'a role_scope_mentor entry with a NUL',
          (c) => ({ ...c, [`${LTI}role_scope_mentor`]: ['s1', `s2${NUL}`] }),
          /role_scope_mentor entry must not contain NUL/,
        ],
        [
          'a role_scope_mentor that is not a list',
          (c) => ({ ...c, [`${LTI}role_scope_mentor`]: 's1' }),
          /role_scope_mentor claim is not a list/,
        ],
        [
          'a lineitems URL with a NUL',
          (c) => ({
            ...c,
            'https://purl.imsglobal.org/spec/lti-ags/claim/endpoint': {
              scope: [],
              lineitems: `https://lms.example/li${NUL}`,
            },
          }),
          /AGS lineitems URL must not contain NUL/,
        ],
      ];
    for (const [label, change, reason] of cases) {
      it(`refuses ${label} with the LTI error page`, async () => {
        const before = await ctx.db('users').where({ tenant_id: t.tenantId }).count({ n: '*' });
        expectRefused(await attempt(change), 400, reason);
        const after = await ctx.db('users').where({ tenant_id: t.tenantId }).count({ n: '*' });
        expect(Number(after[0]!.n)).to.equal(Number(before[0]!.n));
      });
    }
  });

  describe('login and state parameters', () => {
    const loginWith = (params: Record<string, string>) =>
      ctx.http
        .get('/lti/login')
        .query({
          iss: platform.issuer,
          login_hint: 'hint',
          target_link_uri: 'http://localhost/lti/launch',
          client_id: platform.clientId,
          ...params,
        })
        .redirects(0);

    it('refuses a login whose issuer, client id or target has a NUL or is over-long', async () => {
      // The query validation of the surface already refuses NUL characters in any parameter.
      expectRefused(
        await loginWith({ iss: `${platform.issuer}${NUL}` }),
        400,
        /iss (is not valid|must not contain NUL)/,
      );
      expectRefused(await loginWith({ client_id: 'c'.repeat(300) }), 400, /client_id is not valid/);
      expectRefused(
        await loginWith({ target_link_uri: `http://localhost/lti/launch?x=${'y'.repeat(3000)}` }),
        400,
        /target_link_uri is not valid/,
      );
      expectRefused(
        await loginWith({ lti_deployment_id: 'd'.repeat(256) }),
        400,
        /lti_deployment_id is not valid/,
      );
      expectRefused(
        await loginWith({ iss: `${platform.issuer}/${'x'.repeat(1100)}` }),
        400,
        /iss is not valid/,
      );
    });

    it('refuses a launch whose state has a NUL', async () => {
      const l = await login(ctx, platform);
      const token = sign(platform, launchClaims(platform, l.nonce));
      expectRefused(
        await launch(ctx, { id_token: token, state: `${l.state}${NUL}` }, l.cookie),
        401,
        /state was not issued by this tool/,
      );
    });
  });

  describe('the text rules', () => {
    it('identifierProblem, displayText and cut', () => {
      expect(identifierProblem('a'.repeat(255))).to.equal(null);
      expect(identifierProblem('a'.repeat(256))).to.match(/longer than 255/);
      expect(identifierProblem(`a${NUL}`)).to.match(/NUL/);
      expect(identifierProblem(GRIN)).to.equal(null);
      expect(identifierProblem(`${LONE_LOW}${LONE_HIGH}`)).to.match(/lone surrogate/);
      expect(displayText(`  a${NUL}b\u0007c\td  `, 10)).to.equal('abc\td');
      expect(displayText(`${NUL}  `, 10)).to.equal(null);
      expect(displayText(42, 10)).to.equal(null);
      expect(displayText(`x${LONE_HIGH}`, 10)).to.equal('x\uFFFD');
      expect(cut(`ab${GRIN}c`, 3)).to.equal(`ab${GRIN}`);
      expect(cut('abc', 5)).to.equal('abc');
    });
  });
});
