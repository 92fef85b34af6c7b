import { DB_INT_MAX, inDateRange, text, z } from '../http/validation.js';

/**
 * Item schemas of the Grades Journey v2 incoming REST API, field for field
 * from its specification: required fields, JSON types and maximum lengths.
 * Unknown fields are refused so a misspelt field is reported, not dropped.
 */
const required = (max: number) => text().min(1).max(max);
const optional = (max: number) => text().max(max).nullish();
const flag = z.boolean().nullish();

const ISO_DATE = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** A date or date-time; "" and null mean none. */
const date = z
  .string()
  .nullish()
  .refine((v) => v == null || v === '' || (ISO_DATE.test(v) && inDateRange(new Date(v))), {
    message:
      'must be an ISO 8601 date in years 1 to 9999, such as 2026-09-01 or 2026-09-01T23:59:00Z',
  })
  .transform((v) => (v == null || v === '' ? null : new Date(v).toISOString()));

/** "extract" is documented as a String holding true/false; accept a JSON boolean too. */
const extract = z
  .union([z.boolean(), text().max(333)])
  .nullish()
  .refine((v) => v == null || typeof v === 'boolean' || /^(true|false)$/i.test(v), {
    message: 'must be true or false',
  })
  .transform((v) => (v == null ? null : typeof v === 'boolean' ? v : v.toLowerCase() === 'true'));

export const ITEM_TYPES = [
  'ASSIGNMENT',
  'TEST',
  'SURVEY',
  'DISCUSSION_BOARD',
  'WIKI',
  'BLOG',
  'JOURNAL',
  'SELF_AND_PEER_TEST',
  'MANUAL_COLUMN',
  'WEIGHTED_COLUMN',
  'TOTAL_COLUMN',
] as const;

export const gradeSchemaItem = z.strictObject({
  title: required(333),
  symbols: required(2000),
  optionalData: optional(2000),
});

export const gradableItem = z
  .strictObject({
    courseId: required(256),
    name: required(333),
    itemType: z.enum(ITEM_TYPES),
    instructions: optional(2000),
    anonymous: flag,
    group: flag,
    contentAreaName: optional(255),
    available: flag,
    color: optional(10),
    attempts: z
      .number()
      .int()
      .min(-1)
      .max(DB_INT_MAX)
      .refine((n) => n !== 0, { message: 'must be -1 (unlimited) or at least 1' })
      .nullish(),
    tracked: flag,
    startDate: date,
    endDate: date,
    dueDate: date,
    points: z.number().min(0).max(1e9).nullish(),
    gradeSchema: optional(333),
    /** The specification's table spells it in lower case; both spellings are accepted. */
    gradeschema: optional(333),
    sequenceNum: z.number().int().min(0).max(DB_INT_MAX).nullish(),
    extract,
    mapping: optional(333),
    optionalData: optional(2000),
  })
  .refine(
    (v) => !(v.gradeSchema != null && v.gradeschema != null && v.gradeSchema !== v.gradeschema),
    {
      message: 'gradeSchema and gradeschema disagree',
      path: ['gradeSchema'],
    },
  );

export const columnRef = z.strictObject({
  courseId: required(333),
  name: required(333),
});

export const userMetadataItem = z.strictObject({
  courseId: required(333),
  userId: required(333),
  optionalData: optional(2000),
});

export const gradeValueItem = z.strictObject({
  courseId: required(333),
  userId: required(333),
  name: required(333),
  value: required(333),
});

export type GradeSchemaItem = z.output<typeof gradeSchemaItem>;
export type GradableItem = z.output<typeof gradableItem>;
export type ColumnRef = z.output<typeof columnRef>;
export type UserMetadataItem = z.output<typeof userMetadataItem>;
export type GradeValueItem = z.output<typeof gradeValueItem>;

export const itemResult = z.object({
  courseId: z.string(),
  name: z.string(),
  status: z.enum(['OK', 'ERROR']),
  message: z.string(),
});
export type ItemResult = z.output<typeof itemResult>;
