import type { AppDeps } from '../deps.js';
import { isoNow } from '../db/time.js';
import { inTransaction } from '../db/transaction.js';
import { ensureEnrollments, ensureUsersByBatchUid } from '../courses/service.js';
import { addApprover } from '../grades/final-grade-workflow.js';
import type { JourneyActor } from '../journey/actor.js';
import { setExternalGradeColumns } from '../journey/external-grade-column.js';
import { upsertGradableItems } from '../journey/gradable-items.js';
import { upsertGradeSchemas } from '../journey/grade-schemas.js';
import { writeGradeValues } from '../journey/grade-values.js';
import { upsertUserMetadata } from '../journey/user-metadata.js';

/**
 * A demo course, DEMO-100, written through the same Journey services the API
 * uses: a letter schema, three columns, a weighted final grade and a few
 * learners with grades, a teacher (teacher1) and a registrar who approves
 * final grades (registrar). Running it again changes nothing.
 */
export async function seedDemoCourse(deps: AppDeps, tenantId: number): Promise<void> {
  const client = await deps.db('api_clients').where({ tenant_id: tenantId }).orderBy('id').first();
  if (!client) return;
  const actor: JourneyActor = {
    tenantId,
    apiClientId: client.id,
    graderUserId: client.grader_user_id,
    name: client.name,
  };
  const course = 'DEMO-100';
  const learners = ['learner1', 'learner2', 'learner3', 'learner4'];
  await inTransaction(deps.db, async (trx) => {
    const now = isoNow(deps.clock);
    await upsertGradeSchemas(
      trx,
      actor,
      [{ title: 'Letter', symbols: 'A=90:B=80:C=70:D=60:F=0' }],
      now,
    );
    await upsertGradableItems(
      trx,
      actor,
      [
        {
          courseId: course,
          name: 'Essay 1',
          itemType: 'ASSIGNMENT',
          points: 20,
          gradeSchema: 'Letter',
        },
        { courseId: course, name: 'Quiz 1', itemType: 'TEST', points: 10 },
        { courseId: course, name: 'Midterm', itemType: 'TEST', points: 100, gradeSchema: 'Letter' },
        {
          courseId: course,
          name: 'Final Grade',
          itemType: 'WEIGHTED_COLUMN',
          points: 100,
          gradeSchema: 'Letter',
          mapping: 'Essay 1=30,Quiz 1=20,Midterm=50',
        },
      ],
      now,
    );
    await setExternalGradeColumns(trx, actor, [{ courseId: course, name: 'Final Grade' }], now);
    await upsertUserMetadata(
      trx,
      actor,
      learners.map((userId) => ({
        courseId: course,
        userId,
        optionalData: 'EnrollType=LetterGrade',
      })),
      now,
    );
    const scores = [
      ['18', '9', '91'],
      ['15', '7', '78'],
      ['B', '10', '85'],
      ['12', '6', 'C'],
    ];
    await writeGradeValues(
      trx,
      actor,
      learners.flatMap((userId, i) =>
        ['Essay 1', 'Quiz 1', 'Midterm'].map((name, j) => ({
          courseId: course,
          userId,
          name,
          value: scores[i]![j]!,
        })),
      ),
      now,
    );
    // A teacher who submits the final grades, and a registrar who approves them.
    const courseRow = await trx('courses')
      .where({ tenant_id: tenantId, batch_uid: course })
      .first('id');
    const people = await ensureUsersByBatchUid(trx, tenantId, ['teacher1', 'registrar'], now);
    await trx('users')
      .where({ id: people.get('teacher1')! })
      .whereNull('name')
      .update({ name: 'Demo Teacher', updated_at: now });
    await trx('users')
      .where({ id: people.get('registrar')! })
      .whereNull('name')
      .update({ name: 'Demo Registrar', updated_at: now });
    await ensureEnrollments(
      trx,
      tenantId,
      [{ courseId: courseRow.id, userId: people.get('teacher1')! }],
      'Instructor',
      'demo',
      now,
    );
    await addApprover(trx, tenantId, people.get('registrar')!, 'cli', now);
  });
}
