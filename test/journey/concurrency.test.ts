import { expect } from 'chai';
import { tenantWithClient, uniqueId } from '../factories/index.js';
import { sharedContext } from '../helpers/context.js';
import { countVersions, gradeOf } from '../helpers/grades.js';
import { journey } from '../helpers/journey.js';

describe('Grades Journey: concurrent batches', () => {
  it('applies parallel batches on one course without errors, lost changes or duplicate versions', async () => {
    const ctx = await sharedContext();
    const t = await tenantWithClient(ctx);
    const course = uniqueId('course');
    await journey(ctx, t.token, 'gradableItemsAPI', [
      { courseId: course, name: 'Q1', itemType: 'TEST', points: 10 },
      { courseId: course, name: 'Q2', itemType: 'TEST', points: 10 },
      { courseId: course, name: 'Sum', itemType: 'TOTAL_COLUMN', mapping: 'Q1,Q2' },
    ]);
    const learners = Array.from({ length: 40 }, (_, i) => `p${i}`);
    // Eight batches at once: Q1 and Q2 for every learner, twice each (the second send is a no-op).
    const batches = [0, 1, 0, 1, 0, 1, 0, 1].map((q) =>
      learners.map((userId, i) => ({
        courseId: course,
        userId,
        name: `Q${q + 1}`,
        value: String((i % 10) + q),
      })),
    );
    const results = await Promise.all(
      batches.map((items) => journey(ctx, t.token, 'gradeValueAPI', items)),
    );
    for (const res of results) expect(res.body.every((r) => r.status === 'OK')).to.equal(true);
    const added = results
      .flatMap((r) => r.body)
      .filter((r) => r.message === 'Grade value successfully added');
    expect(added).to.have.length(80);
    // 80 input versions + one total per learner per input change that moved it (2 each).
    expect(await countVersions(ctx, t.tenantId)).to.equal(80 + 80);
    const p3 = await gradeOf(ctx, t.tenantId, course, 'Sum', 'p3');
    expect(p3!.score).to.equal(3 + 4);
    const users = await ctx.db('users').where({ tenant_id: t.tenantId, kind: 'person' });
    expect(users).to.have.length(40);
  });
});
