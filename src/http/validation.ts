import { z } from 'zod';
import { ValidationError, type ValidationIssue } from './errors.js';
import { textProblem } from '../db/text.js';

const article = (type: string) => (/^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`);

/**
 * Messages a client can act on: "title is required", "points must be a
 * number", "name must be at most 333 characters". Set once for every schema.
 */
z.config({
  customError: (issue) => {
    if (
      issue.input === undefined &&
      (issue.code === 'invalid_type' || issue.code === 'invalid_value')
    ) {
      return 'is required';
    }
    switch (issue.code) {
      case 'invalid_type':
        if (issue.expected === 'int') return 'must be an integer';
        return `must be ${article(issue.expected)}`;
      case 'too_big':
        if (issue.origin === 'string') return `must be at most ${issue.maximum} characters`;
        if (issue.origin === 'array') return `must have at most ${issue.maximum} items`;
        return `must be at most ${issue.maximum}`;
      case 'too_small':
        if (issue.origin === 'string')
          return issue.minimum === 1
            ? 'must not be empty'
            : `must be at least ${issue.minimum} characters`;
        if (issue.origin === 'array') return `must have at least ${issue.minimum} items`;
        return `must be at least ${issue.minimum}`;
      case 'invalid_value':
        return `must be one of ${issue.values.map((v) => String(v)).join(', ')}`;
      case 'invalid_format':
        return `must be a valid ${issue.format}`;
      case 'unrecognized_keys':
        return 'is not a known field';
      default:
        return undefined;
    }
  },
});

export function formatIssues(error: z.ZodError): ValidationIssue[] {
  return error.issues.flatMap((issue) => {
    const base = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((k) => ({
        path: base ? `${base}.${k}` : k,
        message: 'is not a known field',
      }));
    }
    return [{ path: base, message: issue.message }];
  });
}

export function describeIssues(issues: ValidationIssue[]): string {
  return issues.map((i) => (i.path ? `${i.path} ${i.message}` : i.message)).join('; ');
}

/** Parses input with a schema or throws a 400 ValidationError naming every problem. */
export function parseOrThrow<T extends z.ZodType>(
  schema: T,
  input: unknown,
  where: string,
): z.output<T> {
  const result = schema.safeParse(input);
  if (!result.success) throw new ValidationError(formatIssues(result.error), where);
  return result.data;
}

/** The largest value of an integer column (PostgreSQL's integer). */
export const DB_INT_MAX = 2_147_483_647;

/** A string both databases store as sent: no NUL characters, no lone surrogates. */
export function text() {
  return z.string().superRefine((value, ctx) => {
    const problem = textProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
}

/** Whether a date falls in years 1 to 9999 (UTC), the range every surface and both databases share. */
export function inDateRange(date: Date): boolean {
  const year = date.getUTCFullYear();
  return !Number.isNaN(date.getTime()) && year >= 1 && year <= 9999;
}

export { z };
