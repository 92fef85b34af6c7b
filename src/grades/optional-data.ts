import type { ParseResult } from './symbols.js';

/** `key1=value1:key2=value2` as a plain object; an empty string is no data. */
export function parseOptionalData(
  text: string | undefined | null,
  field = 'optionalData',
): ParseResult<Record<string, string> | null> {
  if (text === undefined || text === null || text.trim() === '') return { ok: true, value: null };
  const result: Record<string, string> = {};
  for (const pair of text.split(':')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      return { ok: false, error: `${field}: "${pair}" is not a key=value pair` };
    }
    const key = pair.slice(0, eq).trim();
    if (key === '') return { ok: false, error: `${field}: "${pair}" has an empty key` };
    if (Object.hasOwn(result, key))
      return { ok: false, error: `${field}: key "${key}" appears more than once` };
    result[key] = pair.slice(eq + 1);
  }
  return { ok: true, value: result };
}
