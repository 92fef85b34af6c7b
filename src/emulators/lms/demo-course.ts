import type { LmsEmulator } from './emulator.js';
import { ROLE } from './vocabulary.js';

export const DEMO_CONTEXT_ID = 'DEMO-LTI-101';

/** A small course to click through: an instructor, three learners, a link and a gradebook. */
export function seedDemoCourse(lms: LmsEmulator): { lineItemIds: string[] } {
  lms.createContext({
    id: DEMO_CONTEXT_ID,
    label: 'LTI-101',
    title: 'Introduction to LTI',
    lisCourseSourcedId: 'SIS-LTI-101-2025',
  });
  const people = [
    ['instructor-1', 'Ada', 'Lovelace', ROLE.instructor],
    ['learner-1', 'Alan', 'Turing', ROLE.learner],
    ['learner-2', 'Grace', 'Hopper', ROLE.learner],
    ['learner-3', 'Katherine', 'Johnson', ROLE.learner],
  ] as const;
  for (const [userId, givenName, familyName, role] of people) {
    lms.addMember(DEMO_CONTEXT_ID, {
      userId,
      givenName,
      familyName,
      name: `${givenName} ${familyName}`,
      email: `${givenName.toLowerCase()}.${familyName.toLowerCase()}@example.edu`,
      roles: [role],
      lisPersonSourcedId: `SIS-${userId}`,
    });
  }
  lms.addResourceLink(DEMO_CONTEXT_ID, {
    id: 'demo-link-week-1',
    title: 'Week 1 quiz',
    custom: { course_label: '$Context.label' },
  });
  const quiz = lms.addLineItem(DEMO_CONTEXT_ID, {
    label: 'Week 1 quiz',
    scoreMaximum: 100,
    resourceLinkId: 'demo-link-week-1',
    resourceId: 'quiz-1',
    tag: 'quiz',
  });
  const participation = lms.addLineItem(DEMO_CONTEXT_ID, {
    label: 'Participation',
    scoreMaximum: 10,
    tag: 'participation',
  });
  lms.setResult(quiz.id, 'learner-1', { resultScore: 87, comment: 'Good work' });
  lms.setResult(quiz.id, 'learner-2', { resultScore: 92 });
  lms.setResult(participation.id, 'learner-1', { resultScore: 8 });
  lms.setResult(participation.id, 'learner-3', { resultScore: 10 });
  return { lineItemIds: [quiz.id, participation.id] };
}
