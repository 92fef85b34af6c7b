import { expect } from 'chai';
import { isoNow } from '../../src/db/time.js';
import { inTransaction } from '../../src/db/transaction.js';
import { createWorker } from '../../src/job-registry.js';
import { enqueue } from '../../src/jobs/queue.js';
import { bySortableName, sortableName } from '../../src/lti/sortable-name.js';
import { bigCourse, linkToLms, type BigCourse } from '../factories/course-page.js';
import { tenantWithClient, uniqueId } from '../factories/index.js';
import { buildContext, type TestContext } from '../helpers/context.js';
import { gradedCourses } from '../helpers/exchange.js';

/** The text a person reads: tags dropped, entities of quotes decoded, spaces collapsed. */
const words = (html: string) =>
  html
    .replace(/<[^>]*>/g, ' ')
    .replace(/&#39;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ');

/** The page without its disclosures: what a person sees at first. */
const visible = (html: string) => words(html.replace(/<details[\s\S]*?<\/details>/g, ''));

/** The learners' names in the order the grid lists them. */
const rowNames = (html: string) =>
  [...html.matchAll(/<tr><th scope="row">([^<]*)<\/th>/g)].map((m) => m[1]!);

const occurrences = (text: string, part: string) => text.split(part).length - 1;

/** The headers of the page's script: it wants outcomes as JSON. */
const SCRIPT = { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest' };

describe('the teacher app: the session once, outcomes from jobs, a gradebook that scales', function () {
  this.timeout(120000);
  let ctx: TestContext;
  let big: BigCourse;

  before(async () => {
    ctx = await buildContext();
    big = await bigCourse(ctx.deps, { learners: 1000, columns: 30 });
  });
  after(async () => {
    await ctx.deps.exchange.close();
    await ctx.db.destroy();
    await ctx.database.drop();
  });

  const app = (token: string, path = '') => `/lti/s/${token}/app${path}`;

  describe('a course of 1,000 learners and 30 columns', () => {
    it('is one page of 100 learners, under 500 KB, the session token in it once', async () => {
      const res = await ctx.http.get(app(big.token)).expect(200);
      expect(Buffer.byteLength(res.text), 'bytes of HTML').to.be.below(500_000);
      expect(occurrences(res.text, big.token)).to.equal(1);
      expect(res.text).to.include(`<base href="/lti/s/${big.token}/" />`);
      expect(rowNames(res.text)).to.have.length(100);
      expect(res.text.match(/href="app\/grade\?column=\d+&amp;user=\d+"/g)).to.have.length(3000);
      const text = visible(res.text);
      expect(text)
        .to.include('Learners 1–100 of 1,000, by family name')
        .and.include('Page 1 of 10');
      expect(res.text).to.include('<a href="app?page=2">Next page</a>');
      // A strict policy: the page's own stylesheet and script, nothing inline.
      expect(res.headers['content-security-policy'])
        .to.include("script-src 'self'")
        .and.include("style-src 'self'");
      expect(res.text).not.to.match(/<script>|<style>| style="/);
      expect(res.headers['cache-control']).to.equal('no-store');
    });

    it("reviews the 1,000 learners' final grades on one page under 500 KB", async () => {
      const res = await ctx.http.get(app(big.token, '/final-grades')).expect(200);
      expect(Buffer.byteLength(res.text), 'bytes of HTML').to.be.below(500_000);
      expect(occurrences(res.text, big.token)).to.equal(1);
      expect(visible(res.text)).to.include('1000 final grades from the column Final');
    });

    it('answers the older address with ?session= too, its links on the new one', async () => {
      const res = await ctx.http.get('/lti/app').query({ session: big.token }).expect(200);
      expect(occurrences(res.text, big.token)).to.equal(1);
      expect(res.text).to.include(`<base href="/lti/s/${big.token}/" />`);
      const grade = await ctx.http
        .get('/lti/app/grade')
        .query({ session: big.token, column: 1, user: big.learnerIds[0] });
      expect(grade.status).to.be.oneOf([200, 404]);
      // A token that is not a session is refused on either address.
      expect((await ctx.http.get(app('forged.token.here'))).status).to.equal(401);
    });

    it('lists learners by family name, those without a name last, on the last page', async () => {
      const first = rowNames((await ctx.http.get(app(big.token))).text);
      const keys = first.map(sortableName);
      expect(keys).to.deep.equal(
        [...keys].sort((a, b) => a.localeCompare(b, 'en', { sensitivity: 'base', numeric: true })),
      );
      const last = rowNames((await ctx.http.get(app(big.token, '?page=10'))).text);
      // One learner in fifty has no name: 20 of them, after everyone named.
      expect(last.slice(-20).every((n) => n.includes('@'))).to.equal(true);
      expect(last.slice(0, -20).some((n) => n.includes('@'))).to.equal(false);
    });

    it('finds learners by name, and shows only those that need attention', async () => {
      const found = await ctx.http.get(app(big.token)).query({ q: 'KNUTH 3' });
      const names = rowNames(found.text);
      expect(names.length).to.be.above(0);
      for (const n of names) expect(n.toLowerCase()).to.include('knuth 3');
      expect(visible(found.text)).to.include('(of 1,000)');
      const none = await ctx.http.get(app(big.token)).query({ q: 'nobody at all' });
      expect(visible(none.text)).to.include('No learner matches');

      const all = await ctx.http.get(app(big.token));
      const count = Number(/Needs attention only \((\d+)\)/.exec(all.text)?.[1]);
      expect(count).to.be.above(0).and.below(1000);
      const attention = await ctx.http.get(app(big.token)).query({ attention: '1' });
      expect(visible(attention.text)).to.include(`of ${count.toLocaleString('en-US')}`);
      const rows = attention.text.match(/<tr><th scope="row">[\s\S]*?<\/tr>/g)!;
      expect(rows.length).to.equal(Math.min(100, count));
      for (const row of rows) expect(row).to.match(/class="m (failed|changed)"/);
    });

    it('marks each grade, explains the marks, and puts the reason for a refusal in the cell', async () => {
      const html = (await ctx.http.get(app(big.token))).text;
      expect(visible(html))
        .to.include('sent to the SIS')
        .and.include('waiting to be sent')
        .and.include('changed since it was sent')
        .and.include('not sent: select it for the reason');
      expect(html).to.match(/<i class="m sent" role="img" aria-label="sent">✓<\/i>/);
      expect(html).to.match(
        /<i class="m changed" role="img" aria-label="changed since sent">✎<\/i>/,
      );
      expect(html).to.match(
        /<details class="why"><summary><i class="m failed" role="img" aria-label="not sent, why">✗<\/i><\/summary><span class="reason">The SIS has no enrollment for this learner in this course\./,
      );
    });
  });

  it('sorts names as a class list does', () => {
    expect(sortableName('Grace Brewster Hopper')).to.equal('Hopper, Grace Brewster');
    expect(sortableName('Ludwig van Beethoven')).to.equal('Beethoven, Ludwig van');
    expect(sortableName('Hopper, Anne')).to.equal('Hopper, Anne');
    expect(sortableName('Cher')).to.equal('Cher');
    const sorted = bySortableName([
      { id: 1, name: 'Alan Turing', fallback: 'a@x' },
      { id: 2, name: null, fallback: 'zz@x' },
      { id: 3, name: 'Zoë Álvarez', fallback: 'z@x' },
      { id: 4, name: 'Grace Hopper', fallback: 'g@x' },
      { id: 5, name: '  ', fallback: 'aa@x' },
      { id: 6, name: 'Hopper, Anne', fallback: 'h@x' },
      { id: 7, name: 'Ada Lovelace', fallback: 'l@x' },
    ]);
    expect(sorted.map((p) => p.id)).to.deep.equal([3, 6, 4, 7, 1, 5, 2]);
  });

  describe('outcomes of the buttons', () => {
    it('queues a pull, follows its job to the end and shows how it ended, in words', async () => {
      const json = await ctx.http.post(app(big.token, '/pull')).set(SCRIPT).type('form').send({});
      expect(json.status).to.equal(200);
      expect(json.body.outcome).to.deep.include({
        title: 'A pull from the LMS is queued.',
        done: false,
        tone: 'info',
      });
      expect(json.body.outcome.poll).to.match(/^app\/jobs\/\d+$/);
      const status = await ctx.http.get(app(big.token, `/${json.body.outcome.poll.slice(4)}`));
      expect(status.status).to.equal(200);
      expect(status.body).to.deep.include({ state: 'queued' });
      expect(status.body.outcome.html).to.include('A pull from the LMS is queued.');
      expect(status.headers['cache-control']).to.equal('no-store');

      // Without the script: the form posts, the page shows the same job on load.
      const form = await ctx.http.post(app(big.token, '/pull')).type('form').send({}).redirects(0);
      expect(form.status).to.equal(303);
      const jobId = /job=(\d+)$/.exec(form.headers.location!)![1];
      expect(form.headers.location).to.equal(`/lti/s/${big.token}/app?job=${jobId}`);
      expect(json.body.outcome.poll).to.equal(`app/jobs/${jobId}`);
      const waiting = await ctx.http.get(form.headers.location!);
      expect(visible(waiting.text)).to.include('A pull from the LMS is queued.');
      expect(waiting.text).to.include(`data-poll="app/jobs/${jobId}"`);
      expect(waiting.text).not.to.include('notice');

      await createWorker(ctx.deps).drain();
      const ended = await ctx.http.get(app(big.token, `/jobs/${jobId}`));
      expect(ended.body.state).to.equal('done');
      expect(ended.body.outcome).to.deep.include({
        title: 'Pulled from the LMS.',
        done: true,
        tone: 'ok',
        refresh: true,
        poll: null,
      });
      const page = visible((await ctx.http.get(form.headers.location!)).text);
      expect(page).to.include('Pulled from the LMS.').and.include('Last pull: succeeded');
    });

    it('shows a failed pull in plain words, the error only behind the disclosure, and never a stale success', async () => {
      const t = await tenantWithClient(ctx);
      const [course] = await gradedCourses(ctx, t, {
        prefix: uniqueId('PULL'),
        courses: 1,
        columns: 1,
        learners: 1,
      });
      const { id: courseId } = await ctx
        .db('courses')
        .where({ tenant_id: t.tenantId, batch_uid: course!.courseId })
        .first('id');
      const { token, ltiContextId } = await inTransaction(ctx.db, (trx) =>
        linkToLms(ctx.deps, trx, { tenantId: t.tenantId, courseId, teacherId: t.graderId }),
      );
      // The LMS's roster service is at an address nobody answers.
      await ctx
        .db('lti_contexts')
        .where({ id: ltiContextId })
        .update({ memberships_url: 'http://127.0.0.1:9/nrps' });
      const jobId = (await enqueue(ctx.db, 'lti.pull', { ltiContextId }, isoNow(ctx.clock), {
        tenantId: t.tenantId,
        maxAttempts: 1,
      }))!;
      await createWorker(ctx.deps).drain();
      const status = await ctx.http.get(app(token, `/jobs/${jobId}`));
      expect(status.body.state).to.equal('dead');
      expect(status.body.outcome).to.deep.include({
        title: 'The pull from the LMS failed.',
        tone: 'bad',
        done: true,
      });
      const html = (await ctx.http.get(app(token)).query({ job: jobId })).text;
      const text = visible(html);
      expect(text)
        .to.include('The pull from the LMS failed.')
        .and.include('Last pull: failed')
        .and.not.include('succeeded')
        .and.not.include('is queued');
      expect(html).to.match(/<details>\s*<summary>Technical detail<\/summary>/);
      // Another course's session does not see this job.
      const foreign = await ctx.http.get(app(big.token, `/jobs/${jobId}`)).set(SCRIPT);
      expect(foreign.status).to.equal(404);
      expect(foreign.body.outcome.title).to.equal('There is no such job for this course.');
      const expired = await ctx.http.get(app('not-a-session', `/jobs/${jobId}`)).set(SCRIPT);
      expect(expired.status).to.equal(401);
      expect(expired.body.outcome.next).to.equal('Open gradebridge from your course again.');
      // Asked by anyone but the page's script, the refusal is the surface's HTML page.
      const page = await ctx.http.get(app(big.token, `/jobs/${jobId}`));
      expect(page.status).to.equal(404);
      expect(page.headers['content-type']).to.match(/^text\/html/);
    });

    it('follows a send of final grades to its exchange and says what to do when it was refused', async () => {
      const conn = (await ctx.deps.exchange.connection(ctx.db, big.tenantId))!;
      const now = isoNow(ctx.clock);
      const [exchange] = await ctx
        .db('exchanges')
        .insert({
          tenant_id: big.tenantId,
          connection_id: conn.id,
          remote_id: 'ex-refused',
          state: 'refused',
          trigger: 'teacher',
          query: '{}',
          max_data_content_length: 65536,
          error_code: 'producer_error',
          error_message: 'course "X" (X) has no final grade column: set an external grade column',
          created_at: now,
          updated_at: now,
        })
        .returning('id');
      expect(exchange).to.have.property('id');
      const jobId = (await enqueue(
        ctx.db,
        'datasync.request',
        {
          connectionId: conn.id,
          courseId: big.courseId,
          requestId: 'r-1',
          remoteId: 'ex-refused',
        },
        now,
        { tenantId: big.tenantId },
      ))!;
      await ctx
        .db('jobs')
        .where({ id: jobId })
        .update({ state: 'done', attempts: 1, finished_at: now });
      const status = await ctx.http.get(app(big.token, `/jobs/${jobId}`));
      expect(status.body.outcome).to.deep.include({
        title: 'The final grades were not sent.',
        tone: 'bad',
        done: true,
        next: 'Choose one on the course page, then send again.',
      });
      const card = status.body.outcome.html as string;
      expect(visible(card))
        .to.include('No final grade column yet.')
        .and.not.include('producer_error');
      expect(card).to.match(/<details>[\s\S]*producer_error[\s\S]*<\/details>/);
    });
  });

  it("writes a grade's history in the tenant's time zone and in words", async () => {
    const t = await tenantWithClient(ctx, {
      timeZone: 'America/Chicago',
      graderName: 'Registrar Office',
    });
    const [course] = await gradedCourses(ctx, t, {
      prefix: uniqueId('HIST'),
      courses: 1,
      columns: 1,
      learners: 1,
    });
    const { id: courseId } = await ctx
      .db('courses')
      .where({ tenant_id: t.tenantId, batch_uid: course!.courseId })
      .first('id');
    const { token } = await inTransaction(ctx.db, (trx) =>
      linkToLms(ctx.deps, trx, { tenantId: t.tenantId, courseId, teacherId: t.graderId }),
    );
    const column = await ctx
      .db('grade_columns')
      .where({ course_id: courseId, name: 'Assignment 1' })
      .first('id');
    const user = await ctx
      .db('users')
      .where({ tenant_id: t.tenantId, batch_uid: course!.learners[0] })
      .first('id');
    const html = (
      await ctx.http.get(app(token, '/grade')).query({ column: column.id, user: user.id })
    ).text;
    const text = visible(html);
    expect(text).to.include('from the SIS').and.include('Registrar Office');
    expect(text).to.match(/\d+ \w+ \d{4}, \d\d:\d\d C[SD]T/);
    expect(occurrences(html, token)).to.equal(1);
    expect(html).to.include('<a href="app">← ');
  });

  describe('the landing page', () => {
    it('answers / with a short page linking the API documentation, not a JSON 404', async () => {
      const res = await ctx.http.get('/').expect(200);
      expect(res.headers['content-type']).to.match(/^text\/html/);
      expect(res.text).to.include('<a href="/docs">API documentation</a>');
      expect(res.text).not.to.include('demo LMS');
      expect(res.text).to.include('<link rel="icon" href="/favicon.svg"');
    });

    it('links the demo LMS and Data Sync while they run', async () => {
      ctx.deps.demo = { lmsUrl: 'http://localhost:4100', dataSyncUrl: 'http://localhost:4200' };
      try {
        const res = await ctx.http.get('/').expect(200);
        expect(res.text)
          .to.include('<a href="http://localhost:4100/">The demo LMS</a>')
          .and.include('<a href="http://localhost:4200/">The demo Data Sync</a>');
      } finally {
        delete ctx.deps.demo;
      }
    });

    it('serves a favicon', async () => {
      const svg = await ctx.http.get('/favicon.svg').expect(200);
      expect(svg.headers['content-type']).to.match(/^image\/svg\+xml/);
      const ico = await ctx.http.get('/favicon.ico').redirects(0);
      expect(ico.status).to.equal(301);
      expect(ico.headers.location).to.equal('/favicon.svg');
    });
  });
});
