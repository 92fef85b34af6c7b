import { DateTime } from 'luxon';
import type { AppDeps } from '../deps.js';
import { bearerAuth } from '../auth/bearer.js';
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

/** The largest id a PostgreSQL integer column holds; every id here is one. */
const MAX_ID = 2_147_483_647;
/** The longest SIS id (batch_uid) the store keeps. */
const MAX_SIS_ID = 333;
/**
 * The longest request URL (path and the query string as the Link header
 * writes it), so the five links of a page stay near 8 KB, well under the
 * 16 KB of headers an HTTP client reads.
 */
const MAX_URL = 1536;

/** An integer id up to MAX_ID, or Canvas's `<prefix>:<SIS id>` form. */
function idOrSis(name: string, prefix: string) {
  return z
    .string()
    .max(prefix.length + 1 + MAX_SIS_ID, `must have a SIS id of at most ${MAX_SIS_ID} characters`)
    .transform((value, issue): { id: number } | { sisId: string } => {
      const fail = (message: string) => {
        issue.addIssue({ code: 'custom', message, path: [] });
        return z.NEVER;
      };
      if (/^\d+$/.test(value) && Number(value) > 0)
        return Number(value) <= MAX_ID ? { id: Number(value) } : fail(`must be at most ${MAX_ID}`);
      if (value.startsWith(`${prefix}:`) && value.length > prefix.length + 1)
        return { sisId: value.slice(prefix.length + 1) };
      return fail(`must be an integer id or ${prefix}:<SIS id>`);
    })
    .describe(
      `${name}: an integer id (1 to ${MAX_ID}) or ${prefix}:<SIS id> (a SIS id of at most ${MAX_SIS_ID} characters)`,
    );
}

const integer = (min: number) =>
  z
    .string()
    .regex(/^\d+$/, { message: 'must be an integer', abort: true })
    .max(10, `must be at most ${MAX_ID}`)
    .transform(Number)
    .refine((n) => n >= min, `must be at least ${min}`)
    .refine((n) => n <= MAX_ID, `must be at most ${MAX_ID}`)
    .describe(`an integer id, ${min} to ${MAX_ID}`);

const DATE_MESSAGE = 'must be a date in YYYY-MM-DD format';
const date = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, { message: DATE_MESSAGE, abort: true })
  .refine((v) => v >= '0001-01-01' && DateTime.fromISO(v).isValid, DATE_MESSAGE)
  .describe('a date, YYYY-MM-DD, from 0001-01-01 to 9999-12-31');

const pageQuery = {
  page: z.string().max(9).optional().describe('page number, from 1'),
  per_page: z.string().max(9).optional().describe('items per page, 1 to 100 (default 10)'),
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

/**
 * Refuses a URL whose links would be too long: each of the Link header's
 * rels repeats the path and the other query parameters (as Canvas does).
 */
function refuseLongUrl(ctx: AppContext): void {
  const others = new URLSearchParams(ctx.querystring);
  others.delete('page');
  others.delete('per_page');
  if (ctx.path.length + others.toString().length > MAX_URL) {
    throw new ValidationError([
      {
        path: '',
        message: `the request URL (path and query string, percent-encoded) must be at most ${MAX_URL} characters`,
      },
    ]);
  }
}

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
    refuseLongUrl(ctx);
    const course = await resolveCourse(deps.db, ctx.state.principal!.tenantId, ref);
    const page = canvasPage(ctx.query);
    const result = await read(course, page);
    setCanvasLinks(ctx, requestBaseUrl(deps.config, ctx), page, result.total);
    ctx.body = result.items;
  };
  const responses = (schema: z.ZodType, what: string) => ({
    200: { description: what, schema },
    400: {
      description: `A malformed or out-of-range id, date or page, or a URL over ${MAX_URL} characters`,
    },
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
