/**
 * LTI role vocabulary (LTI 1.3 core, appendix A.2) and the one rule that
 * turns a role list into a person's role in a course. It is used for
 * launches and for Names and Roles members alike.
 *
 * Only context (membership) roles speak about this course. Institution and
 * system roles describe the person elsewhere in the organisation: Canvas
 * sends `institution/person#Instructor` to a student who teaches some other
 * course, and `system/person#User` to everyone, so they never make anyone
 * staff (or a learner) here.
 */

const LIS = 'http://purl.imsglobal.org/vocab/lis/v2/';

export const ROLE_VOCABULARY = {
  /** Context roles: `membership#Instructor`, sub-roles `membership/Instructor#TeachingAssistant`. */
  membership: `${LIS}membership`,
  institution: `${LIS}institution/person#`,
  system: `${LIS}system/person#`,
  /** The LTI vocabulary's system roles, e.g. TestUser (Canvas's Student View adds it to Learner); they change nothing here. */
  ltiSystem: 'http://purl.imsglobal.org/vocab/lti/system/person#',
} as const;

/** The context roles the core vocabulary names; the short (deprecated) forms are these names alone. */
const CONTEXT_ROLES = [
  'Administrator',
  'ContentDeveloper',
  'Instructor',
  'Learner',
  'Mentor',
  'Manager',
  'Member',
  'Officer',
] as const;
type ContextRole = (typeof CONTEXT_ROLES)[number];

/**
 * A person's role in a course, as stored on the enrollment:
 * - Instructor: teaches, designs or administers the course (staff);
 * - TeachingAssistant: an instructor sub-role (staff);
 * - Learner: takes the course, sees their own grades;
 * - Mentor: an observer (a parent, an advisor), sees the grades of the
 *   learners the launch names in `role_scope_mentor`, and nobody else's;
 * - None: no context role that gives rights here (institution or system
 *   roles only, unknown roles, no roles).
 */
export type CourseRole = 'Instructor' | 'TeachingAssistant' | 'Learner' | 'Mentor' | 'None';

export const STAFF_ROLES: readonly CourseRole[] = ['Instructor', 'TeachingAssistant'];

/** A context role, with its sub-role when it has one. */
interface ContextRoleName {
  role: ContextRole;
  subRole: string | null;
}

const isContextRole = (name: string): name is ContextRole =>
  (CONTEXT_ROLES as readonly string[]).includes(name);

/**
 * The context role a role URI names, or null for institution, system and
 * unknown roles. Accepted forms: `membership#Learner`,
 * `membership/Instructor#TeachingAssistant` (a sub-role names its principal
 * role), and the deprecated short forms (`Instructor`, `Learner`, ...).
 */
export function contextRole(role: string): ContextRoleName | null {
  if (isContextRole(role)) return { role, subRole: null };
  // LTI 1.1's short names had the teaching assistant as a role of its own.
  if (role === 'TeachingAssistant') return { role: 'Instructor', subRole: 'TeachingAssistant' };
  const prefix = ROLE_VOCABULARY.membership;
  if (!role.startsWith(prefix)) return null;
  const rest = role.slice(prefix.length);
  if (rest.startsWith('#')) {
    const name = rest.slice(1);
    return isContextRole(name) ? { role: name, subRole: null } : null;
  }
  const sub = /^\/([A-Za-z]+)#([A-Za-z]+)$/.exec(rest);
  if (sub && isContextRole(sub[1]!)) return { role: sub[1]!, subRole: sub[2]! };
  return null;
}

/**
 * The course role an institution or system role gives on its own. None do:
 * an account administrator who is not enrolled (Canvas sends
 * `institution/person#Administrator` and no context role) opens the tool
 * without rights. This is the one place to change if administrators are to
 * get a role of their own.
 */
function roleOutsideContext(_roles: readonly string[]): CourseRole | null {
  return null;
}

/** The course role a role list gives, deciding on context roles only. */
export function courseRole(roles: readonly string[]): CourseRole {
  const context = roles.map(contextRole).filter((r): r is ContextRoleName => r !== null);
  const has = (name: ContextRole) => context.some((r) => r.role === name);
  if (context.some((r) => r.role === 'Instructor' && r.subRole === 'TeachingAssistant'))
    return 'TeachingAssistant';
  if (has('Instructor') || has('Administrator') || has('ContentDeveloper')) return 'Instructor';
  if (has('Learner')) return 'Learner';
  if (has('Mentor')) return 'Mentor';
  return roleOutsideContext(roles) ?? 'None';
}

export function isStaffRole(role: CourseRole): boolean {
  return STAFF_ROLES.includes(role);
}

/** Whether the role list makes the person a mentor in this context (with or without other roles). */
export function isMentor(roles: readonly string[]): boolean {
  return roles.some((r) => contextRole(r)?.role === 'Mentor');
}

/**
 * Whether the launch names an institution or system Administrator: such a
 * person approves final grades (an account administrator in Canvas gets
 * `institution/person#Administrator`). It gives no rights in the course.
 */
export function isAdministrator(roles: readonly string[]): boolean {
  return roles.some(
    (r) =>
      r === `${ROLE_VOCABULARY.institution}Administrator` ||
      r === `${ROLE_VOCABULARY.system}Administrator`,
  );
}
