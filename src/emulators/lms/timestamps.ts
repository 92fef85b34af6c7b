/** ISO 8601 date-times with a UTC offset (the RFC 3339 profile the LTI specs use). */
const ISO_WITH_OFFSET =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

export interface TimestampKey {
  epochMs: number;
  /** Fraction of a millisecond, for timestamps with micro- or nanoseconds. */
  subMs: number;
}

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

export function parseTimestamp(text: string): TimestampKey | undefined {
  const m = ISO_WITH_OFFSET.exec(text);
  if (!m) return undefined;
  const [, year, month, day, hour, minute, second, fraction = '', offset] = m;
  const y = Number(year);
  const mo = Number(month);
  if (mo < 1 || mo > 12 || Number(day) < 1 || Number(day) > daysIn(y, mo)) return undefined;
  if (Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59) return undefined;
  const ms = fraction.slice(0, 3).padEnd(3, '0');
  const epochMs = Date.parse(`${year}-${month}-${day}T${hour}:${minute}:${second}.${ms}${offset}`);
  if (Number.isNaN(epochMs)) return undefined;
  const rest = fraction.slice(3);
  return { epochMs, subMs: rest ? Number(`0.${rest}`) : 0 };
}

export const isTimestamp = (text: string) => parseTimestamp(text) !== undefined;

/** Negative when a is earlier than b, 0 when they name the same instant. */
export function compareTimestamps(a: TimestampKey, b: TimestampKey): number {
  return a.epochMs - b.epochMs || a.subMs - b.subMs;
}
