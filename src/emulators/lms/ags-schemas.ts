import { z } from 'zod';
import { badRequest } from './errors.js';
import { isTimestamp } from './timestamps.js';
import { ACTIVITY_PROGRESS, GRADING_PROGRESS } from './vocabulary.js';

const isoDateTime = z
  .string({ error: 'must be a string' })
  .refine(isTimestamp, 'must be an ISO 8601 date-time with a UTC offset');
const optionalString = z.string({ error: 'must be a string' }).optional();

/** application/vnd.ims.lis.v2.lineitem+json (AGS 3.2). */
export const lineItemSchema = z.object({
  id: optionalString,
  label: z
    .string({ error: 'is required' })
    .refine((label) => label.trim() !== '', 'must not be empty'),
  scoreMaximum: z.number({ error: 'is required and must be a number' }).gt(0, 'must be > 0'),
  resourceId: optionalString,
  tag: optionalString,
  resourceLinkId: optionalString,
  startDateTime: isoDateTime.optional(),
  endDateTime: isoDateTime.optional(),
  gradesReleased: z.boolean({ error: 'must be a boolean' }).optional(),
});
export type LineItemBody = z.output<typeof lineItemSchema>;

/** application/vnd.ims.lis.v1.score+json (AGS 3.4); extension properties pass through. */
export const scoreSchema = z
  .looseObject({
    userId: z.string({ error: 'is required' }).min(1, 'must not be empty'),
    scoreGiven: z.number({ error: 'must be a number' }).min(0, 'must be >= 0').optional(),
    scoreMaximum: z.number({ error: 'must be a number' }).gt(0, 'must be > 0').optional(),
    comment: optionalString,
    timestamp: isoDateTime,
    activityProgress: z.enum(ACTIVITY_PROGRESS, {
      error: `must be one of ${ACTIVITY_PROGRESS.join(', ')}`,
    }),
    gradingProgress: z.enum(GRADING_PROGRESS, {
      error: `must be one of ${GRADING_PROGRESS.join(', ')}`,
    }),
    submission: z
      .object({ startedAt: isoDateTime.optional(), submittedAt: isoDateTime.optional() })
      .optional(),
  })
  .refine((s) => s.scoreGiven === undefined || s.scoreMaximum !== undefined, {
    message: 'is required when scoreGiven is present',
    path: ['scoreMaximum'],
  });

/** Parses a body or throws a 400 naming every problem. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest('The request body must be a JSON object.');
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'} ${i.message}`);
    throw badRequest(`Invalid request body: ${problems.join('; ')}.`);
  }
  return parsed.data;
}
