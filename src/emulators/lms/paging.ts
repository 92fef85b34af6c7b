import type { EmulatorContext } from './access-tokens.js';
import { badRequest } from './errors.js';

function positiveInt(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^[1-9]\d{0,8}$/.test(value)) {
    throw badRequest(`${name} must be a positive integer.`);
  }
  return Number(value);
}

/**
 * One page of a container (AGS, NRPS): `limit` sets the page size (the
 * platform's default otherwise) and `page` (from 1) picks the page. Links to
 * the next, previous, first and last pages go in the Link header, keeping
 * every other query parameter (the filters).
 */
export function paginate<T>(
  ctx: EmulatorContext,
  baseUrl: string,
  items: T[],
  defaultSize: number,
): T[] {
  const limit = positiveInt(ctx.query.limit, 'limit') ?? defaultSize;
  const page = positiveInt(ctx.query.page, 'page') ?? 1;
  const pages = Math.max(1, Math.ceil(items.length / limit));
  const link = (n: number) => {
    const url = new URL(`${baseUrl}${ctx.path}`);
    url.search = ctx.querystring;
    url.searchParams.set('limit', String(limit));
    url.searchParams.set('page', String(n));
    return url.toString();
  };
  const links: string[] = [];
  if (page < pages) links.push(`<${link(page + 1)}>; rel="next"`);
  if (page > 1 && page <= pages) links.push(`<${link(page - 1)}>; rel="prev"`);
  if (pages > 1) links.push(`<${link(1)}>; rel="first"`, `<${link(pages)}>; rel="last"`);
  if (links.length > 0) ctx.set('Link', links.join(', '));
  return items.slice((page - 1) * limit, page * limit);
}
