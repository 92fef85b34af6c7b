/** The longest error text kept with a job or an attempt. */
export const MAX_STORED_TEXT = 4000;

// eslint-disable-next-line no-control-regex -- NUL is what is removed
const NUL = /\u0000/g;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Whether a string is Unicode text: no lone surrogate (a URL, for one, cannot carry it). */
export function isWellFormed(value: string): boolean {
  return !new RegExp(LONE_SURROGATE.source).test(value);
}

/**
 * Text any database column and any JSON document takes: NUL bytes removed
 * (PostgreSQL refuses them in text, error 22021), lone surrogates replaced by
 * U+FFFD (they are not Unicode, and JSON parsers and encoders refuse or mangle
 * them), and at most `max` characters (ending in "…" when cut; a surrogate pair is
 * never split). What a job stores of an error or of its payload goes through
 * here, because either may carry anything a sender put in it.
 */
export function storableText(value: string, max = MAX_STORED_TEXT): string {
  let text = value.replace(NUL, '').replace(LONE_SURROGATE, '\ufffd');
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
