import { expect } from 'chai';
import { tenantWithClient, uniqueId, type TenantFixture } from '../factories/index.js';
import { sharedContext, type TestContext } from '../helpers/context.js';
import { journey } from '../helpers/journey.js';

describe('Grades Journey: gradableItemsAPI, gradeColumnDeleteAPI, externalGradeColumnAPI', () => {
  let ctx: TestContext;
  let t: TenantFixture;

  const column = async (course: string, name: string) => {
    const c = await ctx.db('courses').where({ tenant_id: t.tenantId, batch_uid: course }).first();
    return ctx.db('grade_columns').where({ course_id: c.id, name }).whereNull('deleted_at').first();
  };

  before(async () => {
    ctx = await sharedContext();
    t = await tenantWithClient(ctx);
    await journey(ctx, t.token, 'gradeSchemasAPI', [
      { title: 'Letter', symbols: 'A=90:B=80:C=70:F=0' },
    ]);
  });

  it('creates the course with its gradebook and the column, then updates the column by name', async () => {
    const course = uniqueId('course');
    const created = await journey(ctx, t.token, 'gradableItemsAPI', [
      {
        courseId: course,
        name: 'Final Grade',
        itemType: 'MANUAL_COLUMN',
        instructions: '',
        anonymous: false,
        group: false,
        contentAreaName: 'Assignments',
        available: true,
        attempts: 1,
        tracked: false,
        startDate: '',
        endDate: null,
        dueDate: '2026-12-18T17:00:00Z',
        points: 100,
        gradeSchema: 'Letter',
        sequenceNum: 1,
        extract: 'true',
        mapping: '',
        optionalData: 'SIS_ID=FG123456',
      },
    ]);
    expect(created.body).to.deep.equal([
      {
        courseId: course,
        name: 'Final Grade',
        status: 'OK',
        message: 'Gradecolumn successfully created',
      },
    ]);
    const courseRow = await ctx
      .db('courses')
      .where({ tenant_id: t.tenantId, batch_uid: course })
      .first();
    expect(courseRow.title).to.equal(course);
    const gradebook = await ctx.db('gradebooks').where({ course_id: courseRow.id }).first();
    expect(gradebook.uuid).to.match(/^[0-9a-f-]{36}$/);
    let row = await column(course, 'Final Grade');
    expect(row).to.include({
      item_type: 'MANUAL_COLUMN',
      points: 100,
      content_area_name: 'Assignments',
      attempts: 1,
      due_at: '2026-12-18T17:00:00.000Z',
    });
    expect(JSON.parse(row.optional_data)).to.deep.equal({ SIS_ID: 'FG123456' });

    const updated = await journey(ctx, t.token, 'gradableItemsAPI', [
      {
        courseId: course,
        name: 'Final Grade',
        itemType: 'MANUAL_COLUMN',
        points: 50,
        gradeschema: 'Letter',
      },
    ]);
    expect(updated.body[0]!.message).to.equal('Gradecolumn successfully updated');
    row = await column(course, 'Final Grade');
    expect(row.points).to.equal(50);
    expect(row.content_area_name).to.equal('Assignments'); // omitted fields keep their values
    expect(await ctx.db('grade_columns').where({ course_id: courseRow.id })).to.have.length(1);
  });

  it('enforces every field rule of the specification per item', async () => {
    const course = uniqueId('course');
    const base = { courseId: course, name: 'Col', itemType: 'ASSIGNMENT' };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ name: 'Col', itemType: 'ASSIGNMENT' }, 'courseId is required'],
      [{ ...base, courseId: 'c'.repeat(257) }, 'courseId must be at most 256 characters'],
      [{ ...base, name: 'n'.repeat(334) }, 'name must be at most 333 characters'],
      [{ courseId: course, name: 'Col' }, 'itemType is required'],
      [
        { ...base, itemType: 'QUIZ' },
        'itemType must be one of ASSIGNMENT, TEST, SURVEY, DISCUSSION_BOARD, WIKI, BLOG, JOURNAL, SELF_AND_PEER_TEST, MANUAL_COLUMN, WEIGHTED_COLUMN, TOTAL_COLUMN',
      ],
      [{ ...base, instructions: 'i'.repeat(2001) }, 'instructions must be at most 2000 characters'],
      [{ ...base, anonymous: 'yes' }, 'anonymous must be a boolean'],
      [
        { ...base, contentAreaName: 'c'.repeat(256) },
        'contentAreaName must be at most 255 characters',
      ],
      [{ ...base, color: '#12345678901' }, 'color must be at most 10 characters'],
      [{ ...base, attempts: 0 }, 'attempts must be -1 (unlimited) or at least 1'],
      [{ ...base, attempts: 1.5 }, 'attempts must be an integer'],
      [
        { ...base, dueDate: 'next friday' },
        'dueDate must be an ISO 8601 date in years 1 to 9999, such as 2026-09-01 or 2026-09-01T23:59:00Z',
      ],
      [{ ...base, points: '100' }, 'points must be a number'],
      [{ ...base, points: -1 }, 'points must be at least 0'],
      [
        { ...base, gradeSchema: 'No such schema' },
        'grade schema "No such schema" does not exist; create it with gradeSchemasAPI first',
      ],
      [{ ...base, sequenceNum: -2 }, 'sequenceNum must be at least 0'],
      [{ ...base, extract: 'maybe' }, 'extract must be true or false'],
      [{ ...base, mapping: 'm'.repeat(334) }, 'mapping must be at most 333 characters'],
      [{ ...base, optionalData: 'x' }, 'optionalData: "x" is not a key=value pair'],
      [
        { ...base, mapping: 'A=100' },
        'mapping applies only to WEIGHTED_COLUMN and TOTAL_COLUMN items, not ASSIGNMENT',
      ],
      [{ ...base, colour: 'red' }, 'colour is not a known field'],
    ];
    const res = await journey(
      ctx,
      t.token,
      'gradableItemsAPI',
      cases.map(([item]) => item),
    );
    expect(res.body.map((r) => r.message)).to.deep.equal(cases.map(([, message]) => message));
    expect(res.body.every((r) => r.status === 'ERROR')).to.equal(true);
    expect(
      await ctx.db('courses').where({ tenant_id: t.tenantId, batch_uid: course }).first(),
    ).to.equal(undefined);
  });

  it("validates weighted and total mappings against the course's columns", async () => {
    const course = uniqueId('course');
    const res = await journey(ctx, t.token, 'gradableItemsAPI', [
      { courseId: course, name: 'Assignment 1', itemType: 'ASSIGNMENT', points: 50 },
      { courseId: course, name: 'Test 1', itemType: 'TEST' },
      {
        courseId: course,
        name: 'W bad sum',
        itemType: 'WEIGHTED_COLUMN',
        mapping: 'Assignment 1=30,Test 1=30',
      },
      {
        courseId: course,
        name: 'W unknown',
        itemType: 'WEIGHTED_COLUMN',
        mapping: 'Assignment 1=50,Test 9=50',
      },
      {
        courseId: course,
        name: 'W self',
        itemType: 'WEIGHTED_COLUMN',
        mapping: 'W self=50,Test 1=50',
      },
      {
        courseId: course,
        name: 'Weighted',
        itemType: 'WEIGHTED_COLUMN',
        mapping: 'Assignment 1=40,Test 1=60',
      },
      {
        courseId: course,
        name: 'Total',
        itemType: 'TOTAL_COLUMN',
        mapping: 'Assignment 1, Test 1, Weighted',
      },
      {
        courseId: course,
        name: 'Weighted',
        itemType: 'WEIGHTED_COLUMN',
        mapping: 'Total=50,Test 1=50',
      },
      {
        courseId: course,
        name: 'T bad',
        itemType: 'TOTAL_COLUMN',
        mapping: 'Assignment 1,,Test 1',
      },
    ]);
    expect(res.body.map((r) => `${r.status} ${r.message}`)).to.deep.equal([
      'OK Gradecolumn successfully created',
      'OK Gradecolumn successfully created',
      'ERROR mapping: weights must total 100, they total 60',
      'ERROR mapping: column "Test 9" does not exist in course "' + course + '"',
      'ERROR mapping: column "W self" cannot include itself',
      'OK Gradecolumn successfully created',
      'OK Gradecolumn successfully created',
      'ERROR mapping: column "Weighted" would depend on itself through other calculated columns',
      'ERROR mapping: a column name in the list is empty',
    ]);
    const total = await column(course, 'Total');
    expect(total.points).to.equal(250); // 50 + 100 + the weighted column's 100
  });

  it('deletes a column: hidden from the course, history kept, the name free again', async () => {
    const course = uniqueId('course');
    await journey(ctx, t.token, 'gradableItemsAPI', [
      { courseId: course, name: 'Quiz', itemType: 'TEST', points: 10 },
    ]);
    await journey(ctx, t.token, 'gradeValueAPI', [
      { courseId: course, userId: 'u1', name: 'Quiz', value: '7' },
    ]);
    const before = await column(course, 'Quiz');
    const res = await journey(ctx, t.token, 'gradeColumnDeleteAPI', [
      { courseId: course, name: 'Quiz' },
      { courseId: course, name: 'Quiz' },
      { courseId: 'no-such-course', name: 'Quiz' },
      { courseId: course },
    ]);
    expect(res.body.map((r) => `${r.status} ${r.message}`)).to.deep.equal([
      'OK Grade column successfully deleted',
      `ERROR grade column "Quiz" does not exist in course "${course}"`,
      'ERROR course "no-such-course" does not exist',
      'ERROR name is required',
    ]);
    const deleted = await ctx.db('grade_columns').where({ id: before.id }).first();
    expect(deleted.deleted_at).to.be.a('string');
    expect(await ctx.db('grade_versions').where({ column_id: before.id })).to.have.length(1);
    const value = await journey(ctx, t.token, 'gradeValueAPI', [
      { courseId: course, userId: 'u1', name: 'Quiz', value: '8' },
    ]);
    expect(value.body[0]!.status).to.equal('ERROR');
    await journey(ctx, t.token, 'gradableItemsAPI', [
      { courseId: course, name: 'Quiz', itemType: 'TEST', points: 10 },
    ]);
    const again = await column(course, 'Quiz');
    expect(again.id).not.to.equal(before.id);
  });

  it('sets one external grade column per course', async () => {
    const course = uniqueId('course');
    await journey(ctx, t.token, 'gradableItemsAPI', [
      { courseId: course, name: 'Final Grade', itemType: 'MANUAL_COLUMN' },
      { courseId: course, name: 'Term Grade', itemType: 'MANUAL_COLUMN' },
    ]);
    const first = await journey(ctx, t.token, 'externalGradeColumnAPI', [
      { courseId: course, name: 'Final Grade' },
    ]);
    expect(first.body).to.deep.equal([
      {
        courseId: course,
        name: 'Final Grade',
        status: 'OK',
        message: 'External grade column successfully updated',
      },
    ]);
    await journey(ctx, t.token, 'externalGradeColumnAPI', [
      { courseId: course, name: 'Term Grade' },
      { courseId: course, name: 'Missing' },
    ]);
    expect((await column(course, 'Final Grade')).is_external).to.be.oneOf([0, false]);
    expect((await column(course, 'Term Grade')).is_external).to.be.oneOf([1, true]);
  });

  it('refuses changes to a locked gradebook', async () => {
    const course = uniqueId('course');
    await journey(ctx, t.token, 'gradableItemsAPI', [
      { courseId: course, name: 'Quiz', itemType: 'TEST' },
    ]);
    const c = await ctx.db('courses').where({ tenant_id: t.tenantId, batch_uid: course }).first();
    await ctx.db('gradebooks').where({ course_id: c.id }).update({ is_locked: true });
    const res = await journey(ctx, t.token, 'gradableItemsAPI', [
      { courseId: course, name: 'Quiz', itemType: 'TEST', points: 5 },
    ]);
    expect(res.body[0]).to.deep.include({
      status: 'ERROR',
      message: `the gradebook of course "${course}" is locked; unlock it before changing it`,
    });
    const value = await journey(ctx, t.token, 'gradeValueAPI', [
      { courseId: course, userId: 'u', name: 'Quiz', value: '5' },
    ]);
    expect(value.body[0]!.status).to.equal('ERROR');
  });

  it("never lets one tenant touch another tenant's course", async () => {
    const course = uniqueId('course');
    await journey(ctx, t.token, 'gradableItemsAPI', [
      { courseId: course, name: 'Quiz', itemType: 'TEST', points: 10 },
    ]);
    await journey(ctx, t.token, 'gradeValueAPI', [
      { courseId: course, userId: 'u1', name: 'Quiz', value: '9' },
    ]);
    const intruder = await tenantWithClient(ctx);
    const del = await journey(ctx, intruder.token, 'gradeColumnDeleteAPI', [
      { courseId: course, name: 'Quiz' },
    ]);
    expect(del.body[0]).to.deep.include({
      status: 'ERROR',
      message: `course "${course}" does not exist`,
    });
    const val = await journey(ctx, intruder.token, 'gradeValueAPI', [
      { courseId: course, userId: 'u1', name: 'Quiz', value: '0' },
    ]);
    expect(val.body[0]!.status).to.equal('ERROR');
    // The same batch_uid in the other tenant is a course of its own.
    await journey(ctx, intruder.token, 'gradableItemsAPI', [
      { courseId: course, name: 'Quiz', itemType: 'TEST', points: 10 },
    ]);
    const courses = await ctx.db('courses').where({ batch_uid: course });
    expect(courses.map((c) => c.tenant_id).sort()).to.deep.equal(
      [t.tenantId, intruder.tenantId].sort(),
    );
    const sub = await ctx
      .db('submissions')
      .join('courses', 'courses.id', 'submissions.course_id')
      .where({ 'courses.batch_uid': course });
    expect(sub).to.have.length(1);
    expect(sub[0].score).to.equal(9);
  });
});
