/**
 * Text both databases store as it is: PostgreSQL refuses NUL characters in
 * text (error 22021), and a lone UTF-16 surrogate has no UTF-8 form (JSON
 * encoders and PostgreSQL refuse or mangle it). Inputs with either are
 * refused (src/http/input.ts); text the service stores on its own account
 * (errors, messages, what a platform sent for display) is cleaned instead.
 */

/** The longest error or message text kept with a job, an attempt or an exchange. */
export const MAX_STORED_TEXT = 4000;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

/** Whether a string is Unicode text: no lone surrogate. */
export function isWellFormed(value: string): boolean {
  return !LONE_SURROGATE.test(value);
}

/** Why a text cannot be stored as it is, or null when it can. */
export function textProblem(text: string): string | null {
  if (text.includes('\u0000')) return 'must not contain NUL characters';
  if (!isWellFormed(text)) return 'must be valid Unicode (it holds a lone surrogate)';
  return null;
}

/**
 * Text as it can be stored: NUL removed, lone surrogates replaced by U+FFFD,
 * and at most `max` characters (ending in "…" when cut; a surrogate pair is
 * never split).
 */
export function storableText(value: string, max = Infinity): string {
  let text = value.replaceAll('\u0000', '').replace(LONE_SURROGATES, '\uFFFD');
  if (text.length > max) {
    let end = Math.max(0, max - 1);
    const last = text.charCodeAt(end - 1);
    if (last >= 0xd800 && last <= 0xdbff) end -= 1;
    text = `${text.slice(0, end)}…`;
  }
  return text;
}

/** A short, storable text for anything thrown. */
export function errorText(err: unknown, max = MAX_STORED_TEXT): string {
  let text: string;
  try {
    text = err instanceof Error ? err.message : String(err);
  } catch {
    text = 'an error that cannot be shown as text';
  }
  return storableText(text || (err instanceof Error ? err.name : 'error'), max);
}
