import { HttpError } from './errors.js';

/**
 * What real platforms do with scores now and then, set by a test or the
 * demo: keep an older score while answering 204 as if it took the new one
 * (Canvas keeps a result newer than the score's timestamp, or a teacher's
 * override), or refuse a learner's score (Canvas answers 422 "User not found
 * in course or is not a student" for the Test Student, and for an
 * unpublished assignment).
 */
export class ScoreFaults {
  private readonly kept = new Set<string>();
  private readonly refused = new Map<string, { status: number; message: string }>();

  /** This learner's scores are answered 204 and dropped. */
  keepOlderScore(userId: string): void {
    this.kept.add(userId);
  }

  /** This learner's scores are refused with `status` and `message`. */
  refuseScores(
    userId: string,
    status = 422,
    message = 'User not found in course or is not a student',
  ): void {
    this.refused.set(userId, { status, message });
  }

  clear(): void {
    this.kept.clear();
    this.refused.clear();
  }

  /** Throws the refusal for this learner, if any; true when the score is to be silently dropped. */
  check(userId: string): boolean {
    const refusal = this.refused.get(userId);
    if (refusal) throw new HttpError(refusal.status, 'unprocessable_entity', refusal.message);
    return this.kept.has(userId);
  }
}
