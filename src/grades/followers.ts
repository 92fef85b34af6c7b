import type { Trx } from '../db/knex.js';
import type { GradeSource } from './grade-batch.js';

/** One grade version just recorded, as the followers of grade changes see it. */
export interface GradeChange {
  courseId: number;
  columnId: number;
  userId: number;
  /** users.id of the grader; null when no person graded. */
  graderId: number | null;
  gradedAt: string;
  source: GradeSource;
  score: number | null;
  grade: string | null;
  /**
   * A late version: its source made the change before the grade the
   * submission holds was given, so it is in the history but is not the
   * current grade (the submission kept its newer one).
   */
  superseded: boolean;
}

/** The changes one flush of a GradeBatch recorded, in the order they were recorded. */
export interface GradeChanges {
  tenantId: number;
  now: string;
  changes: readonly GradeChange[];
}

/**
 * What must follow a grade change (the history day summary, LMS passback,
 * and later SIS sync state, approval state, drift). A follower runs inside
 * the transaction that records the change, so the change and everything
 * that follows it are written together or not at all.
 */
export interface GradeFollower {
  name: string;
  follow(trx: Trx, batch: GradeChanges): Promise<void>;
}

const followers: GradeFollower[] = [];
let registered = false;

/**
 * Sets the followers, once, at start-up (src/followers.ts). The grade model
 * imports no surface: surfaces hand it their followers here.
 */
export function registerGradeFollowers(list: readonly GradeFollower[]): void {
  if (registered) return;
  followers.push(...list);
  registered = true;
}

/**
 * A follower that sees only the changes that became the current grade: a
 * late version (`superseded`) is history, not a grade to act on, so such a
 * follower (LMS passback, the approval state) never sees it.
 */
export function currentGradesOnly(follower: GradeFollower): GradeFollower {
  return {
    name: follower.name,
    follow: async (trx, batch) => {
      const changes = batch.changes.filter((c) => !c.superseded);
      if (changes.length > 0) await follower.follow(trx, { ...batch, changes });
    },
  };
}

/** Hands a batch of recorded changes to every follower, in the order they were registered. */
export async function followGradeChanges(trx: Trx, batch: GradeChanges): Promise<void> {
  if (!registered)
    throw new Error('grade followers are not registered (registerFollowers() at start-up)');
  if (batch.changes.length === 0) return;
  for (const follower of followers) await follower.follow(trx, batch);
}
