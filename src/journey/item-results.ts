import type { z } from 'zod';
import { describeIssues, formatIssues } from '../http/validation.js';
import type { ItemResult } from './schemas.js';

export interface Prepared<T> {
  index: number;
  value: T;
}

/** An item's result: OK, or ERROR, with the message it answers. */
export const ok = (results: ItemResult[], index: number, message: string) => {
  results[index] = { ...results[index]!, status: 'OK', message };
};
export const fail = (results: ItemResult[], index: number, message: string) => {
  results[index] = { ...results[index]!, status: 'ERROR', message };
};

/**
 * Validates every item of a batch against its schema. Items that fail get
 * their ERROR result now; the rest go on to the endpoint's own rules.
 */
export function prepare<S extends z.ZodType>(
  schema: S,
  items: unknown[],
  echo: (item: Record<string, unknown>) => { courseId: unknown; name: unknown },
): { results: ItemResult[]; valid: Array<Prepared<z.output<S>>> } {
  const results: ItemResult[] = [];
  const valid: Array<Prepared<z.output<S>>> = [];
  items.forEach((item, index) => {
    const isObject = typeof item === 'object' && item !== null && !Array.isArray(item);
    const shown = isObject ? echo(item as Record<string, unknown>) : { courseId: '', name: '' };
    results.push({
      courseId: typeof shown.courseId === 'string' ? shown.courseId : '',
      name: typeof shown.name === 'string' ? shown.name : '',
      status: 'OK',
      message: '',
    });
    if (!isObject) {
      fail(results, index, 'item must be a JSON object');
      return;
    }
    const parsed = schema.safeParse(item);
    if (!parsed.success) {
      fail(results, index, describeIssues(formatIssues(parsed.error)));
      return;
    }
    valid.push({ index, value: parsed.data });
  });
  return { results, valid };
}
