import type { TestContext } from './context.js';

export interface StoredVersion {
  score: number | null;
  grade: string | null;
  source: string;
  graderId: number | null;
  pointsPossible: number | null;
}

/** Looks up the current grade and its versions by batch_uids and column name, straight from the store. */
export async function gradeOf(
  ctx: TestContext,
  tenantId: number,
  courseUid: string,
  columnName: string,
  userUid: string,
): Promise<{ score: number | null; grade: string | null; versions: StoredVersion[] } | null> {
  const row = await ctx
    .db('submissions')
    .join('courses', 'courses.id', 'submissions.course_id')
    .join('grade_columns', 'grade_columns.id', 'submissions.column_id')
    .join('users', 'users.id', 'submissions.user_id')
    .where({
      'courses.tenant_id': tenantId,
      'courses.batch_uid': courseUid,
      'grade_columns.name': columnName,
      'users.batch_uid': userUid,
    })
    .first('submissions.id', 'submissions.score', 'submissions.grade');
  if (!row) return null;
  const versions = await ctx.db('grade_versions').where({ submission_id: row.id }).orderBy('id');
  return {
    score: row.score,
    grade: row.grade,
    versions: versions.map((v) => ({
      score: v.score,
      grade: v.grade,
      source: v.source,
      graderId: v.grader_id,
      pointsPossible: v.points_possible,
    })),
  };
}

export async function countVersions(ctx: TestContext, tenantId: number): Promise<number> {
  const row = await ctx
    .db('grade_versions')
    .where({ tenant_id: tenantId })
    .count({ n: '*' })
    .first();
  return Number(row?.n ?? 0);
}

export async function tableCounts(
  ctx: TestContext,
  tenantId: number,
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of [
    'courses',
    'grade_columns',
    'grade_schemas',
    'users',
    'enrollments',
    'submissions',
    'grade_versions',
  ]) {
    const row = await ctx.db(table).where({ tenant_id: tenantId }).count({ n: '*' }).first();
    out[table] = Number(row?.n ?? 0);
  }
  return out;
}
