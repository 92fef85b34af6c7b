/** A copy of `value` without its undefined properties (so JSON and deep.equal agree). */
export function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
