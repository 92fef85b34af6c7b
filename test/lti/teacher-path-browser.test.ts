import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FrameLocator, Page } from 'playwright-core';
import { isoNow } from '../../src/db/time.js';
import { inTransaction } from '../../src/db/transaction.js';
import type { DataSyncEmulator } from '../../src/emulators/datasync/index.js';
import { LmsEmulator, ROLE } from '../../src/emulators/lms/index.js';
import { addApprover, setApprovalMode } from '../../src/grades/final-grade-workflow.js';
import { createWorker } from '../../src/job-registry.js';
import { tenantWithClient, uniqueId, type TenantFixture } from '../factories/index.js';
import {
  openBrowser,
  screenshotIfFailed,
  skipWithoutChromium,
  type BrowserSession,
} from '../helpers/chromium.js';
import { connectLms } from '../helpers/lms-tool.js';
import { buildContext, type TestContext } from '../helpers/context.js';
import { connectedDataSync, gradedCourses, type GradedCourse } from '../helpers/exchange.js';

const TOOL_FRAME = 'iframe[name="tool_content"]';
const TEACHER = 'Rosalind Franklin';
const APPROVER = 'Dorothy Hodgkin';
const LEARNERS = ['Alan Turing', 'Grace Hopper', 'Katherine Johnson'];
const COURSE = 'Crystallography';
/** A name as the pages sort and show it (family name first), matched by the family name. */
const family = (name: string) => name.split(' ').at(-1)!;

/**
 * The teacher's whole path, as a person clicks it: the LMS emulator's course
 * page (127.0.0.1) frames gradebridge (localhost), Chromium blocks third-party
 * cookies, launches go through the LMS's platform storage. The teacher pulls,
 * reviews, submits for approval; an approver approves from the same LMS; the
 * send runs through the Data Sync emulator; every outcome appears on the page
 * that asked, without a reload. A learner sees their own grades only.
 */
