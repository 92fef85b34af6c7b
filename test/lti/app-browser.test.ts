import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { isoNow } from '../../src/db/time.js';
import { inTransaction } from '../../src/db/transaction.js';
import type { DataSyncEmulator } from '../../src/emulators/datasync/index.js';
import { LmsEmulator } from '../../src/emulators/lms/index.js';
import { pollNow } from '../../src/exchange/jobs.js';
import { addApprover, setApprovalMode } from '../../src/grades/final-grade-workflow.js';
import { createWorker } from '../../src/job-registry.js';
import { bigCourse, type BigCourse } from '../factories/course-page.js';
import { tenantWithClient, uniqueId, type TenantFixture } from '../factories/index.js';
import { Browser } from '../helpers/browser.js';
import {
  accessibilityViolations,
  openBrowser,
  screenshotIfFailed,
  scrollsSideways,
  skipWithoutChromium,
  type BrowserSession,
} from '../helpers/chromium.js';
import { connectLms } from '../helpers/lms-tool.js';
import { buildContext, type TestContext } from '../helpers/context.js';
import {
  connectedDataSync,
  courseCondition,
  gradedCourses,
  type GradedCourse,
} from '../helpers/exchange.js';

const INSTRUCTOR = 'http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor';
const LEARNER = 'http://purl.imsglobal.org/vocab/lis/v2/membership#Learner';

/**
 * The teacher app in Chromium: a course the SIS made through Journey, linked
 * to a course of the LMS emulator, its grades sent to the Data Sync emulator
 * (one learner refused), approval required. Sessions come from real launches
 * through the script-less browser; Chromium then opens the app's pages.
 */
