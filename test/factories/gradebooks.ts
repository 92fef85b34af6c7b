import { randomUUID } from 'node:crypto';
import { createCourse } from '../../src/courses/service.js';
import { inTransaction } from '../../src/db/transaction.js';
import type { TestContext } from '../helpers/context.js';

export interface GradebookOverrides {
  courseBatchUid?: string;
  classTitle?: string;
  gradebookTitle?: string;
  gradebookType?: string;
  reference?: string | null;
  isLocked?: boolean;
  achievementId?: string | null;
  achievementTitle?: string | null;
  frameworkId?: string | null;
  periodId?: string | null;
  lastChangeType?: string;
  lastChangeUser?: string;
  lastChangeTime?: string;
  created?: string;
  startsAt?: string | null;
  endsAt?: string | null;
  instructors?: Array<{ name: string; uuid?: string }>;
  learners?: number;
}

export interface GradebookFixture {
  courseId: number;
  batchUid: string;
  gradebookId: string;
  classId: string;
  instructorIds: string[];
}

let n = 0;

/** A course and its gradebook with the given fields, written straight into the store. */
export async function gradebook(
  ctx: TestContext,
  tenantId: number,
  o: GradebookOverrides = {},
): Promise<GradebookFixture> {
  return inTransaction(ctx.db, async (trx) => {
    const now = o.created ?? '2026-01-10T09:00:00.000Z';
    const batchUid = o.courseBatchUid ?? `PG-${process.pid}-${++n}`;
    const course = await createCourse(
      trx,
      tenantId,
      {
        batchUid,
        title: o.classTitle ?? batchUid,
        source: 'test',
        startsAt: o.startsAt ?? null,
        endsAt: o.endsAt ?? null,
      },
      now,
    );
    await trx('gradebooks')
      .where({ course_id: course.id })
      .update({
        title: o.gradebookTitle ?? o.classTitle ?? batchUid,
        type: o.gradebookType ?? 'Course',
        reference: o.reference === undefined ? batchUid : o.reference,
        is_locked: o.isLocked ?? false,
        achievement_id: o.achievementId ?? null,
        achievement_title: o.achievementTitle ?? null,
        framework_id: o.frameworkId ?? null,
        period_id: o.periodId ?? null,
        last_change_type: o.lastChangeType ?? 'GradebookCreated',
        last_change_user: o.lastChangeUser ?? 'test',
        last_change_time: o.lastChangeTime ?? now,
        created_at: now,
      });
    /** A person enrolled in the course with a role. */
    const enrol = async (
      person: { uuid: string; batchUid: string; name: string },
      role: string,
    ) => {
      const [user] = await trx('users')
        .insert({
          tenant_id: tenantId,
          uuid: person.uuid,
          batch_uid: person.batchUid,
          name: person.name,
          kind: 'person',
          created_at: now,
          updated_at: now,
        })
        .returning('id');
      await trx('enrollments').insert({
        tenant_id: tenantId,
        course_id: course.id,
        user_id: user.id,
        role,
        source: 'test',
        created_at: now,
        updated_at: now,
      });
    };
    const instructorIds: string[] = [];
    for (const instructor of o.instructors ?? []) {
      const uuid = instructor.uuid ?? randomUUID();
      await enrol({ uuid, batchUid: `i-${uuid}`, name: instructor.name }, 'Instructor');
      instructorIds.push(uuid);
    }
    for (let i = 0; i < (o.learners ?? 0); i++) {
      await enrol(
        { uuid: randomUUID(), batchUid: `${batchUid}-l${i}`, name: `Learner ${i}` },
        'Learner',
      );
    }
    const gb = await trx('gradebooks').where({ course_id: course.id }).first('uuid');
    return {
      courseId: course.id,
      batchUid,
      gradebookId: gb.uuid,
      classId: course.uuid,
      instructorIds,
    };
  });
}