describe("the teacher's whole path in Chromium, inside the LMS's cross-site iframe", function () {
  this.timeout(180000);
  let ctx: TestContext;
  let server: http.Server;
  let base: string;
  let lms: LmsEmulator;
  let ds: DataSyncEmulator;
  let t: TenantFixture;
  let course: GradedCourse;
  let browser: BrowserSession | undefined;
  let page: Page | undefined;

  before(async function () {
    skipWithoutChromium(this, "the teacher's whole path in Chromium");
    ctx = await buildContext();
    server = http.createServer(ctx.app.koa.callback());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    // The tool on localhost, the LMS on 127.0.0.1: two sites.
    base = `http://localhost:${(server.address() as AddressInfo).port}`;
    t = await tenantWithClient(ctx, { scopes: ['journey'] });
    [course] = (await gradedCourses(ctx, t, {
      prefix: uniqueId('PATH'),
      courses: 1,
      columns: 2,
      learners: LEARNERS.length,
    })) as [GradedCourse];
    ({ ds } = await connectedDataSync(ctx, t.tenantId));
    await inTransaction(ctx.db, (trx) =>
      setApprovalMode(trx, t.tenantId, 'required', isoNow(ctx.clock)),
    );

    lms = await LmsEmulator.start({ host: '127.0.0.1' });
    lms.platformStorage = 'post_message_forwarding';
    lms.createContext({
      id: 'ctx-path',
      label: 'XRAY-1',
      title: COURSE,
      lisCourseSourcedId: course.courseId,
    });
    lms.addMember('ctx-path', { userId: 'teacher', name: TEACHER, roles: [ROLE.instructor] });
    lms.addMember('ctx-path', { userId: 'dean', name: APPROVER, roles: [ROLE.instructor] });
    LEARNERS.forEach((name, i) =>
      lms.addMember('ctx-path', {
        userId: `s${i + 1}`,
        name,
        roles: [ROLE.learner],
        lisPersonSourcedId: course.learners[i]!,
      }),
    );
    lms.addResourceLink('ctx-path', { id: 'link-path', title: 'Final grades' });
    const quiz = lms.addLineItem('ctx-path', { label: 'Lab report', scoreMaximum: 20 }).id;
    lms.setResult(quiz, 's1', { resultScore: 17 });
    lms.setResult(quiz, 's2', { resultScore: 12 });
    await connectLms(ctx.deps, lms, t.tenantId, base);
  });

  after(async () => {
    await browser?.close();
    await lms?.close();
    await ds?.close();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await ctx?.deps.exchange.close();
    await ctx?.db.destroy();
    await ctx?.database.drop();
  });

  afterEach(async function () {
    await screenshotIfFailed(this, page);
    await browser?.close();
    browser = undefined;
    page = undefined;
  });

  /** The LMS's home page, "Launch as NAME": gradebridge in the course page's frame. */
  async function launchAs(name: string): Promise<{ page: Page; frame: FrameLocator }> {
    browser = await openBrowser({ width: 1280, height: 900 });
    page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${lms.url}/`);
    await page.getByRole('link', { name: `Launch as ${name}`, exact: true }).click();
    const frame = page.frameLocator(TOOL_FRAME);
    await frame.getByRole('heading', { name: COURSE }).first().waitFor();
    expect(await browser.context.cookies(base), 'no cookie of the tool').to.deep.equal([]);
    expect(errors).to.deep.equal([]);
    return { page, frame };
  }

  /** The tool frame's address, to prove a step ran in place. */
  const frameUrl = (p: Page) => p.frame({ name: 'tool_content' })!.url();

  it('launches, pulls, reviews and submits as the teacher, each outcome shown in place', async () => {
    const { page, frame } = await launchAs(TEACHER);
    const inner = page.frame({ name: 'tool_content' })!;
    await inner.evaluate('window.stillHere = true');
    const at = frameUrl(page);

    // Pull: queued, then done, in the frame, without a reload.
    await frame.getByRole('button', { name: 'Pull grades and roster now' }).click();
    const outcome = frame.locator('#outcome');
    await outcome.getByText('A pull from the LMS is queued.').waitFor();
    await createWorker(ctx.deps).drain();
    await outcome.getByText('Pulled from the LMS.').waitFor();
    await frame.locator('.grid thead').getByText('Lab report').waitFor();
    expect(frameUrl(page)).to.equal(at);
    expect(await inner.evaluate<boolean>('window.stillHere === true')).to.equal(true);
    for (const name of LEARNERS)
      await frame.locator('.grid').getByText(family(name)).first().waitFor();

    // Review: every learner with the final grade that would be submitted.
    await frame.getByRole('link', { name: 'Submit final grades for approval' }).click();
    await frame.getByRole('heading', { name: /Review final grades before you submit/ }).waitFor();
    const review = frame.locator('#content');
    for (const name of LEARNERS) await review.getByText(family(name)).first().waitFor();

    // Submit, with a comment; the outcome replaces nothing but the notice.
    const reviewInner = page.frame({ name: 'tool_content' })!;
    await reviewInner.evaluate('window.stillHere = true');
    const reviewAt = frameUrl(page);
    await frame.getByLabel('Comment for the approver (optional)').fill('End of term');
    await frame.getByRole('button', { name: 'Submit final grades for approval' }).click();
    await outcome
      .getByText(`${LEARNERS.length} final grades are submitted for approval.`)
      .waitFor();
    await frame.locator('#content').getByText('already wait for approval').waitFor();
    expect(frameUrl(page)).to.equal(reviewAt);
    expect(await reviewInner.evaluate<boolean>('window.stillHere === true')).to.equal(true);
    expect(
      await ctx.db('final_grade_submissions').where({ tenant_id: t.tenantId, state: 'submitted' }),
    ).to.have.length(1);
  });

  it('approves as the approver, and sees the send reach the SIS without reloading', async () => {
    const dean = await ctx.db('users').where({ tenant_id: t.tenantId, name: APPROVER }).first('id');
    await inTransaction(ctx.db, (trx) =>
      addApprover(trx, t.tenantId, dean.id as number, 'cli', isoNow(ctx.clock)),
    );
    const { page, frame } = await launchAs(APPROVER);
    await frame
      .getByRole('link', { name: /Approvals: final grades waiting for your decision/ })
      .click();
    await frame.getByRole('button', { name: 'Approve these final grades' }).waitFor();
    await frame.getByText('End of term').first().waitFor();
    const inner = page.frame({ name: 'tool_content' })!;
    expect(inner.url()).to.match(/\/app\/approvals$/);
    await inner.evaluate('window.stillHere = true');
    const at = frameUrl(page);

    await frame.getByRole('button', { name: 'Approve these final grades' }).click();
    const outcome = frame.locator('#outcome');
    await outcome
      .getByText(`Approved: ${LEARNERS.length} final grades are being sent to the SIS.`)
      .waitFor();
    // The worker asks Data Sync for the exchange and answers it; the page follows.
    await createWorker(ctx.deps).drain();
    await outcome.getByText(`${LEARNERS.length} final grades reached the SIS.`).waitFor({
      timeout: 30000,
    });
    expect(frameUrl(page)).to.equal(at);
    expect(await inner.evaluate<boolean>('window.stillHere === true')).to.equal(true);
    // What Data Sync received is the approved snapshot: one final grade per learner.
    const approved = await ctx
      .db('final_grade_snapshots as s')
      .join('final_grade_submissions as f', 'f.id', 's.submission_id')
      .where({ 'f.tenant_id': t.tenantId, 'f.state': 'approved' })
      .count({ n: '*' })
      .first();
    expect(Number(approved?.n)).to.equal(LEARNERS.length);
  });

  it("shows the teacher each learner's final grade as sent, on the review", async () => {
    const { frame } = await launchAs(TEACHER);
    await frame
      .getByRole('link', { name: /final grades/i })
      .first()
      .click();
    await frame.getByRole('heading', { name: /Review final grades/ }).waitFor();
    expect(await frame.locator('#content').getByText('Sent to the SIS').count()).to.equal(
      LEARNERS.length,
    );
  });

  it('shows a learner their own grades and nobody else’s', async () => {
    const { frame } = await launchAs(LEARNERS[0]!);
    await frame.getByText(LEARNERS[0]!).first().waitFor();
    const text = await frame.locator('body').innerText();
    for (const other of [...LEARNERS.slice(1), TEACHER, APPROVER])
      expect(text, other).not.to.include(other);
    expect(text, 'their Lab report score').to.include('17');
    expect(text).not.to.include('Pull grades and roster now');
    expect(text).not.to.include('Submit final grades for approval');
  });
});
