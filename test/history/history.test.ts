import { expect } from 'chai';
import { isoNow } from '../../src/db/time.js';
import { inTransaction } from '../../src/db/transaction.js';
import { GradeBatch } from '../../src/grades/grade-batch.js';
import { setTenantTimeZone } from '../../src/tenants/service.js';
import { addClient, tenantWithClient, uniqueId, type TenantFixture } from '../factories/index.js';
import { sharedContext, type TestContext } from '../helpers/context.js';
import { journey } from '../helpers/journey.js';

const T1 = '2026-03-01T15:00:00.000Z'; // 10:00 in New York, March 1
const T2 = '2026-03-02T04:30:00.000Z'; // 23:30 in New York, still March 1
const T3 = '2026-03-02T05:30:00.000Z'; // 00:30 in New York, March 2
const T4 = '2026-03-02T18:00:00.000Z'; // 13:00 in New York, March 2
const T5 = '2026-03-03T15:00:00.000Z'; // March 3
const canvas = (iso: string) => iso.replace('.000Z', 'Z');

describe('Gradebook History API', () => {
  let ctx: TestContext;
  let t: TenantFixture; // client A, "Registrar"
  let b: { token: string; graderId: number }; // client B, "Teacher Sync"
  let course: string;
  let courseId: number;
  let q: number; // Quiz
  let e: number; // Essay (deleted at T5)
  let f: number; // Final (weighted)
  let s1: number;
  let s2: number;
  const base = () => `/api/v1/courses/${courseId}/gradebook_history`;
  const get = (path: string, token = t.token) =>
    ctx.http.get(path).set('Authorization', `Bearer ${token}`);
  const at = async <T>(iso: string, work: () => Promise<T>) => {
    ctx.clock.set(iso);
    try {
      return await work();
    } finally {
      ctx.clock.release();
    }
  };

  before(async () => {
    ctx = await sharedContext();
    t = await tenantWithClient(ctx, {
      timeZone: 'America/New_York',
      clientName: 'Registrar',
      graderName: 'Registrar',
    });
    b = await addClient(ctx, t.tenantId, { name: 'Teacher Sync', graderName: 'Teacher Sync' });
    course = uniqueId('HIST');
    await at(T1, async () => {
      await journey(ctx, t.token, 'gradeSchemasAPI', [
        { title: 'Letter', symbols: 'A=90:B=80:C=70:D=60:F=0' },
      ]);
      await journey(ctx, t.token, 'gradableItemsAPI', [
        { courseId: course, name: 'Quiz', itemType: 'TEST', points: 10 },
        {
          courseId: course,
          name: 'Essay',
          itemType: 'ASSIGNMENT',
          points: 20,
          gradeSchema: 'Letter',
        },
        {
          courseId: course,
          name: 'Final',
          itemType: 'WEIGHTED_COLUMN',
          points: 100,
          gradeSchema: 'Letter',
          mapping: 'Quiz=50,Essay=50',
        },
      ]);
      await journey(ctx, t.token, 'gradeValueAPI', [
        { courseId: course, userId: 's1', name: 'Quiz', value: '8' },
        { courseId: course, userId: 's2', name: 'Quiz', value: '6' },
      ]);
    });
    await at(T2, () =>
      journey(ctx, b.token, 'gradeValueAPI', [
        { courseId: course, userId: 's1', name: 'Quiz', value: '9' },
      ]),
    );
    await at(T3, () =>
      journey(ctx, t.token, 'gradeValueAPI', [
        { courseId: course, userId: 's1', name: 'Essay', value: 'B' },
      ]),
    );
    const ids = await ctx
      .db('courses')
      .where({ tenant_id: t.tenantId, batch_uid: course })
      .first('id');
    courseId = ids.id;
    const cols = await ctx.db('grade_columns').where({ course_id: courseId });
    q = cols.find((c) => c.name === 'Quiz').id;
    e = cols.find((c) => c.name === 'Essay').id;
    f = cols.find((c) => c.name === 'Final').id;
    s1 = (await ctx.db('users').where({ tenant_id: t.tenantId, batch_uid: 's1' }).first('id')).id;
    s2 = (await ctx.db('users').where({ tenant_id: t.tenantId, batch_uid: 's2' }).first('id')).id;
    // A regrade that leaves the score alone (marked late) by Teacher Sync, then a real change by Registrar.
    await at(T4, async () => {
      await inTransaction(ctx.db, async (trx) => {
        const batch = new GradeBatch(trx, t.tenantId, T4);
        await batch.load([{ columnId: q, userId: s1 }]);
        batch.record(
          {
            courseId,
            columnId: q,
            userId: s1,
            score: 9,
            grade: '9',
            pointsPossible: 10,
            gradedAt: T4,
            graderId: b.graderId,
            source: 'teacher',
            idempotencyKey: 'late-regrade',
            late: true,
          },
          { type: 'GradeChanged', user: 'Teacher Sync' },
        );
        await batch.flush();
      });
      await journey(ctx, t.token, 'gradeValueAPI', [
        { courseId: course, userId: 's2', name: 'Quiz', value: '7' },
      ]);
    });
    await at(T5, () =>
      journey(ctx, t.token, 'gradeColumnDeleteAPI', [{ courseId: course, name: 'Essay' }]),
    );
  });

  it("lists days newest first, bucketed in the tenant's time zone, with graders and assignment ids", async () => {
    const res = await get(`${base()}/days`).expect(200);
    expect(res.body).to.deep.equal([
      { date: '2026-03-03', graders: [{ id: 0, name: 'Graded on submission', assignments: [f] }] },
      {
        date: '2026-03-02',
        graders: [
          { id: 0, name: 'Graded on submission', assignments: [f] },
          { id: t.graderId, name: 'Registrar', assignments: [q, e] },
          { id: b.graderId, name: 'Teacher Sync', assignments: [q] },
        ],
      },
      {
        date: '2026-03-01',
        graders: [
          { id: 0, name: 'Graded on submission', assignments: [f] },
          { id: t.graderId, name: 'Registrar', assignments: [q] },
          { id: b.graderId, name: 'Teacher Sync', assignments: [q] },
        ],
      },
    ]);
  });

  it("gives one day's graders", async () => {
    const res = await get(`${base()}/2026-03-01`).expect(200);
    expect(res.body).to.deep.equal([
      { id: 0, name: 'Graded on submission', assignments: [f] },
      { id: t.graderId, name: 'Registrar', assignments: [q] },
      { id: b.graderId, name: 'Teacher Sync', assignments: [q] },
    ]);
    expect((await get(`${base()}/2026-02-28`).expect(200)).body).to.deep.equal([]);
  });

  it('gives every version of the submissions a grader graded that day, with previous_*, new_* and current_*', async () => {
    const subQ1 = (await ctx.db('submissions').where({ column_id: q, user_id: s1 }).first('id')).id;
    // Teacher Sync gave s1's Quiz its 9 late on March 1 (New York) and gave the current grade on
    // March 2: the submission is listed on both days, with its whole history.
    for (const date of ['2026-03-01', '2026-03-02']) {
      const res = await get(
        `${base()}/${date}/graders/${b.graderId}/assignments/${q}/submissions`,
      ).expect(200);
      const common = {
        assignment_id: q,
        assignment_name: 'Quiz',
        attempt: null,
        body: null,
        current_grade: '9',
        current_graded_at: canvas(T4),
        current_grader: 'Teacher Sync',
        excused: false,
        grade_matches_current_submission: true,
        id: subQ1,
        late: false,
        missing: false,
        submission_type: null,
        submitted_at: null,
        url: null,
        user_id: s1,
        user_name: 's1',
        workflow_state: 'graded',
      };
      expect(res.body, date).to.deep.equal([
        {
          submission_id: subQ1,
          versions: [
            {
              ...common,
              grade: '9',
              graded_at: canvas(T2),
              grader: 'Teacher Sync',
              grader_id: b.graderId,
              score: 9,
              new_grade: '9',
              new_graded_at: canvas(T2),
              new_grader: 'Teacher Sync',
              new_score: 9,
              previous_grade: '8',
              previous_graded_at: canvas(T1),
              previous_grader: 'Registrar',
            },
            {
              ...common,
              grade: '8',
              graded_at: canvas(T1),
              grader: 'Registrar',
              grader_id: t.graderId,
              score: 8,
              new_grade: '8',
              new_graded_at: canvas(T1),
              new_grader: 'Registrar',
              new_score: 8,
              previous_grade: null,
              previous_graded_at: null,
              previous_grader: null,
            },
          ],
        },
      ]);
    }
  });

  it('hides a regrade that did not change the score', async () => {
    const res = await get(
      `${base()}/2026-03-02/graders/${b.graderId}/assignments/${q}/submissions`,
    ).expect(200);
    const versions = res.body[0].versions as Array<Record<string, unknown>>;
    expect(versions.map((v) => [v.score, v.graded_at])).to.deep.equal([
      [9, canvas(T2)],
      [8, canvas(T1)],
    ]);
    expect(versions.some((v) => v.graded_at === canvas(T4))).to.equal(false);
  });

  it('selects the submissions no person graded with grader 0, newest first', async () => {
    const subF1 = (await ctx.db('submissions').where({ column_id: f, user_id: s1 }).first('id')).id;
    const subF2 = (await ctx.db('submissions').where({ column_id: f, user_id: s2 }).first('id')).id;
    const res = await get(`${base()}/2026-03-01/graders/0/assignments/${f}/submissions`).expect(
      200,
    );
    const brief = res.body.map(
      (h: { submission_id: number; versions: Array<Record<string, unknown>> }) => ({
        submission_id: h.submission_id,
        versions: h.versions.map((v) => [
          v.score,
          v.grade,
          v.graded_at,
          v.grader,
          v.previous_grade,
          v.previous_graded_at,
          v.previous_grader,
          v.current_grade,
        ]),
      }),
    );
    const gos = 'Graded on submission';
    expect(brief).to.deep.equal([
      {
        submission_id: subF1,
        versions: [
          [90, 'A', canvas(T5), gos, 'B', canvas(T3), gos, 'A'],
          [85, 'B', canvas(T3), gos, 'A', canvas(T2), gos, 'A'],
          [90, 'A', canvas(T2), gos, 'B', canvas(T1), gos, 'A'],
          [80, 'B', canvas(T1), gos, null, null, null, 'A'],
        ],
      },
      {
        submission_id: subF2,
        versions: [
          [70, 'C', canvas(T4), gos, 'D', canvas(T1), gos, 'C'],
          [60, 'D', canvas(T1), gos, null, null, null, 'C'],
        ],
      },
    ]);
  });

  it("keeps a deleted column's history", async () => {
    const res = await get(`${base()}/feed?assignment_id=${e}`).expect(200);
    expect(
      res.body.map((v: Record<string, unknown>) => [v.assignment_name, v.score, v.grade, v.grader]),
    ).to.deep.equal([['Essay', 16, 'B', 'Registrar']]);
    const day = await get(
      `${base()}/2026-03-02/graders/${t.graderId}/assignments/${e}/submissions`,
    ).expect(200);
    expect(day.body).to.have.length(1);
  });

  it('feeds every version newest first, or oldest first, by user (also by SIS id) and by assignment', async () => {
    const all = await get(`${base()}/feed?per_page=100`).expect(200);
    expect(all.body).to.have.length(12);
    expect(all.body[0]).to.deep.equal({
      assignment_id: f,
      assignment_name: 'Final',
      attempt: null,
      body: null,
      current_grade: 'A',
      current_graded_at: canvas(T5),
      current_grader: 'Graded on submission',
      excused: false,
      grade: 'A',
      grade_matches_current_submission: true,
      graded_at: canvas(T5),
      grader: 'Graded on submission',
      grader_id: null,
      id: (await ctx.db('submissions').where({ column_id: f, user_id: s1 }).first('id')).id,
      late: false,
      missing: false,
      score: 90,
      submission_type: null,
      submitted_at: null,
      url: null,
      user_id: s1,
      user_name: 's1',
      workflow_state: 'graded',
    });
    expect(Object.keys(all.body[0])).not.to.include('new_grade');
    const asc = await get(`${base()}/feed?ascending=true&per_page=2`).expect(200);
    expect(
      asc.body.map((v: Record<string, unknown>) => [v.assignment_name, v.user_name, v.score]),
    ).to.deep.equal([
      ['Quiz', 's1', 8],
      ['Quiz', 's2', 6],
    ]);
    const byUser = await get(`${base()}/feed?user_id=sis_user_id:s2`).expect(200);
    expect(
      byUser.body.map((v: Record<string, unknown>) => [v.assignment_name, v.score, v.graded_at]),
    ).to.deep.equal([
      ['Final', 70, canvas(T4)],
      ['Quiz', 7, canvas(T4)],
      ['Final', 60, canvas(T1)],
      ['Quiz', 6, canvas(T1)],
    ]);
    const byNumber = await get(`${base()}/feed?user_id=${s2}&assignment_id=${q}`).expect(200);
    expect(byNumber.body.map((v: Record<string, unknown>) => v.score)).to.deep.equal([7, 6]);
    const late = all.body.find((v: Record<string, unknown>) => v.late === true);
    expect(late).to.include({
      assignment_id: q,
      score: 9,
      grader: 'Teacher Sync',
      graded_at: canvas(T4),
    });
  });

  it('answers by sis_course_id as well', async () => {
    const res = await get(`/api/v1/courses/sis_course_id:${course}/gradebook_history/days`).expect(
      200,
    );
    expect(res.body.map((d: { date: string }) => d.date)).to.deep.equal([
      '2026-03-03',
      '2026-03-02',
      '2026-03-01',
    ]);
  });

  it('paginates with page and per_page and a Link header that keeps the other parameters', async () => {
    const res = await get(`${base()}/feed?ascending=true&per_page=5&page=2`).expect(200);
    expect(res.body).to.have.length(5);
    const origin = /^<(https?:\/\/[^/]+)\//.exec(res.headers.link)![1];
    const link = (page: number) =>
      `<${origin}${base()}/feed?ascending=true&page=${page}&per_page=5>`;
    expect(res.headers.link).to.equal(
      [
        `${link(2)}; rel="current"`,
        `${link(3)}; rel="next"`,
        `${link(1)}; rel="prev"`,
        `${link(1)}; rel="first"`,
        `${link(3)}; rel="last"`,
      ].join(','),
    );
    const last = await get(`${base()}/feed?ascending=true&per_page=5&page=3`).expect(200);
    expect(last.body).to.have.length(2);
    expect(last.headers.link).not.to.include('rel="next"');
    const first = await get(`${base()}/days?per_page=1`).expect(200);
    expect(first.body.map((d: { date: string }) => d.date)).to.deep.equal(['2026-03-03']);
    expect(first.headers.link)
      .to.include('page=2&per_page=1>; rel="next"')
      .and.not.include('rel="prev"');
    const clamped = await get(`${base()}/feed?per_page=1000`).expect(200);
    expect(clamped.headers.link).to.include('per_page=100>');
    const defaulted = await get(`${base()}/feed?per_page=abc&page=-2`).expect(200);
    expect(defaulted.body).to.have.length(10);
  });

  it('keeps the Link header bounded: a URL over 1,536 characters is a 400, and within it every rel keeps the other parameters and pages through', async () => {
    const huge = await get(`${base()}/feed?per_page=1&note=${'x'.repeat(6000)}`).expect(400);
    expect(huge.body).to.deep.equal({
      errors: [
        {
          message:
            'the request URL (path and query string, percent-encoded) must be at most 1536 characters',
        },
      ],
    });
    expect(huge.headers).not.to.have.property('link');
    // Characters the links percent-encode count as encoded: 500 "!" are 1,500 characters.
    await get(`${base()}/feed?per_page=1&note=${'!'.repeat(500)}`).expect(400);
    // The longest URL accepted, with an unknown parameter: the links keep it, and stay small.
    const path = `${base()}/feed`;
    const note = 'n'.repeat(1536 - path.length - '?ascending=true&note='.length);
    const all = (await get(`${base()}/feed?ascending=true&per_page=100`).expect(200)).body;
    let url: string | null = `${path}?ascending=true&note=${note}&per_page=3`;
    const seen: unknown[] = [];
    while (url) {
      const res: { body: unknown[]; headers: Record<string, string> } = await get(url).expect(200);
      expect(res.headers.link.length).to.be.below(8192);
      for (const rel of ['current', 'first', 'last'])
        expect(res.headers.link).to.match(new RegExp(`note=${note}[^>]*>; rel="${rel}"`));
      seen.push(...res.body);
      const next: string | undefined = /<([^>]+)>; rel="next"/.exec(res.headers.link!)?.[1];
      url = next ? new URL(next).pathname + new URL(next).search : null;
    }
    expect(seen).to.deep.equal(all);
  });

  it("re-buckets days when the tenant's time zone changes", async () => {
    await inTransaction(ctx.db, (trx) =>
      setTenantTimeZone(trx, t.tenantId, 'UTC', isoNow(ctx.clock)),
    );
    try {
      const res = await get(`${base()}/2026-03-01`).expect(200);
      expect(res.body).to.deep.equal([
        { id: 0, name: 'Graded on submission', assignments: [f] },
        { id: t.graderId, name: 'Registrar', assignments: [q] },
      ]);
    } finally {
      await inTransaction(ctx.db, (trx) =>
        setTenantTimeZone(trx, t.tenantId, 'America/New_York', isoNow(ctx.clock)),
      );
    }
  });

  describe('the submissions drill-down, as Canvas selects and filters it', () => {
    const D1 = '2026-04-01T15:00:00.000Z';
    const D1b = '2026-04-01T16:00:00.000Z';
    const D2 = '2026-04-02T15:00:00.000Z';
    const D3 = '2026-04-03T15:00:00.000Z';
    let labCourse: string;
    let labCourseId: number;
    let lab: number;
    let u1: number;
    let u2: number;
    let sub1: number;
    let sub2: number;
    const labBase = () => `/api/v1/courses/${labCourseId}/gradebook_history`;
    /** Writes one grade the way a teacher's tool would: a version with its own time and grader. */
    const grade = (iso: string, userId: number, score: number | null, graderId: number) =>
      inTransaction(ctx.db, async (trx) => {
        const batch = new GradeBatch(trx, t.tenantId, iso);
        await batch.load([{ columnId: lab, userId }]);
        batch.record(
          {
            courseId: labCourseId,
            columnId: lab,
            userId,
            score,
            grade: score === null ? null : String(score),
            pointsPossible: 10,
            gradedAt: iso,
            graderId,
            source: 'teacher',
            idempotencyKey: uniqueId('lab'),
          },
          { type: 'GradeChanged', user: 'Teacher Sync' },
        );
        await batch.flush();
      });
    const drill = async (date: string, graderId: number, query = '') =>
      (
        await get(
          `${labBase()}/${date}/graders/${graderId}/assignments/${lab}/submissions${query}`,
        ).expect(200)
      ).body as Array<{ submission_id: number; versions: Array<Record<string, unknown>> }>;
    const brief = (histories: Awaited<ReturnType<typeof drill>>) =>
      histories.map((h) => ({
        submission_id: h.submission_id,
        versions: h.versions.map((v) => [
          v.score,
          v.graded_at,
          v.grader,
          v.previous_grade,
          v.previous_graded_at,
          v.previous_grader,
        ]),
      }));

    before(async () => {
      labCourse = uniqueId('LAB');
      await at(D1, async () => {
        await journey(ctx, t.token, 'gradableItemsAPI', [
          { courseId: labCourse, name: 'Lab', itemType: 'TEST', points: 10 },
        ]);
        await journey(ctx, t.token, 'gradeValueAPI', [
          { courseId: labCourse, userId: 'lab-u1', name: 'Lab', value: '7' },
          { courseId: labCourse, userId: 'lab-u2', name: 'Lab', value: '5' },
        ]);
      });
      labCourseId = (
        await ctx.db('courses').where({ tenant_id: t.tenantId, batch_uid: labCourse }).first('id')
      ).id;
      lab = (await ctx.db('grade_columns').where({ course_id: labCourseId }).first('id')).id;
      u1 = (await ctx.db('users').where({ tenant_id: t.tenantId, batch_uid: 'lab-u1' }).first('id'))
        .id;
      u2 = (await ctx.db('users').where({ tenant_id: t.tenantId, batch_uid: 'lab-u2' }).first('id'))
        .id;
      sub1 = (await ctx.db('submissions').where({ column_id: lab, user_id: u1 }).first('id')).id;
      sub2 = (await ctx.db('submissions').where({ column_id: lab, user_id: u2 }).first('id')).id;
      // u1: 7 (Registrar), cleared (Teacher Sync), 7 again (Teacher Sync, the next day).
      await grade(D1b, u1, null, b.graderId);
      await grade(D2, u1, 7, b.graderId);
      // u2: 5 (Registrar), then 6 (Registrar, two days later).
      await grade(D3, u2, 6, t.graderId);
    });

    it('keeps a version whose score differs from the version just before it, shown or not (7, none, 7)', async () => {
      expect(brief(await drill('2026-04-02', b.graderId))).to.deep.equal([
        {
          submission_id: sub1,
          versions: [
            [7, canvas(D2), 'Teacher Sync', null, canvas(D1b), 'Teacher Sync'],
            [7, canvas(D1), 'Registrar', null, null, null],
          ],
        },
      ]);
    });

    it('lists every version of a submission whose current grade that grader gave that day, newest first, whoever gave them and whenever', async () => {
      expect(brief(await drill('2026-04-03', t.graderId))).to.deep.equal([
        {
          submission_id: sub2,
          versions: [
            [6, canvas(D3), 'Registrar', '5', canvas(D1), 'Registrar'],
            [5, canvas(D1), 'Registrar', null, null, null],
          ],
        },
      ]);
      expect(await drill('2026-04-02', t.graderId)).to.deep.equal([]);
    });

    it('also lists, on an earlier day, the submissions that grader graded then, newest current grade first', async () => {
      // Registrar graded both on April 1; both were graded again later.
      const histories = await drill('2026-04-01', t.graderId);
      expect(histories.map((h) => h.submission_id)).to.deep.equal([sub2, sub1]);
      expect(histories.map((h) => h.versions.length)).to.deep.equal([2, 2]);
      // Teacher Sync only cleared u1's grade on April 1: still the submission's whole history.
      expect(brief(await drill('2026-04-01', b.graderId))).to.deep.equal(
        brief(await drill('2026-04-02', b.graderId)),
      );
    });

    it('leads from every grader and assignment a day lists to those submissions, page by page', async () => {
      const days = (await get(`${labBase()}/days`).expect(200)).body as Array<{
        date: string;
        graders: Array<{ id: number; assignments: number[] }>;
      }>;
      expect(days.map((d) => d.date)).to.deep.equal(['2026-04-03', '2026-04-02', '2026-04-01']);
      for (const day of days)
        for (const grader of day.graders)
          for (const assignment of grader.assignments) {
            expect(assignment).to.equal(lab);
            const histories = await drill(day.date, grader.id);
            expect(histories, `${day.date} ${grader.id}`).not.to.be.empty;
            for (const h of histories) expect(h.versions).not.to.be.empty;
          }
      const first = await get(
        `${labBase()}/2026-04-01/graders/${t.graderId}/assignments/${lab}/submissions?per_page=1`,
      ).expect(200);
      expect(first.body.map((h: { submission_id: number }) => h.submission_id)).to.deep.equal([
        sub2,
      ]);
      const next = /<([^>]+)>; rel="next"/.exec(first.headers.link)![1]!;
      const second = await get(new URL(next).pathname + new URL(next).search).expect(200);
      expect(second.body.map((h: { submission_id: number }) => h.submission_id)).to.deep.equal([
        sub1,
      ]);
      expect(second.headers.link).not.to.include('rel="next"');
    });
  });

  describe("errors, in Canvas's format", () => {
    it('401 without a token, and with a bad one', async () => {
      const missing = await ctx.http.get(`${base()}/days`).expect(401);
      expect(missing.body).to.deep.equal({
        status: 'unauthenticated',
        errors: [{ message: 'user authorization required' }],
      });
      expect(missing.headers['www-authenticate']).to.match(/^Bearer realm=/);
      const bad = await get(`${base()}/days`, 'not.a.token').expect(401);
      expect(bad.body).to.deep.equal({ errors: [{ message: 'Invalid access token.' }] });
      expect(bad.headers['www-authenticate']).to.match(/^Bearer realm=/);
    });

    it('403 for a token without the history scope', async () => {
      const journeyOnly = await addClient(ctx, t.tenantId, { scopes: ['journey'] });
      const res = await get(`${base()}/days`, journeyOnly.token).expect(403);
      expect(res.body).to.deep.equal({
        status: 'unauthorized',
        errors: [{ message: 'user not authorized to perform that action' }],
      });
    });

    it('404 for a course of another tenant, or none', async () => {
      const other = await tenantWithClient(ctx);
      const notFound = { errors: [{ message: 'The specified resource does not exist.' }] };
      expect((await get(`${base()}/days`, other.token).expect(404)).body).to.deep.equal(notFound);
      expect(
        (
          await get(
            `/api/v1/courses/sis_course_id:${course}/gradebook_history/feed`,
            other.token,
          ).expect(404)
        ).body,
      ).to.deep.equal(notFound);
      expect(
        (await get('/api/v1/courses/999999/gradebook_history/days').expect(404)).body,
      ).to.deep.equal(notFound);
      await get(`${base()}/feed?user_id=sis_user_id:nobody`).expect(404);
      const otherCourse = uniqueId('other');
      await journey(ctx, t.token, 'gradableItemsAPI', [
        { courseId: otherCourse, name: 'X', itemType: 'TEST' },
      ]);
      const x = await ctx
        .db('grade_columns')
        .join('courses', 'courses.id', 'grade_columns.course_id')
        .where({ 'courses.batch_uid': otherCourse })
        .first('grade_columns.id');
      await get(`${base()}/feed?assignment_id=${x.id}`).expect(404);
      await get(`${base()}/2026-03-01/graders/0/assignments/${x.id}/submissions`).expect(404);
    });

    it("bounds every id, SIS id, date and page: out of range is a 400 in Canvas's format, never a database error", async () => {
      const long = 'x'.repeat(334);
      const cases: Array<[string, string]> = [
        [
          `/api/v1/courses/sis_course_id:${long}/gradebook_history/days`,
          'course_id must have a SIS id of at most 333 characters',
        ],
        [
          '/api/v1/courses/2147483648/gradebook_history/days',
          'course_id must be at most 2147483647',
        ],
        [
          `${base()}/feed?user_id=sis_user_id:${long}`,
          'user_id must have a SIS id of at most 333 characters',
        ],
        [`${base()}/feed?user_id=99999999999`, 'user_id must be at most 2147483647'],
        [`${base()}/feed?assignment_id=2147483648`, 'assignment_id must be at most 2147483647'],
        [
          `${base()}/2026-03-01/graders/2147483648/assignments/${q}/submissions`,
          'grader_id must be at most 2147483647',
        ],
        [
          `${base()}/2026-03-01/graders/0/assignments/${'9'.repeat(30)}/submissions`,
          'assignment_id must be at most 2147483647',
        ],
        [`${base()}/0000-12-31`, 'date must be a date in YYYY-MM-DD format'],
        [`${base()}/feed?page=1234567890`, 'page must be at most 9 characters'],
        [`${base()}/days?per_page=${'1'.repeat(10)}`, 'per_page must be at most 9 characters'],
      ];
      for (const [path, message] of cases) {
        const res = await get(path).expect(400);
        expect(res.body, path).to.deep.equal({ errors: [{ message }] });
      }
      // The largest ids are simply not found; the first and last days of the calendar are empty.
      await get('/api/v1/courses/2147483647/gradebook_history/days').expect(404);
      await get(`/api/v1/courses/sis_course_id:${'x'.repeat(333)}/gradebook_history/days`).expect(
        404,
      );
      await get(`${base()}/feed?user_id=2147483647`).expect(404);
      await get(`${base()}/feed?assignment_id=2147483647`).expect(404);
      for (const date of ['0001-01-01', '9999-12-31']) {
        expect((await get(`${base()}/${date}`).expect(200)).body).to.deep.equal([]);
        for (const grader of [0, 2147483647])
          expect(
            (
              await get(`${base()}/${date}/graders/${grader}/assignments/${q}/submissions`).expect(
                200,
              )
            ).body,
          ).to.deep.equal([]);
      }
      // The last page there can be is empty, on every list.
      for (const list of [
        'feed',
        'days',
        '2026-03-01',
        `2026-03-01/graders/0/assignments/${f}/submissions`,
      ]) {
        const res = await get(`${base()}/${list}?page=999999999&per_page=100`).expect(200);
        expect(res.body, list).to.deep.equal([]);
        expect(res.headers.link, list).to.include('rel="first"');
      }
    });

    it('400 for a malformed date or id', async () => {
      const cases: Array<[string, string]> = [
        [`${base()}/2026-13-01`, 'date must be a date in YYYY-MM-DD format'],
        [`${base()}/yesterday`, 'date must be a date in YYYY-MM-DD format'],
        [
          `${base()}/2026-02-30/graders/0/assignments/${q}/submissions`,
          'date must be a date in YYYY-MM-DD format',
        ],
        [
          '/api/v1/courses/abc/gradebook_history/days',
          'course_id must be an integer id or sis_course_id:<SIS id>',
        ],
        [
          `${base()}/2026-03-01/graders/x/assignments/${q}/submissions`,
          'grader_id must be an integer',
        ],
        [
          `${base()}/2026-03-01/graders/0/assignments/0/submissions`,
          'assignment_id must be at least 1',
        ],
        [`${base()}/feed?user_id=bob`, 'user_id must be an integer id or sis_user_id:<SIS id>'],
        [`${base()}/feed?ascending=maybe`, 'ascending must be true or false'],
      ];
      for (const [path, message] of cases) {
        const res = await get(path).expect(400);
        expect(res.body, path).to.deep.equal({ errors: [{ message }] });
      }
    });
  });
});
