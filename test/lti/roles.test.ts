import { expect } from 'chai';
import { courseRole, isStaffRole, type CourseRole } from '../../src/lti/roles.js';
import { tenantWithClient, uniqueId, type TenantFixture } from '../factories/index.js';
import { sharedContext, type TestContext } from '../helpers/context.js';
import { journey } from '../helpers/journey.js';
import {
  launch,
  launchClaims,
  login,
  LTI,
  sign,
  startTestPlatform,
  type TestPlatform,
} from '../helpers/lti-platform.js';

const M = 'http://purl.imsglobal.org/vocab/lis/v2/membership#';
const SUB = 'http://purl.imsglobal.org/vocab/lis/v2/membership/';
const INST = 'http://purl.imsglobal.org/vocab/lis/v2/institution/person#';
const SYS = 'http://purl.imsglobal.org/vocab/lis/v2/system/person#';
const TEST_USER = 'http://purl.imsglobal.org/vocab/lti/system/person#TestUser';
const MENTOR_SCOPE = `${LTI}role_scope_mentor`;

describe('LTI course roles', function () {
  this.timeout(60000);

  describe('the course role of a role list', () => {
    const cases: Array<[string, string[], CourseRole]> = [
      ['membership Instructor', [`${M}Instructor`], 'Instructor'],
      ['short Instructor', ['Instructor'], 'Instructor'],
      ['membership Learner', [`${M}Learner`], 'Learner'],
      ['short Learner', ['Learner'], 'Learner'],
      [
        'teaching assistant sub-role with its principal role',
        [`${M}Instructor`, `${SUB}Instructor#TeachingAssistant`],
        'TeachingAssistant',
      ],
      [
        'teaching assistant sub-role alone',
        [`${SUB}Instructor#TeachingAssistant`],
        'TeachingAssistant',
      ],
      ['short TeachingAssistant (LTI 1.1 name)', ['TeachingAssistant'], 'TeachingAssistant'],
      ['grader sub-role', [`${SUB}Instructor#Grader`], 'Instructor'],
      ['membership Administrator', [`${M}Administrator`], 'Instructor'],
      ['membership ContentDeveloper (a designer)', [`${M}ContentDeveloper`], 'Instructor'],
      ['short ContentDeveloper', ['ContentDeveloper'], 'Instructor'],
      ['non-credit learner sub-role', [`${SUB}Learner#NonCreditLearner`], 'Learner'],
      ['membership Mentor (an observer)', [`${M}Mentor`], 'Mentor'],
      ['short Mentor', ['Mentor'], 'Mentor'],
      ['mentor sub-role', [`${SUB}Mentor#Advisor`], 'Mentor'],
      [
        'a learner who teaches elsewhere (Canvas)',
        [`${M}Learner`, `${INST}Instructor`, `${SYS}User`],
        'Learner',
      ],
      ['a learner with institution Faculty', [`${M}Learner`, `${INST}Faculty`], 'Learner'],
      ['institution Instructor alone', [`${INST}Instructor`], 'None'],
      ['institution Administrator alone (unenrolled admin)', [`${INST}Administrator`], 'None'],
      ['system Administrator alone', [`${SYS}Administrator`, `${SYS}SysAdmin`], 'None'],
      [
        'a mentor who is an institution administrator',
        [`${M}Mentor`, `${INST}Administrator`],
        'Mentor',
      ],
      ['Student View: Learner and TestUser', [`${M}Learner`, TEST_USER], 'Learner'],
      ['TestUser alone', [TEST_USER], 'None'],
      ['an instructor who is also a test user', [`${M}Instructor`, TEST_USER], 'Instructor'],
      ['instructor and learner at once', [`${M}Learner`, `${M}Instructor`], 'Instructor'],
      ['learner and mentor at once', [`${M}Mentor`, `${M}Learner`], 'Learner'],
      ['Member, Manager, Officer', [`${M}Member`, `${M}Manager`, `${M}Officer`], 'None'],
      ['an unknown role', ['http://example.edu/roles#Wizard'], 'None'],
      ['an unknown role ending like a course role', ['http://example.edu/x#Instructor'], 'None'],
      ['an unknown membership role', [`${M}Wizard`], 'None'],
      ['no roles', [], 'None'],
      ['an empty string', [''], 'None'],
      ['an institution role spelled like a sub-role', [`${INST}Learner#Instructor`], 'None'],
    ];
    for (const [label, roles, expected] of cases) {
      it(`${label}: ${expected}`, () => {
        expect(courseRole(roles)).to.equal(expected);
      });
    }

    it('only instructors and teaching assistants are course staff', () => {
      const staff = (['Instructor', 'TeachingAssistant', 'Learner', 'Mentor', 'None'] as const)
        .filter(isStaffRole)
        .sort();
      expect(staff).to.deep.equal(['Instructor', 'TeachingAssistant']);
    });
  });

  describe('what a launch may see', () => {
    let ctx: TestContext;
    let t: TenantFixture;
    let platform: TestPlatform;
    const courseUid = uniqueId('SIS-ROLES');
    const uid = { l1: uniqueId('P-L1'), l2: uniqueId('P-L2') };
    const userId: Record<'l1' | 'l2', number> = { l1: 0, l2: 0 };

    before(async () => {
      ctx = await sharedContext();
      t = await tenantWithClient(ctx);
      platform = await startTestPlatform(ctx, t.tenantId);
      await journey(ctx, t.token, 'gradableItemsAPI', [
        { courseId: courseUid, name: 'Quiz', itemType: 'TEST', points: 10 },
      ]);
      await journey(ctx, t.token, 'gradeValueAPI', [
        { courseId: courseUid, userId: uid.l1, name: 'Quiz', value: '7' },
        { courseId: courseUid, userId: uid.l2, name: 'Quiz', value: '9' },
      ]);
      for (const k of ['l1', 'l2'] as const) {
        userId[k] = (await ctx.db('users').where({ batch_uid: uid[k] }).first('id')).id;
      }
      // Each learner launches once, which links their platform id (sub) to them.
      for (const k of ['l1', 'l2'] as const) {
        const res = await as(k, [`${M}Learner`], { personSourcedId: uid[k] });
        expect(res.status, res.text).to.equal(303);
      }
    });
    after(async () => {
      await platform.close();
    });

    /** Launches into the course as `sub` with these roles and extra claims. */
    const as = async (
      sub: string,
      roles: string[],
      extra: { personSourcedId?: string; claims?: Record<string, unknown> } = {},
    ) => {
      const l = await login(ctx, platform);
      const claims = launchClaims(platform, l.nonce, {
        sub,
        name: `Person ${sub}`,
        [`${LTI}roles`]: roles,
        [`${LTI}context`]: { id: `ctx-${courseUid}`, title: 'Roles 101' },
        [`${LTI}lis`]: {
          course_offering_sourcedid: courseUid,
          ...(extra.personSourcedId ? { person_sourcedid: extra.personSourcedId } : {}),
        },
        ...extra.claims,
      });
      return launch(ctx, { id_token: sign(platform, claims), state: l.state }, l.cookie);
    };

    /** The course page after a launch, and which learners' grade links it shows. */
    const page = async (res: { status: number; text: string; headers: Record<string, string> }) => {
      expect(res.status, res.text).to.equal(303);
      const location = res.headers.location!;
      const html = (await ctx.http.get(location).expect(200)).text;
      const shown = (['l1', 'l2'] as const).filter((k) => html.includes(`user=${userId[k]}"`));
      return { html, shown, session: new URL(location, 'http://x').searchParams.get('session')! };
    };

    it('shows a learner who teaches elsewhere (institution Instructor) only their own grades', async () => {
      const res = await as('l1', [`${M}Learner`, `${INST}Instructor`, `${SYS}User`], {
        personSourcedId: uid.l1,
      });
      const p = await page(res);
      expect(p.html).not.to.include('course staff');
      expect(p.shown).to.deep.equal(['l1']);
      const enrollment = await ctx.db('enrollments').where({ user_id: userId.l1 }).first('role');
      expect(enrollment.role).to.equal('Learner');
      const pull = await ctx.http.post('/lti/app/pull').type('form').send({ session: p.session });
      expect(pull.status).to.equal(403);
      const other = await ctx.http
        .get('/lti/app/grade')
        .query({ session: p.session, column: 1, user: userId.l2 });
      expect(other.status).to.equal(403);
    });

    it('gives an unenrolled institution administrator no rights and no grades', async () => {
      const p = await page(await as('admin-1', [`${INST}Administrator`, `${SYS}SysAdmin`]));
      expect(p.html).not.to.include('course staff');
      expect(p.shown).to.deep.equal([]);
      const pull = await ctx.http.post('/lti/app/pull').type('form').send({ session: p.session });
      expect(pull.status).to.equal(403);
    });

    it('shows a mentor no grades when the launch names no mentees', async () => {
      const p = await page(await as('mentor-1', [`${M}Mentor`]));
      expect(p.html).not.to.include('course staff');
      expect(p.shown).to.deep.equal([]);
      const user = await ctx
        .db('external_ids as e')
        .join('enrollments as en', 'en.user_id', 'e.local_id')
        .where({ 'e.kind': 'user', 'e.external_id': 'mentor-1', 'e.tenant_id': t.tenantId })
        .first('en.role');
      expect(user.role).to.equal('Mentor');
    });

    it('shows a mentor only the learners named in role_scope_mentor, on the page and in a grade history', async () => {
      const p = await page(
        await as('mentor-2', [`${M}Mentor`], { claims: { [MENTOR_SCOPE]: ['l2', 'stranger'] } }),
      );
      expect(p.shown).to.deep.equal(['l2']);
      expect(p.html).to.include('>9<');
      expect(p.html).not.to.include('>7<');
      const column = await ctx
        .db('grade_columns as c')
        .join('courses as k', 'k.id', 'c.course_id')
        .where({ 'k.batch_uid': courseUid, 'c.name': 'Quiz' })
        .first('c.id');
      await ctx.http
        .get('/lti/app/grade')
        .query({ session: p.session, column: column.id, user: userId.l2 })
        .expect(200);
      const refused = await ctx.http
        .get('/lti/app/grade')
        .query({ session: p.session, column: column.id, user: userId.l1 });
      expect(refused.status).to.equal(403);
    });

    it('does not count a mentor as a learner of the course', async () => {
      await page(await as('mentor-3', [`${M}Mentor`], { claims: { [MENTOR_SCOPE]: ['l1'] } }));
      const staff = await page(await as('teacher-1', [`${M}Instructor`]));
      expect(staff.html).to.include('course staff');
      expect(staff.shown).to.have.members(['l1', 'l2']);
      expect(staff.html).not.to.include('Person mentor-3');
    });
  });
});
