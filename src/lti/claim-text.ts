import { storableText, textProblem } from '../db/text.js';

/**
 * Text that comes from a platform (launch claims, Names and Roles members,
 * AGS line items) before it reaches a column. Identifiers must be exact, so
 * a malformed or over-long one is refused; display texts are cleaned and cut
 * to their column. NUL bytes are refused by PostgreSQL in text (22021) and
 * lone UTF-16 surrogates have no UTF-8 form, so neither is ever stored.
 */

/** LTI core: sub, context, resource link and deployment ids are at most 255 characters. */
export const ID_MAX = 255;

/** The columns display texts go to (users.name, users.email, courses.title, grade_columns.name). */
export const TEXT_MAX = { name: 255, email: 320, title: 333 } as const;

/** Why an identifier cannot be used, or null when it can. */
export function identifierProblem(value: string, max = ID_MAX): string | null {
  if (value.length > max) return `is longer than ${max} characters`;
  return textProblem(value);
}

/** Cuts to at most `max` characters (code points), never inside a surrogate pair. */
export function cut(value: string, max: number): string {
  if (value.length <= max) return value;
  let out = '';
  let count = 0;
  for (const ch of value) {
    if (count === max) break;
    out += ch;
    count++;
  }
  return out;
}

/**
 * A display text as it may be stored: NUL and other C0 controls but tab and
 * line breaks removed, lone surrogates replaced by U+FFFD, surrounding space
 * trimmed, cut to `max`. Null when nothing is left.
 */
export function displayText(value: unknown, max: number): string | null {
  if (typeof value !== 'string') return null;
  const clean = storableText(value)
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0001-\u0008\u000B\u000C\u000E-\u001F\u007F]/g, '')
    .trim();
  const text = cut(clean, max).trimEnd();
  return text === '' ? null : text;
}
