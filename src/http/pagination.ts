import type { AppContext } from './surface.js';

/** Canvas pagination: `page` from 1, `per_page` default 10, clamped to 1..100. */
export interface CanvasPage {
  page: number;
  perPage: number;
  offset: number;
}

function int(value: unknown): number | null {
  if (typeof value !== 'string' || !/^\d{1,9}$/.test(value)) return null;
  return Number(value);
}

export function canvasPage(query: Record<string, unknown>): CanvasPage {
  const page = Math.max(1, int(query.page) ?? 1);
  const perPage = Math.min(100, Math.max(1, int(query.per_page) ?? 10));
  return { page, perPage, offset: (page - 1) * perPage };
}

/**
 * Sets Canvas's Link header: `<url>; rel="current",<url>; rel="next",...`
 * with the rels that exist, each URL keeping the request's other query
 * parameters.
 */
export function setCanvasLinks(
  ctx: AppContext,
  baseUrl: string,
  page: CanvasPage,
  total: number,
): void {
  const last = Math.max(1, Math.ceil(total / page.perPage));
  const others = new URLSearchParams(ctx.querystring);
  others.delete('page');
  others.delete('per_page');
  const url = (n: number) => {
    const params = new URLSearchParams(others);
    params.set('page', String(n));
    params.set('per_page', String(page.perPage));
    return `<${baseUrl}${ctx.path}?${params.toString()}>`;
  };
  const links = [`${url(page.page)}; rel="current"`];
  if (page.page < last) links.push(`${url(page.page + 1)}; rel="next"`);
  if (page.page > 1) links.push(`${url(Math.min(page.page - 1, last))}; rel="prev"`);
  links.push(`${url(1)}; rel="first"`, `${url(last)}; rel="last"`);
  ctx.set('Link', links.join(','));
}
