import { z } from '../http/validation.js';

/**
 * The Progress API's request and response schemas, property for property
 * from progress-gradebooks.openapi.json. Requests, their Origin and their
 * QueryFilter refuse unknown properties, as the contract's
 * additionalProperties: false says.
 */
const uuid = z.guid();
const dateTime = z.iso.datetime({ offset: true });
const nullable = <T extends z.ZodType>(schema: T) => schema.nullish();

/** The first and last instants a request may name: years 1 to 9999, UTC, as both databases store them. */
const FIRST_INSTANT = '0001-01-01T00:00:00Z';
const LAST_INSTANT = '9999-12-31T23:59:59.999Z';
/** A date-time in a request: ISO 8601 with an offset, within years 1 to 9999 once in UTC. */
const requestDateTime = dateTime
  .refine((value) => {
    const at = Date.parse(value);
    return at >= Date.parse(FIRST_INSTANT) && at <= Date.parse(LAST_INSTANT);
  }, `must be between ${FIRST_INSTANT} and ${LAST_INSTANT}`)
  .describe(`a date-time with an offset, from ${FIRST_INSTANT} to ${LAST_INSTANT}`);

/** The longest text a criterion may search for: the longest text the gradebooks hold. */
export const TEXT_MAX = 333;
const text = z.string().max(TEXT_MAX);

/** Text properties `texts` may search; `*` searches them all. */
export const TEXT_FIELDS = [
  'gradebookTitle',
  'gradebookType',
  'lastChangeType',
  'lastChangeUser',
  'reference',
  'achievementTitle',
  'classTitle',
  'classInstructors',
] as const;

/**
 * `texts`: a map of text property (or `*`) to the text it must contain. A
 * property named `__proto__` is refused like any other unknown one (a record
 * would otherwise drop it without a word).
 */
const textsSchema = z.preprocess(
  (value, ctx) => {
    if (value !== null && typeof value === 'object' && Object.hasOwn(value, '__proto__'))
      ctx.addIssue({
        code: 'unrecognized_keys',
        keys: ['__proto__'],
        input: value as Record<string, unknown>,
      });
    return value;
  },
  z.partialRecord(z.enum(['*', ...TEXT_FIELDS]), text.nullable()),
);

export const originSchema = z.strictObject({
  when: requestDateTime.optional(),
  organization: uuid.optional(),
  user: uuid.optional(),
  proxy: nullable(uuid),
  description: nullable(z.string().max(1000)),
  reason: nullable(z.string().max(1000)),
  source: nullable(z.string().max(1000)),
});
export type Origin = z.output<typeof originSchema>;

export const queryFilterSchema = z.strictObject({
  page: z.int32().optional(),
  pageSize: z.int32().optional(),
  sort: nullable(z.string().max(1000)),
  excludes: nullable(z.string().max(1000)),
  includes: nullable(z.string().max(1000)),
  format: nullable(z.string().max(16)),
});
export type QueryFilter = z.output<typeof queryFilterSchema>;

/** The criteria every query operation shares (CollectGradebooks, CountGradebooks and SearchGradebooks have the same properties). */
export const criteriaShape = {
  identifier: nullable(uuid),
  origin: originSchema.optional(),
  filter: queryFilterSchema.optional(),
  texts: nullable(textsSchema),
  achievementId: nullable(uuid),
  classId: nullable(uuid),
  classInstructorId: nullable(uuid),
  frameworkId: nullable(uuid),
  organizationId: nullable(uuid),
  periodId: nullable(uuid),
  isLocked: nullable(z.boolean()),
  classTitle: nullable(text),
  gradebookTitle: nullable(text),
  gradebookType: nullable(text),
  lastChangeType: nullable(text),
  lastChangeUser: nullable(text),
  reference: nullable(text),
  classStartedSince: nullable(requestDateTime),
  classStartedBefore: nullable(requestDateTime),
  gradebookCreatedSince: nullable(requestDateTime),
  gradebookCreatedBefore: nullable(requestDateTime),
  lastChangeSince: nullable(requestDateTime),
  lastChangeBefore: nullable(requestDateTime),
};
export const criteriaSchema = z.strictObject(criteriaShape);
export type Criteria = z.output<typeof criteriaSchema>;

export const gradebookModelSchema = z.strictObject({
  achievementId: uuid.nullable(),
  eventId: uuid.nullable(),
  frameworkId: uuid.nullable(),
  gradebookId: uuid,
  organizationId: uuid,
  periodId: uuid.nullable(),
  isLocked: z.boolean(),
  gradebookTitle: z.string().nullable(),
  gradebookType: z.string().nullable(),
  lastChangeType: z.string().nullable(),
  lastChangeUser: z.string().nullable(),
  reference: z.string().nullable(),
  gradebookCreated: dateTime,
  lastChangeTime: dateTime,
  achievementTitle: z.string().nullable(),
  classInstructors: z.string().nullable(),
  classScheduledStartDate: z.string().nullable(),
  classScheduledEndDate: z.string().nullable(),
  classTitle: z.string().nullable(),
});
export type GradebookModel = z.output<typeof gradebookModelSchema>;

export const gradebookMatchSchema = z.strictObject({
  gradebookId: uuid,
  gradebookTitle: z.string().nullable(),
  gradebookCreated: dateTime,
  gradebookEnrollmentCount: z.int32(),
  classId: uuid.nullable(),
  classTitle: z.string().nullable(),
  classStarted: dateTime.nullable(),
  classEnded: dateTime.nullable(),
  achievementId: uuid.nullable(),
  achievementTitle: z.string().nullable(),
  achievementCountGranted: z.int32(),
  isLocked: z.boolean(),
});
export type GradebookMatch = z.output<typeof gradebookMatchSchema>;

export const countResultSchema = z.strictObject({
  count: z.int32(),
  summary: z.string().nullable(),
});

export const exportStartedSchema = z.strictObject({
  downloadUrl: z.string().nullable(),
  exportFormat: z.string().nullable(),
  exportKey: z.string().nullable(),
  expiry: dateTime,
});

export const problemDetailsSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  instance: z.string(),
});

export const MODEL_FIELDS = Object.keys(gradebookModelSchema.shape) as Array<keyof GradebookModel>;
export const MATCH_FIELDS = Object.keys(gradebookMatchSchema.shape) as Array<keyof GradebookMatch>;
