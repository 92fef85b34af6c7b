import { textProblem } from '../db/text.js';
import { ValidationError, type ValidationIssue } from './errors.js';

/**
 * One input rule for every surface, checked before a route's schema and
 * before any query: no text with NUL characters or lone UTF-16 surrogates
 * (neither database stores them faithfully: PostgreSQL refuses NUL, and a
 * lone surrogate cannot be written as UTF-8), no key that names an object's
 * prototype machinery, and no JSON nested deeper than MAX_DEPTH.
 */
export const MAX_DEPTH = 32;
/** Keys that mean something to JavaScript objects rather than to any of our APIs. */
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** A report names at most this many problems. */
const MAX_ISSUES = 20;

export interface InputCheckOptions {
  /** Leave the content of texts to the route's own (per-item) validation; check only shape. */
  shapeOnly?: boolean;
}

const join = (base: string, key: string | number) =>
  base === '' ? String(key) : `${base}.${String(key)}`;

/** The problems of one parsed input (query, path parameters or body), as validation issues. */
export function inputIssues(
  value: unknown,
  where: string,
  options: InputCheckOptions = {},
): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const stack: Array<{ value: unknown; path: string; depth: number }> = [
    { value, path: '', depth: 0 },
  ];
  while (stack.length > 0 && issues.length < MAX_ISSUES) {
    const item = stack.pop()!;
    const at = item.path === '' ? where : item.path;
    if (typeof item.value === 'string') {
      const problem = options.shapeOnly ? null : textProblem(item.value);
      if (problem) issues.push({ path: at, message: problem });
      continue;
    }
    if (item.value === null || typeof item.value !== 'object') continue;
    if (item.depth >= MAX_DEPTH) {
      issues.push({ path: at, message: `is nested deeper than ${MAX_DEPTH} levels` });
      continue;
    }
    const entries: Array<[string | number, unknown]> = Array.isArray(item.value)
      ? item.value.map((v, i) => [i, v])
      : Object.entries(item.value);
    for (const [key, child] of entries) {
      if (typeof key === 'string') {
        if (PROTOTYPE_KEYS.has(key)) {
          issues.push({ path: join(item.path, key), message: 'is not an accepted field name' });
          continue;
        }
        const problem = options.shapeOnly ? null : textProblem(key);
        if (problem) {
          issues.push({ path: join(item.path, key), message: `field name ${problem}` });
          continue;
        }
      }
      stack.push({ value: child, path: join(item.path, key), depth: item.depth + 1 });
    }
  }
  return issues;
}

/** Throws the surface's 400 when an input breaks the rule. */
export function assertCleanInput(
  inputs: Array<{ value: unknown; where: string; options?: InputCheckOptions }>,
): void {
  for (const input of inputs) {
    const issues = inputIssues(input.value, input.where, input.options);
    if (issues.length > 0) throw new ValidationError(issues, input.where);
  }
}
