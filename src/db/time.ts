/** All stored times are ISO-8601 UTC strings with milliseconds. */
export function isoNow(clock: Clock): string {
  return new Date(clock.now()).toISOString();
}

export function toIso(value: string | Date | number | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'number') return new Date(value).toISOString();
  return value.endsWith('Z') && value.length === 24 ? value : new Date(value).toISOString();
}

export function toBool(value: unknown): boolean {
  return value === true || value === 1 || value === '1' || value === 't' || value === 'true';
}

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
