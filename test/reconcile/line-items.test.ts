import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { LmsEmulator } from '../../src/emulators/lms/index.js';
import { createMissingLineItems } from '../../src/lti/services.js';
import { tenantWithClient, type TenantFixture } from '../factories/index.js';
import { Browser } from '../helpers/browser.js';
import { connectLms } from '../helpers/lms-tool.js';
import { buildContext, type TestContext } from '../helpers/context.js';
import { journey } from '../helpers/journey.js';

const M = 'http://purl.imsglobal.org/vocab/lis/v2/membership#';

/** A column's line item is found before one is made: never two for one column. */
describe('LMS line items are never duplicated', function () {
  this.timeout(60000);
  let ctx: TestContext;
  let server: http.Server;
  let lms: LmsEmulator;
  let t: TenantFixture;
  let ltiContextId: number;

  before(async () => {
    ctx = await buildContext();
    server = http.createServer(ctx.app.koa.callback());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t = await tenantWithClient(ctx, { scopes: ['journey'] });
    await journey(ctx, t.token, 'gradableItemsAPI', [
      { courseId: 'SIS-LI-1', name: 'Essay', itemType: 'ASSIGNMENT', points: 20 },
      { courseId: 'SIS-LI-1', name: 'Exam', itemType: 'TEST', points: 50 },
    ]);
    lms = await LmsEmulator.start();
    lms.createContext({ id: 'ctx-li', title: 'History 1', lisCourseSourcedId: 'SIS-LI-1' });
    lms.addMember('ctx-li', { userId: 'teacher', roles: [`${M}Instructor`] });
    lms.addResourceLink('ctx-li', { id: 'link-li', title: 'Gradebook' });
    const tool = await connectLms(ctx.deps, lms, t.tenantId, base);
    const page = await new Browser().open(
      lms.loginInitiationUrl({
        toolClientId: tool.clientId,
        userId: 'teacher',
        resourceLinkId: 'link-li',
      }),
      { submitForms: true },
    );
    expect(page.status, page.html).to.equal(200);
    ltiContextId = (await ctx.db('lti_contexts').where({ tenant_id: t.tenantId }).first('id')).id;
  });
  after(async () => {
    await lms?.close();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await ctx?.deps.exchange.close();
    await ctx?.db.destroy();
    await ctx?.database.drop();
  });

  it('creates one line item per column even when asked twice at once, and finds a lost link again on the platform', async () => {
    const [a, b] = await Promise.all([
      createMissingLineItems(ctx.deps, ltiContextId),
      createMissingLineItems(ctx.deps, ltiContextId),
    ]);
    expect(a + b).to.equal(2);
    const items = () => lms.lineItems('ctx-li').filter((i) => i.tag === 'gradebridge');
    expect(items()).to.have.length(2);
    // The links are lost (a restore, a new deployment): the platform's line items are found by resourceId and tag.
    await ctx.db('external_ids').where({ tenant_id: t.tenantId, kind: 'lineitem' }).delete();
    expect(await createMissingLineItems(ctx.deps, ltiContextId)).to.equal(0);
    expect(items()).to.have.length(2);
    expect(
      await ctx.db('external_ids').where({ tenant_id: t.tenantId, kind: 'lineitem' }),
    ).to.have.length(2);
  });
});
