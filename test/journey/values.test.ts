import { expect } from 'chai';
import { tenantWithClient, uniqueId, type TenantFixture } from '../factories/index.js';
import { sharedContext, type TestContext } from '../helpers/context.js';
import { countVersions, gradeOf } from '../helpers/grades.js';
import { journey } from '../helpers/journey.js';

describe('Grades Journey: userMetadataAPI and gradeValueAPI', () => {
  let ctx: TestContext;
  let t: TenantFixture;
  let course: string;

  const grade = (name: string, user: string) => gradeOf(ctx, t.tenantId, course, name, user);

  before(async () => {
    ctx = await sharedContext();
    t = await tenantWithClient(ctx, { graderName: 'Registrar Sync' });
    await journey(ctx, t.token, 'gradeSchemasAPI', [
      { title: 'Letter', symbols: 'A=90:B=80:C=70:D=60:F=0' },
    ]);
  });

  beforeEach(async () => {
    course = uniqueId('course');
    await journey(ctx, t.token, 'gradableItemsAPI', [
      {
        courseId: course,
        name: 'Assignment 1',
        itemType: 'ASSIGNMENT',
        points: 50,
        gradeSchema: 'Letter',
      },
      { courseId: course, name: 'Test 1', itemType: 'TEST', points: 100 },
      { courseId: course, name: 'Test 2', itemType: 'TEST', points: 20 },
      {
        courseId: course,
        name: 'Final Grade',
        itemType: 'WEIGHTED_COLUMN',
        points: 100,
        gradeSchema: 'Letter',
        mapping: 'Assignment 1=30,Test 1=30,Test 2=40',
      },
      {
        courseId: course,
        name: 'Points',
        itemType: 'TOTAL_COLUMN',
        mapping: 'Assignment 1,Test 1,Test 2',
      },
    ]);
  });

  it('upserts enrollment metadata, creating the user, the enrollment and the course when missing', async () => {
    const newCourse = uniqueId('course');
    const res = await journey(ctx, t.token, 'userMetadataAPI', [
      { courseId: newCourse, userId: 'student1', optionalData: 'EnrollType=LetterGrade' },
      { courseId: newCourse, userId: 'student2', optionalData: 'EnrollType=Audit' },
      { courseId: newCourse, userId: 'student1', optionalData: 'EnrollType=PassFail' },
      { courseId: newCourse, userId: 'student3', optionalData: 'broken' },
      { courseId: newCourse },
    ]);
    expect(res.body).to.deep.equal([
      {
        courseId: newCourse,
        name: 'student1',
        status: 'OK',
        message: 'User metadata successfully created',
      },
      {
        courseId: newCourse,
        name: 'student2',
        status: 'OK',
        message: 'User metadata successfully created',
      },
      {
        courseId: newCourse,
        name: 'student1',
        status: 'OK',
        message: 'User metadata successfully updated',
      },
      {
        courseId: newCourse,
        name: 'student3',
        status: 'ERROR',
        message: 'optionalData: "broken" is not a key=value pair',
      },
      { courseId: newCourse, name: '', status: 'ERROR', message: 'userId is required' },
    ]);
    const rows = await ctx
      .db('enrollments')
      .join('users', 'users.id', 'enrollments.user_id')
      .join('courses', 'courses.id', 'enrollments.course_id')
      .where({ 'courses.batch_uid': newCourse, 'courses.tenant_id': t.tenantId })
      .orderBy('users.batch_uid')
      .select('users.batch_uid', 'enrollments.optional_data', 'enrollments.role');
    expect(rows.map((r) => [r.batch_uid, JSON.parse(r.optional_data), r.role])).to.deep.equal([
      ['student1', { EnrollType: 'PassFail' }, 'Learner'],
      ['student2', { EnrollType: 'Audit' }, 'Learner'],
    ]);
    const again = await journey(ctx, t.token, 'userMetadataAPI', [
      { courseId: newCourse, userId: 'student2' },
    ]);
    expect(again.body[0]!.message).to.equal('User metadata successfully updated');
    const kept = await ctx
      .db('enrollments')
      .join('users', 'users.id', 'enrollments.user_id')
      .where({ 'users.batch_uid': 'student2', 'users.tenant_id': t.tenantId })
      .first();
    expect(JSON.parse(kept.optional_data)).to.deep.equal({ EnrollType: 'Audit' });
  });

  it('writes a symbol or a number, storing both score and grade, with the client as grader', async () => {
    const res = await journey(ctx, t.token, 'gradeValueAPI', [
      { courseId: course, userId: 'u1', name: 'Assignment 1', value: 'B' },
      { courseId: course, userId: 'u2', name: 'Assignment 1', value: '45' },
      { courseId: course, userId: 'u3', name: 'Test 1', value: '72.5' },
    ]);
    expect(res.body).to.deep.equal([
      {
        courseId: course,
        name: 'Assignment 1',
        status: 'OK',
        message: 'Grade value successfully added',
      },
      {
        courseId: course,
        name: 'Assignment 1',
        status: 'OK',
        message: 'Grade value successfully added',
      },
      { courseId: course, name: 'Test 1', status: 'OK', message: 'Grade value successfully added' },
    ]);
    const u1 = await grade('Assignment 1', 'u1');
    expect(u1).to.deep.include({ score: 40, grade: 'B' });
    expect(u1!.versions).to.deep.equal([
      { score: 40, grade: 'B', source: 'journey', graderId: t.graderId, pointsPossible: 50 },
    ]);
    expect(await grade('Assignment 1', 'u2')).to.deep.include({ score: 45, grade: 'A' });
    expect(await grade('Test 1', 'u3')).to.deep.include({ score: 72.5, grade: '72.5' });
    const grader = await ctx.db('users').where({ id: t.graderId }).first();
    expect(grader).to.include({ name: 'Registrar Sync', kind: 'service' });
  });

  it('records nothing new when the same value is sent again', async () => {
    const items = [
      { courseId: course, userId: 'u1', name: 'Test 1', value: '80' },
      { courseId: course, userId: 'u1', name: 'Test 2', value: '15' },
    ];
    await journey(ctx, t.token, 'gradeValueAPI', items);
    const count = await countVersions(ctx, t.tenantId);
    const again = await journey(ctx, t.token, 'gradeValueAPI', items);
    expect(again.body.map((r) => r.message)).to.deep.equal([
      'Grade value unchanged',
      'Grade value unchanged',
    ]);
    expect(await countVersions(ctx, t.tenantId)).to.equal(count);
    const same = await journey(ctx, t.token, 'gradeValueAPI', [
      { courseId: course, userId: 'u1', name: 'Test 1', value: '80.0' },
    ]);
    expect(same.body[0]!.message).to.equal('Grade value unchanged');
  });

  it('keeps every change of a batch in order as versions', async () => {
    await journey(ctx, t.token, 'gradeValueAPI', [
      { courseId: course, userId: 'u1', name: 'Test 1', value: '60' },
      { courseId: course, userId: 'u1', name: 'Test 1', value: '70' },
      { courseId: course, userId: 'u1', name: 'Test 1', value: '70' },
      { courseId: course, userId: 'u1', name: 'Test 1', value: '65' },
    ]);
    const g = await grade('Test 1', 'u1');
    expect(g!.score).to.equal(65);
    expect(g!.versions.map((v) => v.score)).to.deep.equal([60, 70, 65]);
  });

  it('recalculates weighted and total columns when an input changes, each result a version', async () => {
    await journey(ctx, t.token, 'gradeValueAPI', [
      { courseId: course, userId: 'u1', name: 'Assignment 1', value: '45' },
      { courseId: course, userId: 'u1', name: 'Test 1', value: '80' },
    ]);
    // (30 * 0.9 + 30 * 0.8) / 60 = 85%; Test 2 is not graded yet, so it does not count.
    let fin = await grade('Final Grade', 'u1');
    expect(fin).to.deep.include({ score: 85, grade: 'B' });
    expect(fin!.versions.map((v) => [v.score, v.source, v.graderId])).to.deep.equal([
      [85, 'calculation', null],
    ]);
    expect(await grade('Points', 'u1')).to.deep.include({ score: 125, grade: '125' });

    await journey(ctx, t.token, 'gradeValueAPI', [
      { courseId: course, userId: 'u1', name: 'Test 2', value: '20' },
    ]);
    // 0.3 * 90 + 0.3 * 80 + 0.4 * 100 = 91
    fin = await grade('Final Grade', 'u1');
    expect(fin).to.deep.include({ score: 91, grade: 'A' });
    expect(fin!.versions.map((v) => v.score)).to.deep.equal([85, 91]);
    const points = await grade('Points', 'u1');
    expect(points).to.deep.include({ score: 145 });
    expect(points!.versions.at(-1)!.pointsPossible).to.equal(170);
  });

  it('recalculates when a mapping changes and when an input column is deleted', async () => {
    await journey(ctx, t.token, 'gradeValueAPI', [
      { courseId: course, userId: 'u1', name: 'Assignment 1', value: '50' },
      { courseId: course, userId: 'u1', name: 'Test 1', value: '50' },
      { courseId: course, userId: 'u2', name: 'Test 1', value: '100' },
    ]);
    expect((await grade('Final Grade', 'u1'))!.score).to.equal(75);
    await journey(ctx, t.token, 'gradableItemsAPI', [
      {
        courseId: course,
        name: 'Final Grade',
        itemType: 'WEIGHTED_COLUMN',
        mapping: 'Assignment 1=80,Test 1=20',
      },
    ]);
    expect((await grade('Final Grade', 'u1'))!.score).to.equal(90);
    expect((await grade('Final Grade', 'u2'))!.score).to.equal(100);
    await journey(ctx, t.token, 'gradeColumnDeleteAPI', [
      { courseId: course, name: 'Assignment 1' },
    ]);
    const u1 = await grade('Final Grade', 'u1');
    expect(u1!.score).to.equal(50);
    expect(u1!.versions.map((v) => v.score)).to.deep.equal([75, 90, 50]);
    const points = await ctx
      .db('grade_columns')
      .join('courses', 'courses.id', 'grade_columns.course_id')
      .where({ 'courses.batch_uid': course, 'grade_columns.name': 'Points' })
      .first('grade_columns.points');
    expect(points.points).to.equal(120);
  });

  it('refuses values for calculated, unknown and deleted columns, unknown courses and bad values, and applies the rest', async () => {
    const res = await journey(ctx, t.token, 'gradeValueAPI', [
      { courseId: course, userId: 'u1', name: 'Final Grade', value: '90' },
      { courseId: course, userId: 'u1', name: 'Nope', value: '90' },
      { courseId: 'nowhere', userId: 'u1', name: 'Test 1', value: '90' },
      { courseId: course, userId: 'u1', name: 'Test 1', value: 'B' },
      { courseId: course, userId: 'u1', name: 'Assignment 1', value: 'Z' },
      { courseId: course, userId: 'u1', name: 'Test 1', value: 88 },
      { courseId: course, userId: 'u1', name: 'Test 1', value: '' },
      { courseId: course, userId: 'u1', name: 'Test 1' },
      { courseId: course, userId: 'u'.repeat(334), name: 'Test 1', value: '1' },
      { courseId: course, userId: 'u1', name: 'Test 1', value: '77' },
    ]);
    expect(res.body.map((r) => `${r.status} ${r.message}`)).to.deep.equal([
      'ERROR grade column "Final Grade" is a WEIGHTED_COLUMN; its values are calculated',
      `ERROR grade column "Nope" does not exist in course "${course}"`,
      'ERROR course "nowhere" does not exist',
      'ERROR value "B" is not a non-negative number, and column "Test 1" has no grade schema',
      'ERROR value "Z" is neither a non-negative number nor a symbol of the column\'s grade schema (A, B, C, D, F)',
      'ERROR value must be a string',
      'ERROR value must not be empty',
      'ERROR value is required',
      'ERROR userId must be at most 333 characters',
      'OK Grade value successfully added',
    ]);
    expect(await grade('Test 1', 'u1')).to.deep.include({ score: 77 });
    const users = await ctx
      .db('users')
      .where({ tenant_id: t.tenantId, batch_uid: 'u'.repeat(334) });
    expect(users).to.have.length(0);
  });

  it('creates the learner and the enrollment for a value of a user it has not seen', async () => {
    await journey(ctx, t.token, 'gradeValueAPI', [
      { courseId: course, userId: 'walk-in', name: 'Test 1', value: '10' },
    ]);
    const enrollment = await ctx
      .db('enrollments')
      .join('users', 'users.id', 'enrollments.user_id')
      .join('courses', 'courses.id', 'enrollments.course_id')
      .where({ 'users.batch_uid': 'walk-in', 'courses.batch_uid': course })
      .first('enrollments.role');
    expect(enrollment.role).to.equal('Learner');
  });

  it("updates the gradebook's last change", async () => {
    await journey(ctx, t.token, 'gradeValueAPI', [
      { courseId: course, userId: 'u1', name: 'Test 1', value: '10' },
    ]);
    const gb = await ctx
      .db('gradebooks')
      .join('courses', 'courses.id', 'gradebooks.course_id')
      .where({ 'courses.batch_uid': course })
      .first('gradebooks.*');
    expect(gb).to.include({ last_change_type: 'GradeChanged', last_change_user: t.clientName });
  });
});
