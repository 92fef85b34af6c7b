import { DateTime } from 'luxon';
import type { AppDeps } from '../deps.js';
import { bearerAuth } from '../http/auth.js';
import { ValidationError } from '../http/errors.js';
import type { ApiDocs } from '../http/openapi.js';
import { canvasPage, setCanvasLinks, type CanvasPage } from '../http/pagination.js';
import { requestBaseUrl, Surface, type AppContext, type ErrorRenderer } from '../http/surface.js';
import { z } from '../http/validation.js';
import {
  daySchema,
  graderSchema,
  submissionHistorySchema,
  submissionVersionSchema,
} from './presenters.js';
import {
  dayGraders,
  daySubmissions,
  feed,
  listDays,
  resolveCourse,
  resolveUser,
  type HistoryCourse,
  type Paged,
} from './service.js';

/** Canvas's error bodies: {"errors": [{"message": ...}]}, with its 401 and 403 wording. */
export const renderCanvasError: ErrorRenderer = (ctx, error) => {
  ctx.status = error.status;
  if (error.status === 401) {
    ctx.body =
      error.code === 'token_missing'
        ? { status: 'unauthenticated', errors: [{ message: 'user authorization required' }] }
        : { errors: [{ message: 'Invalid access token.' }] };
  } else if (error.status === 403) {
    ctx.body = {
      status: 'unauthorized',
      errors: [{ message: 'user not authorized to perform that action' }],
    };
  } else if (error instanceof ValidationError) {
    ctx.body = {
      errors: error.issues.map((i) => ({ message: i.path ? `${i.path} ${i.message}` : i.message })),
    };
  } else {
    ctx.body = { errors: [{ message: error.message }] };
  }
};

/** An integer id, or Canvas's `<prefix>:<SIS id>` form. */
function idOrSis(name: string, prefix: string) {
  return z
    .string()
    .transform((value, issue): { id: number } | { sisId: string } => {
      if (/^\d{1,9}$/.test(value) && Number(value) > 0) return { id: Number(value) };
      if (value.startsWith(`${prefix}:`) && value.length > prefix.length + 1)
        return { sisId: value.slice(prefix.length + 1) };
      issue.addIssue({
        code: 'custom',
        message: `must be an integer id or ${prefix}:<SIS id>`,
        path: [],
      });
      return z.NEVER;
    })
    .describe(`${name}: an integer id or ${prefix}:<SIS id>`);
}

const integer = (min: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'must be an integer')
    .transform(Number)
    .refine((n) => n >= min, `must be at least ${min}`);

const date = z
  .string()
  .refine(
    (v) => /^\d{4}-\d{2}-\d{2}$/.test(v) && DateTime.fromISO(v).isValid,
    'must be a date in YYYY-MM-DD format',
  );

const pageQuery = {
  page: z.string().optional().describe('page number, from 1'),
  per_page: z.string().optional().describe('items per page, 1 to 100 (default 10)'),
};

const courseParams = z.object({ course_id: idOrSis('course_id', 'sis_course_id') });
const dayParams = courseParams.extend({ date });
const submissionParams = dayParams.extend({ grader_id: integer(0), assignment_id: integer(1) });
const feedQuery = z.object({
  ...pageQuery,
  assignment_id: integer(1).optional(),
  user_id: idOrSis('user_id', 'sis_user_id').optional(),
  ascending: z
    .enum(['true', 'false', '1', '0'], { error: 'must be true or false' })
    .optional()
    .transform((v) => v === 'true' || v === '1'),
});
const listQuery = z.object(pageQuery);

/** Canvas-compatible Gradebook History API under /api/v1/courses/:course_id/gradebook_history. */
export function historySurface(deps: AppDeps, docs: ApiDocs): Surface {
  const surface = new Surface(
    {
      name: 'history',
      prefix: '/api/v1/courses/:course_id/gradebook_history',
      tag: 'Gradebook History',
      description:
        "Canvas's Gradebook History API over every grade version from every source. Scope: history. Days are bucketed in the tenant's time zone; lists use Canvas pagination (page, per_page, Link header).",
      renderError: renderCanvasError,
      auth: bearerAuth({ db: deps.db, tokens: deps.tokens, scope: 'history' }),
      security: [{ bearer: [] }],
    },
    docs,
  );
  /** Answers with one page of a course's list: the items, and Canvas's Link header. */
  const respondPage = async <T>(
    ctx: AppContext,
    ref: { id: number } | { sisId: string },
    read: (course: HistoryCourse, page: CanvasPage) => Promise<Paged<T>>,
  ): Promise<void> => {
    const course = await resolveCourse(deps.db, ctx.state.principal!.tenantId, ref);
    const page = canvasPage(ctx.query);
    const result = await read(course, page);
    setCanvasLinks(ctx, requestBaseUrl(deps.config, ctx), page, result.total);
    ctx.body = result.items;
  };
  const responses = (schema: z.ZodType, what: string) => ({
    200: { description: what, schema },
    400: { description: 'A malformed id or date' },
    401: { description: 'Missing or invalid token' },
    403: { description: 'The token lacks the history scope' },
    404: { description: 'No such course (or assignment, or user) for this tenant' },
  });

  // Registered before /:date so "days" and "feed" are not read as dates.
  surface.route({
    method: 'get',
    path: '/days',
    operationId: 'historyDays',
    summary: 'Days in gradebook history for this course',
    params: courseParams,
    query: listQuery,
    responses: responses(z.array(daySchema), 'Days, newest first'),
    handler: (ctx, { params }) =>
      respondPage(ctx, params.course_id, (course, page) => listDays(deps.db, course, page)),
  });
  surface.route({
    method: 'get',
    path: '/feed',
    operationId: 'historyFeed',
    summary: 'List uncollated submission versions',
    params: courseParams,
    query: feedQuery,
    responses: responses(z.array(submissionVersionSchema), 'Submission versions'),
    handler: (ctx, { params, query }) =>
      respondPage(ctx, params.course_id, async (course, page) => {
        const userId = query.user_id
          ? await resolveUser(deps.db, course.tenantId, query.user_id)
          : undefined;
        return feed(
          deps.db,
          course,
          { assignmentId: query.assignment_id, userId, ascending: query.ascending },
          page,
        );
      }),
  });
  surface.route({
    method: 'get',
    path: '/:date',
    operationId: 'historyDay',
    summary: 'Details for a given date in gradebook history for this course',
    params: dayParams,
    query: listQuery,
    responses: responses(z.array(graderSchema), 'Graders who worked on the day'),
    handler: (ctx, { params }) =>
      respondPage(ctx, params.course_id, (course, page) =>
        dayGraders(deps.db, course, params.date, page),
      ),
  });
  surface.route({
    method: 'get',
    path: '/:date/graders/:grader_id/assignments/:assignment_id/submissions',
    operationId: 'historySubmissions',
    summary: 'Lists submissions (a grader, an assignment, a day)',
    description: 'grader_id 0 selects the versions no person graded ("Graded on submission").',
    params: submissionParams,
    query: listQuery,
    responses: responses(z.array(submissionHistorySchema), 'Submission histories'),
    handler: (ctx, { params }) =>
      respondPage(ctx, params.course_id, (course, page) =>
        daySubmissions(deps.db, course, params.date, params.grader_id, params.assignment_id, page),
      ),
  });
  return surface;
}