describe('the teacher app in Chromium: phone width, iframes, live outcomes, axe', function () {
  this.timeout(120000);
  let ctx: TestContext;
  let server: http.Server;
  let base: string;
  let lms: LmsEmulator;
  let ds: DataSyncEmulator;
  let t: TenantFixture;
  let course: GradedCourse;
  let clientId: string;
  let teacher: string;
  let dean: string;
  let big: BigCourse;
  let browser: BrowserSession | undefined;
  let page: Page | undefined;

  before(async function () {
    skipWithoutChromium(this, 'the teacher app in Chromium');
    ctx = await buildContext();
    server = http.createServer(ctx.app.koa.callback());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t = await tenantWithClient(ctx, { scopes: ['journey'] });
    [course] = (await gradedCourses(ctx, t, {
      prefix: uniqueId('APP'),
      courses: 1,
      columns: 3,
      learners: 4,
    })) as [GradedCourse];
    // Grades out to Data Sync; the SIS refuses one learner's.
    let conn;
    ({ ds, conn } = await connectedDataSync(ctx, t.tenantId));
    ds.failPerson(course.learners[1]!, 'student_not_enrolled');
    ds.createExchange({
      query: { type: 'assignment_scores', conditions: [courseCondition(course.courseId) as never] },
      courseAppId: 'app-1',
    });
    await pollNow(ctx.deps, conn, ctx.deps.logger);
    await inTransaction(ctx.db, (trx) =>
      setApprovalMode(trx, t.tenantId, 'required', isoNow(ctx.clock)),
    );

    lms = await LmsEmulator.start();
    lms.createContext({
      id: 'ctx-app',
      label: 'APP101',
      title: 'Applied Grading',
      lisCourseSourcedId: course.courseId,
    });
    lms.addMember('ctx-app', { userId: 'teacher', name: 'Rosalind Franklin', roles: [INSTRUCTOR] });
    lms.addMember('ctx-app', { userId: 'dean', name: 'Dorothy Hodgkin', roles: [INSTRUCTOR] });
    course.learners.forEach((sourcedId, i) =>
      lms.addMember('ctx-app', {
        userId: `s${i + 1}`,
        name: ['Alan Turing', 'Grace Hopper', 'Katherine Johnson', 'Edsger Dijkstra'][i]!,
        roles: [LEARNER],
        lisPersonSourcedId: sourcedId,
      }),
    );
    lms.addResourceLink('ctx-app', { id: 'link-1', title: 'Gradebook' });
    const quiz = lms.addLineItem('ctx-app', { label: 'Quiz 1', scoreMaximum: 10 }).id;
    lms.setResult(quiz, 's1', { resultScore: 8 });
    const tool = await connectLms(ctx.deps, lms, t.tenantId, base);
    clientId = tool.clientId;
    const launch = async (userId: string) => {
      const res = await new Browser().open(
        lms.loginInitiationUrl({
          toolClientId: clientId,
          userId,
          contextId: 'ctx-app',
          resourceLinkId: 'link-1',
        }),
        { submitForms: true },
      );
      expect(res.status, res.html).to.equal(200);
      return new URL(res.url).searchParams.get('session')!;
    };
    teacher = await launch('teacher');
    dean = await launch('dean');
    const deanId = (
      await ctx.db('users').where({ tenant_id: t.tenantId, name: 'Dorothy Hodgkin' }).first('id')
    ).id as number;
    await inTransaction(ctx.db, (trx) =>
      addApprover(trx, t.tenantId, deanId, 'cli', isoNow(ctx.clock)),
    );
    // A bigger course, in pages, every grade sent (some refused, some changed since).
    big = await bigCourse(ctx.deps, { learners: 150, columns: 8 });
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

  const open = async (url: string, width = 1280) => {
    browser = await openBrowser({ width, height: 900 });
    page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(url);
    return { page, errors };
  };
  const app = (token: string, path = '') => `${base}/lti/s/${token}/app${path}`;

  it('fits a 390 px phone: the grid scrolls in its own box, the page never sideways', async () => {
    const { page, errors } = await open(app(big.token), 390);
    await page.getByRole('heading', { name: 'Grades', exact: true }).waitFor();
    expect(await scrollsSideways(page)).to.equal(false);
    const grid = page.locator('.grid');
    const box = await grid.evaluate((el) => ({ scroll: el.scrollWidth, client: el.clientWidth }));
    expect(box.scroll).to.be.above(box.client);
    // The first column and the column headers stay in view while the grid scrolls.
    const header = await page.locator('.grid thead th').nth(3).boundingBox();
    await grid.evaluate((el) => el.scrollTo({ left: el.scrollWidth, top: el.scrollHeight }));
    const first = await page.locator('.grid tbody th').last().boundingBox();
    const gridBox = (await grid.boundingBox())!;
    expect(first!.x).to.be.within(gridBox.x, gridBox.x + 2);
    const corner = (await page.locator('.grid thead th').first().boundingBox())!;
    expect(corner.y).to.be.within(gridBox.y, gridBox.y + 2);
    expect(header!.y).to.be.within(gridBox.y, gridBox.y + 2);
    expect(errors).to.deep.equal([]);
  });

  it('fits a cross-site LMS iframe at phone width, and works there without cookies', async () => {
    // The LMS page is on another site (localhost, not 127.0.0.1) and frames the course page.
    const frameHost = http.createServer((_req, res) => {
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      res.end(
        `<!doctype html><html lang="en"><head><meta name="viewport" content="width=device-width"><title>LMS</title></head><body style="margin:0"><iframe title="gradebridge" src="${app(teacher)}" style="border:0;width:100%;height:800px"></iframe></body></html>`,
      );
    });
    await new Promise<void>((r) => frameHost.listen(0, '127.0.0.1', r));
    try {
      const port = (frameHost.address() as AddressInfo).port;
      const { page } = await open(`http://localhost:${port}/`, 390);
      const frame = page.frameLocator('iframe');
      await frame.getByRole('heading', { name: 'Grades', exact: true }).waitFor();
      const inner = page.frames().find((f) => f.url().startsWith(base))!;
      expect(
        await inner.evaluate<boolean>(
          'document.documentElement.scrollWidth > document.documentElement.clientWidth + 1',
        ),
      ).to.equal(false);
      expect(await page.context().cookies(base)).to.deep.equal([]);
      // A link inside the frame keeps the session (it is in the page's base, not a cookie).
      await frame.getByRole('link', { name: 'Submit final grades for approval' }).click();
      await frame.getByRole('heading', { name: /Review final grades before you submit/ }).waitFor();
    } finally {
      frameHost.closeAllConnections();
      await new Promise((r) => frameHost.close(r));
    }
  });

  it('shows why a grade was not sent to a keyboard, not only to a mouse hovering', async () => {
    const { page } = await open(app(teacher));
    const cell = page.locator('td:has(details.why)').first();
    await cell.locator('a').focus();
    await page.keyboard.press('Tab');
    const focused = await page.evaluate<boolean>(
      "document.activeElement?.tagName === 'SUMMARY' && !!document.activeElement.closest('details.why')",
    );
    expect(focused, 'the next Tab stop is the mark').to.equal(true);
    const reason = cell.locator('.reason');
    expect(await reason.isVisible()).to.equal(false);
    await page.keyboard.press('Enter');
    await reason.waitFor({ state: 'visible' });
    expect(await reason.innerText()).to.include(
      'The SIS has no enrollment for this learner in this course.',
    );
  });

  it('shows the outcome of a pull in place, without reloading, until it ends', async () => {
    const { page, errors } = await open(app(teacher));
    await page.evaluate('window.stillHere = true');
    const url = page.url();
    await page.getByRole('button', { name: 'Pull grades and roster now' }).click();
    const outcome = page.locator('#outcome');
    await outcome.getByText('A pull from the LMS is queued.').waitFor();
    await createWorker(ctx.deps).drain();
    await outcome.getByText('Pulled from the LMS.').waitFor();
    await outcome.getByText(/people, 1 line item and 1 result read/).waitFor();
    // The grid caught up in place: the LMS's column is there now.
    await page.locator('.grid thead').getByText('Quiz 1').waitFor();
    expect(page.url()).to.equal(url);
    expect(await page.evaluate<boolean>('window.stillHere === true')).to.equal(true);
    expect(errors).to.deep.equal([]);
  });

  it('submits final grades for approval from the review and says so in place', async () => {
    const { page } = await open(app(teacher, '/final-grades'));
    await page.getByLabel('Comment for the approver (optional)').fill('Term 1');
    await page.getByRole('button', { name: 'Submit final grades for approval' }).click();
    await page
      .locator('#outcome')
      .getByText(/\d final grades are submitted for approval\./)
      .waitFor();
    await page.locator('#content').getByText('already wait for approval').waitFor();
  });

  it('has no axe-core violations on the course page, review, approvals, reconciliation, grade history and landing page', async () => {
    const column = await ctx
      .db('grade_columns as g')
      .join('courses as c', 'c.id', 'g.course_id')
      .where({ 'c.batch_uid': course.courseId, 'g.name': 'Final' })
      .first('g.id');
    const learner = await ctx
      .db('users')
      .where({ tenant_id: t.tenantId, batch_uid: course.learners[0] })
      .first('id');
    const pages: Array<[string, string, string]> = [
      ['course page', app(teacher), 'Grades'],
      ['course page, 390 px', app(teacher), 'Grades'],
      ['course page of 150 learners, page 2', app(big.token, '?page=2'), 'Previous page'],
      ['review', app(teacher, '/final-grades'), 'Review final grades'],
      ['approvals', app(dean, '/approvals'), 'Approve these final grades'],
      ['reconciliation', app(teacher, '/reconcile?all=1'), 'Grades in the LMS'],
      ['reconciliation, 390 px', app(teacher, '/reconcile?all=1'), 'Grades in the LMS'],
      ['grade history', app(teacher, `/grade?column=${column.id}&user=${learner.id}`), 'Final'],
      ['landing page', `${base}/`, 'API documentation'],
    ];
    const found: string[] = [];
    for (const [name, url, text] of pages) {
      const { page } = await open(url, name.includes('390') ? 390 : 1280);
      await page.getByText(text).first().waitFor();
      for (const v of await accessibilityViolations(page)) found.push(`${name}: ${v}`);
      if (name.includes('390')) expect(await scrollsSideways(page), name).to.equal(false);
      await browser!.close();
      browser = undefined;
    }
    expect(found, found.join('\n')).to.deep.equal([]);
  });
});
