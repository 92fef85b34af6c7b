import { expect } from 'chai';
import { isoNow } from '../../src/db/time.js';
import { inTransaction } from '../../src/db/transaction.js';
import { recordLaunch, unchangedLaunch } from '../../src/lti/launch.js';
import { readClaims } from '../../src/lti/launch-check.js';
import { registerPlatform } from '../../src/lti/registration.js';
import { tenantWithClient, uniqueId } from '../factories/index.js';
import { sharedContext, type TestContext } from '../helpers/context.js';

const INSTRUCTOR = 'http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor';
const LEARNER = 'http://purl.imsglobal.org/vocab/lis/v2/membership#Learner';
const CLAIM = 'https://purl.imsglobal.org/spec/lti/claim/';

describe('recording a launch', function () {
  this.timeout(20000);
  let ctx: TestContext;
  let tenantId: number;
  let deploymentRowId: number;
  const issuer = `https://lms.example.edu/${uniqueId('iss')}`;
  const clientId = 'record-client';

  before(async () => {
    ctx = await sharedContext();
    tenantId = (await tenantWithClient(ctx)).tenantId;
    await registerPlatform(ctx.deps, {
      tenantId,
      issuer,
      clientId,
      authenticationEndpoint: 'https://lms.example.edu/auth',
      accessTokenEndpoint: 'https://lms.example.edu/token',
      keysetUrl: 'https://lms.example.edu/jwks',
      deploymentIds: ['d1'],
    });
    deploymentRowId = (await ctx.db('lti_deployments').where({ issuer }).first('id')).id;
  });

  const launch = (
    over: { name?: string; roles?: string[]; title?: string; sub?: string } = {},
  ) => ({
    tenantId,
    deploymentRowId,
    claims: readClaims(
      {
        iss: issuer,
        aud: clientId,
        sub: over.sub ?? 'u-1',
        name: over.name ?? 'Ada Lovelace',
        email: 'ada@example.edu',
        [`${CLAIM}version`]: '1.3.0',
        [`${CLAIM}message_type`]: 'LtiResourceLinkRequest',
        [`${CLAIM}deployment_id`]: 'd1',
        [`${CLAIM}target_link_uri`]: 'https://tool.example.edu/lti/launch',
        [`${CLAIM}roles`]: over.roles ?? [INSTRUCTOR],
        [`${CLAIM}resource_link`]: { id: 'rl-1' },
        [`${CLAIM}context`]: { id: 'ctx-1', title: over.title ?? 'Algebra' },
      },
      clientId,
    ),
  });
  const record = (v: ReturnType<typeof launch>) =>
    inTransaction(ctx.db, (trx) => recordLaunch(trx, v, isoNow(ctx.clock)));

  it('finds a repeated launch with one read and records nothing new', async () => {
    expect(await unchangedLaunch(ctx.db, launch())).to.equal(null);
    const first = await record(launch());
    const again = await unchangedLaunch(ctx.db, launch());
    expect(again).to.deep.equal(first);
    expect(first.staff).to.equal(true);
  });

  it('leaves changes to recordLaunch: a new name, title or role is written', async () => {
    const first = await record(launch());
    // Each launch changes one more thing than the one before.
    for (const changed of [
      launch({ name: 'Ada King' }),
      launch({ name: 'Ada King', title: 'Algebra II' }),
      launch({ name: 'Ada King', title: 'Algebra II', roles: [LEARNER] }),
    ]) {
      expect(await unchangedLaunch(ctx.db, changed)).to.equal(null);
      const recorded = await record(changed);
      expect(recorded.courseId).to.equal(first.courseId);
      expect(recorded.userId).to.equal(first.userId);
      expect(await unchangedLaunch(ctx.db, changed)).to.deep.equal(recorded);
    }
    const user = await ctx.db('users').where({ id: first.userId }).first('name');
    expect(user.name).to.equal('Ada King');
    const course = await ctx.db('lti_contexts').where({ course_id: first.courseId }).first('title');
    expect(course.title).to.equal('Algebra II');
    const enrollment = await ctx
      .db('enrollments')
      .where({ course_id: first.courseId, user_id: first.userId })
      .first('role');
    expect(enrollment.role).to.equal('Learner');
  });

  it('does not find a different person in the same course', async () => {
    await record(launch());
    expect(await unchangedLaunch(ctx.db, launch({ sub: 'u-2' }))).to.equal(null);
  });
});
