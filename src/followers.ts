import { approvalFollower } from './grades/final-grade-workflow.js';
import { currentGradesOnly, registerGradeFollowers } from './grades/followers.js';
import { historyDaysFollower } from './history/days.js';
import { scorePassbackFollower } from './lti/passback.js';

/**
 * Everything that follows a grade change, in one place: the grade model
 * records a batch of changes and hands it, in the same transaction, to each
 * of these in order (the history day summary, the approval state of final
 * grades, LMS score passback). A surface that must follow grade changes adds its
 * follower here; the model is not touched.
 *
 * A late version (an event older than the grade it would replace, kept in the
 * history only) is counted on its day by the history summary, but it changed
 * no grade: approval does not count it as a change since approval, and
 * passback does not send it (`currentGradesOnly`).
 */
export function registerFollowers(): void {
  registerGradeFollowers([
    historyDaysFollower,
    currentGradesOnly(approvalFollower),
    currentGradesOnly(scorePassbackFollower),
  ]);
}
