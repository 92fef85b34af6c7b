import type { EmulatorContext } from './access-tokens.js';
import { badRequest } from './errors.js';

function intParam(ctx: EmulatorContext, name: string, min: number): number | undefined {
  const value = ctx.query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^\d{1,9}$/.test(value) || Number(value) < min) {
    throw badRequest(`${name} must be an integer >= ${min}.`);
  }
  return Number(value);
}

/**
 * One page of a list: `page` counts from 0 (default 0), `page_size` defaults
 * to the maximum page size and is clamped to it.
 */
export function paginate<T>(ctx: EmulatorContext, items: T[], maxPageSize: number): T[] {
  const page = intParam(ctx, 'page', 0) ?? 0;
  const size = Math.min(intParam(ctx, 'page_size', 1) ?? maxPageSize, maxPageSize);
  return items.slice(page * size, (page + 1) * size);
}
