import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { isoNow } from '../../src/db/time.js';
import { inTransaction } from '../../src/db/transaction.js';
import { recordLaunch } from '../../src/lti/launch.js';
import { readClaims } from '../../src/lti/launch-check.js';
import { registerPlatform } from '../../src/lti/registration.js';
import { tenantWithClient, uniqueId } from '../factories/index.js';
import { buildContext, type TestContext } from '../helpers/context.js';
import { createTestDatabase, postgresSkipReason } from '../helpers/database.js';

const CLAIM = 'https://purl.imsglobal.org/spec/lti/claim/';
const DL = 'https://purl.imsglobal.org/spec/lti-dl/claim/';

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`LTI deep linking: new columns made at the same moment, on ${kind}`, function () {
    this.timeout(60000);
    let ctx: TestContext;
    let session: string;
    let courseId: number;

    before(async function () {
      const reason = kind === 'postgres' ? postgresSkipReason() : null;
      if (reason) {
        process.stderr.write(`    skipped: deep linking on PostgreSQL (${reason})\n`);
        this.skip();
      }
      ctx = await buildContext({ database: await createTestDatabase(kind) });
      const tenantId = (await tenantWithClient(ctx)).tenantId;
      const issuer = `https://lms.example.edu/${uniqueId('dl')}`;
      await registerPlatform(ctx.deps, {
        tenantId,
        issuer,
        clientId: 'dl-client',
        authenticationEndpoint: 'https://lms.example.edu/auth',
        accessTokenEndpoint: 'https://lms.example.edu/token',
        keysetUrl: 'https://lms.example.edu/jwks',
        deploymentIds: ['d1'],
      });
      const deployment = await ctx.db('lti_deployments').where({ issuer }).first('id');
      const claims = readClaims(
        {
          iss: issuer,
          aud: 'dl-client',
          sub: 'teacher',
          [`${CLAIM}version`]: '1.3.0',
          [`${CLAIM}message_type`]: 'LtiDeepLinkingRequest',
          [`${CLAIM}deployment_id`]: 'd1',
          [`${CLAIM}roles`]: ['http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor'],
          [`${CLAIM}context`]: { id: 'ctx-dl', title: 'Physics' },
          'https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings': {
            deep_link_return_url: 'https://lms.example.edu/deep-link/return',
            accept_types: ['ltiResourceLink'],
            data: 'opaque',
          },
        },
        'dl-client',
      );
      const recorded = await inTransaction(ctx.db, (trx) =>
        recordLaunch(trx, { claims, tenantId, deploymentRowId: deployment.id }, isoNow(ctx.clock)),
      );
      courseId = recorded.courseId;
      session = ctx.deps.lti.sessions.issue({
        tenantId,
        userId: recorded.userId,
        courseId,
        ltiContextId: recorded.ltiContextId,
        staff: true,
        deepLinking: claims.deepLinking!,
        deploymentId: 'd1',
      });
    });
    after(async () => {
      await ctx?.db.destroy();
      await ctx?.database.drop();
    });

    /** The deep linking answer the tool signed, from its auto-submitting page. */
    const answer = (text: string) => {
      const token = /name="JWT" value="([^"]+)"/.exec(text)?.[1];
      if (!token) throw new Error(`no JWT in ${text.slice(0, 500)}`);
      return jwt.decode(token) as Record<string, unknown>;
    };

    it('gives each its own column ("Lab", "Lab (2)", ...) and answers every one', async () => {
      const n = 6;
      const responses = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          ctx.http
            .post('/lti/deep-link')
            .type('form')
            .send({ session, title: `Lab link ${i}`, column: 'new', label: 'Lab', points: '20' }),
        ),
      );
      for (const res of responses) expect(res.status, res.text.slice(0, 800)).to.equal(200);
      const columns = await ctx
        .db('grade_columns')
        .where({ course_id: courseId })
        .whereNull('deleted_at')
        .orderBy('id')
        .select('id', 'name');
      expect(columns.map((c) => c.name).sort()).to.deep.equal(
        ['Lab', ...Array.from({ length: n - 1 }, (_, i) => `Lab (${i + 2})`)].sort(),
      );
      // Each answer carries the line item of a different column.
      const resourceIds = responses.map(
        (res) =>
          (
            (answer(res.text)[`${DL}content_items`] as Array<Record<string, unknown>>)[0]!
              .lineItem as Record<string, unknown>
          ).resourceId,
      );
      expect(new Set(resourceIds).size).to.equal(n);
      expect([...resourceIds].sort()).to.deep.equal(
        columns.map((c) => `gradebridge-column-${c.id}`).sort(),
      );
    });
  });
}
