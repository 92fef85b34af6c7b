import { createReadStream } from 'node:fs';
import { koaBody } from 'koa-body';
import type { AppDeps } from '../deps.js';
import type { Executor } from '../db/knex.js';
import { isoNow } from '../db/time.js';
import { inTransaction } from '../db/transaction.js';
import { bearerAuth } from '../auth/bearer.js';
import {
  AppError,
  BadRequestError,
  GoneError,
  NotFoundError,
  ValidationError,
  normalizeError,
} from '../http/errors.js';
import type { ApiDocs } from '../http/openapi.js';
import {
  requestBaseUrl,
  Surface,
  type AppContext,
  type AppMiddleware,
  type ErrorRenderer,
} from '../http/surface.js';
import { parseOrThrow, z } from '../http/validation.js';
import {
  CONTENT_TYPES,
  lookupExport,
  primed,
  serialize,
  startExport,
  type ExportFormat,
} from './exports.js';
import { matchingGradebooks, parseSort, projection } from './query.js';
import {
  countResultSchema,
  criteriaSchema,
  exportStartedSchema,
  gradebookMatchSchema,
  gradebookModelSchema,
  problemDetailsSchema,
  type Criteria,
} from './schemas.js';
import {
  audit,
  collectGradebooks,
  countGradebooks,
  getGradebook,
  gradebookExists,
  searchGradebooks,
  streamGradebooks,
} from './service.js';

export const PROGRESS_PREFIX = '/v2/e01/api/progress/gradebooks';
const JSON_TYPES = [
  'application/json',
  'application/json-patch+json',
  'text/json',
  'application/*+json',
];

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};
const SECTIONS: Record<number, string> = {
  400: '15.5.1',
  401: '15.5.2',
  403: '15.5.4',
  404: '15.5.5',
  405: '15.5.6',
  409: '15.5.10',
  410: '15.5.11',
  413: '15.5.14',
  415: '15.5.16',
  500: '15.6.1',
  503: '15.6.4',
};

/** RFC 9457 problem details, as ASP.NET writes them: {type, title, status, detail, instance}. */
export const renderProblem: ErrorRenderer = (ctx, error) => {
  ctx.status = error.status;
  ctx.type = 'application/problem+json';
  const body: Record<string, unknown> = {
    type: `https://tools.ietf.org/html/rfc9110#section-${SECTIONS[error.status] ?? '15.5.1'}`,
    title: TITLES[error.status] ?? 'Error',
    status: error.status,
    detail: error.message,
    instance: ctx.path,
  };
  if (error instanceof ValidationError) {
    // Keyed by the caller's property names, which may be "constructor" or "__proto__".
    const errors = new Map<string, string[]>();
    for (const issue of error.issues) {
      const path = issue.path || '$';
      errors.set(path, [...(errors.get(path) ?? []), issue.message]);
    }
    body.errors = Object.fromEntries(errors);
  }
  ctx.body = body;
};

/** JSON as the contract lists it: application/json, or text/json when the client asks for that. */
function respondJson(ctx: AppContext, body: unknown): void {
  ctx.body = body;
  ctx.type = jsonType(ctx);
}

function jsonType(ctx: AppContext): 'application/json' | 'text/json' {
  return ctx.accepts('application/json', 'text/json') === 'text/json'
    ? 'text/json'
    : 'application/json';
}

/** JSON in any of the content types the contract lists; no body means no criteria. */
function progressBody(): AppMiddleware {
  const parse = koaBody({
    json: true,
    urlencoded: false,
    text: false,
    multipart: false,
    jsonLimit: '256kb',
    jsonStrict: false,
    jsonTypes: JSON_TYPES,
  });
  return async (ctx, next) => {
    if (ctx.request.length && !ctx.is(JSON_TYPES)) {
      throw new AppError(
        415,
        'unsupported_media_type',
        `Send the criteria as JSON (${JSON_TYPES.join(', ')}).`,
      );
    }
    try {
      await parse(ctx, async () => undefined);
    } catch (err) {
      const { error } = normalizeError(err);
      if (error.status === 413) throw error;
      // The parser refuses "__proto__" (and constructor.prototype) outright; read such a
      // body as plain JSON, where they are own properties, so validation names them.
      const text = (err as { body?: unknown }).body;
      if (!(
        err instanceof SyntaxError &&
        /prototype/.test(err.message) &&
        typeof text === 'string'
      ))
        throw new BadRequestError('The request body is not valid JSON.');
      ctx.request.body = JSON.parse(text);
    }
    if (ctx.request.body === undefined || ctx.request.body === null) ctx.request.body = {};
    await next();
  };
}

/** The export query string: PascalCase criteria, Filter.X, Origin.X and Texts[key], names matched without regard to case. */
function criteriaFromQuery(query: Record<string, string | string[] | undefined>): unknown {
  const plain = Object.keys(criteriaSchema.shape).filter(
    (k) => !['origin', 'filter', 'texts'].includes(k),
  );
  const out: Record<string, unknown> = {};
  const problems: Array<{ path: string; message: string }> = [];
  for (const [name, raw] of Object.entries(query)) {
    const value = Array.isArray(raw) ? raw[raw.length - 1]! : (raw ?? '');
    const lower = name.toLowerCase();
    const texts = /^texts(?:\[([^\]]+)\]|\.(.+))$/i.exec(name);
    const nested = /^(origin|filter)\.([a-z]+)$/i.exec(name);
    const key = plain.find((k) => k.toLowerCase() === lower);
    if (key) {
      out[key] =
        key === 'isLocked' ? (value === 'true' ? true : value === 'false' ? false : value) : value;
    } else if (texts) {
      // A key of the caller's ("__proto__" included) is an own property, refused by the schema.
      ((out.texts ??= Object.create(null)) as Record<string, string>)[texts[1] ?? texts[2]!] =
        value;
    } else if (nested) {
      const group = nested[1]!.toLowerCase();
      const shape = (
        criteriaSchema.shape[group as 'origin' | 'filter'] as z.ZodOptional<z.ZodObject>
      ).unwrap().shape;
      const field = Object.keys(shape).find((k) => k.toLowerCase() === nested[2]!.toLowerCase());
      if (!field) problems.push({ path: name, message: 'is not a known parameter' });
      else {
        const numeric = group === 'filter' && (field === 'page' || field === 'pageSize');
        ((out[group] ??= {}) as Record<string, unknown>)[field] =
          numeric && /^-?\d+$/.test(value) ? Number(value) : value;
      }
    } else {
      problems.push({ path: name, message: 'is not a known parameter' });
    }
  }
  if (problems.length > 0) throw new ValidationError(problems, 'query');
  return out;
}

function format(criteria: Criteria, allowed: ExportFormat[]): ExportFormat {
  const value = (criteria.filter?.format ?? 'json').toLowerCase();
  if (!(allowed as string[]).includes(value)) {
    throw new BadRequestError(
      `filter.format: "${criteria.filter?.format}" is not supported here; use ${allowed.join(' or ')}`,
    );
  }
  return value as ExportFormat;
}

/** InSite "Progress API: Gradebooks" under /v2/e01/api/progress/gradebooks. */
export function progressSurface(deps: AppDeps, docs: ApiDocs): Surface {
  docs.securitySchemes.insiteBearer = { type: 'apiKey', in: 'header', name: 'Bearer' };
  docs.securitySchemes.insiteCookie = { type: 'apiKey', in: 'cookie', name: 'InSite.WebToken' };
  const surface = new Surface(
    {
      name: 'progress',
      prefix: PROGRESS_PREFIX,
      tag: 'Progress Gradebooks',
      description:
        "InSite's Progress API for gradebooks: every course's gradebook with its class, period, achievement and lock state. Auth: a token with the progress scope, as Authorization: Bearer, in a header named Bearer (the contract's apiKey), or in the InSite.WebToken cookie. JSON answers are application/json, or text/json when asked for. Errors are problem details.",
      renderError: renderProblem,
      auth: bearerAuth({
        db: deps.db,
        tokens: deps.tokens,
        scope: 'progress',
        header: 'Bearer',
        cookie: 'InSite.WebToken',
      }),
      security: [{ bearer: [] }, { insiteBearer: [] }, { insiteCookie: [] }],
    },
    docs,
  );
  const parser = progressBody();
  const scope = (ctx: AppContext) => ({
    tenantId: ctx.state.principal!.tenantId,
    organizationId: ctx.state.principal!.organizationId,
  });
  /** Refuses unknown includes, sort fields and texts before any work starts. */
  const precheck = (ctx: AppContext, criteria: Criteria, shape: 'model' | 'match') => {
    checkOrigin(ctx, criteria);
    projection(criteria.filter, shape);
    parseSort(criteria.filter?.sort, shape);
    matchingGradebooks(deps.db, scope(ctx), criteria);
  };
  const record = (ctx: AppContext, operation: string, criteria: Criteria, db: Executor = deps.db) =>
    audit(
      db,
      {
        tenantId: ctx.state.principal!.tenantId,
        apiClientId: ctx.state.principal!.apiClientId,
        operation,
        requestId: ctx.state.requestId,
        criteria,
      },
      isoNow(deps.clock),
    );
  /** Origin is the caller's account of who asks and why; its organization must be the token's. */
  const checkOrigin = (ctx: AppContext, criteria: Criteria) => {
    const organization = criteria.origin?.organization;
    if (organization && organization.toLowerCase() !== ctx.state.principal!.organizationId) {
      throw new BadRequestError("origin.organization is not this token's organization.");
    }
  };
  const params = z.object({ gradebook: z.guid() });
  const problem = {
    description: 'Problem details',
    schema: problemDetailsSchema,
    contentType: 'application/problem+json',
  };
  const common = {
    400: { ...problem, description: 'Unknown or malformed properties, sort fields or includes' },
    401: { ...problem, description: 'Missing or invalid token' },
    403: { ...problem, description: 'The token lacks the progress scope' },
  };
  const bodyDocs = { bodyParser: parser, body: criteriaSchema, bodyContentTypes: JSON_TYPES };

  surface.route({
    method: 'head',
    path: '/:gradebook',
    operationId: 'assertGradebook',
    summary: 'Checks for the existence of one specific gradebook',
    params,
    responses: {
      200: { description: 'It exists' },
      404: { description: 'It does not (for this organization)' },
    },
    handler: async (ctx, { params }) => {
      if (!(await gradebookExists(deps.db, scope(ctx), params.gradebook))) {
        throw new NotFoundError();
      }
      ctx.status = 200;
    },
  });
  surface.route({
    method: 'get',
    path: '/export',
    operationId: 'exportGradebooks',
    summary: 'Starts a background export of the gradebooks that match the criteria',
    description:
      'Fire and forget: answers at once with an unguessable key and a download URL; the file (filter.format json or csv) is written by a worker and served at exports/{key} until the expiry.',
    responses: { 200: { description: 'Export started', schema: exportStartedSchema }, ...common },
    handler: async (ctx) => {
      const criteria = parseOrThrow(criteriaSchema, criteriaFromQuery(ctx.query), 'query');
      const fmt = format(criteria, ['json', 'csv']);
      // Refuse unknown includes, sort fields and texts now, not in the background.
      precheck(ctx, criteria, 'model');
      const started = await inTransaction(deps.db, async (trx) => {
        await record(ctx, 'export', criteria, trx);
        return startExport(
          trx,
          deps,
          ctx.state.principal!,
          criteria,
          fmt,
          requestBaseUrl(deps.config, ctx),
        );
      });
      respondJson(ctx, started);
    },
  });
  surface.route({
    method: 'get',
    path: '/exports/:key',
    operationId: 'downloadExport',
    summary: 'Downloads a finished export',
    params: z.object({ key: z.string().regex(/^[A-Za-z0-9_-]{16,128}$/, 'is not an export key') }),
    responses: {
      200: { description: 'The file (JSON or CSV)' },
      202: { ...problem, description: 'Not ready yet; try again after Retry-After seconds' },
      404: { ...problem, description: 'No such export for this organization' },
      409: { ...problem, description: 'The export failed; start another' },
      410: { ...problem, description: 'The export expired' },
    },
    handler: async (ctx, { params }) => {
      const found = await lookupExport(deps.db, deps, ctx.state.principal!.tenantId, params.key);
      if (found.state === 'missing')
        throw new NotFoundError('No export with this key exists for this organization.');
      if (found.state === 'expired')
        throw new GoneError('This export has expired; start a new one.');
      if (found.state === 'failed')
        throw new AppError(
          409,
          'export_failed',
          `This export failed (${found.error}); start a new one.`,
        );
      if (found.state === 'pending') {
        ctx.status = 202;
        ctx.type = 'application/problem+json';
        ctx.set('Retry-After', '2');
        ctx.body = {
          type: 'https://tools.ietf.org/html/rfc9110#section-15.3.3',
          title: 'Accepted',
          status: 202,
          detail: 'The export is not ready yet; try again shortly.',
          instance: ctx.path,
        };
        return;
      }
      ctx.type = CONTENT_TYPES[found.format];
      ctx.attachment(`gradebooks-${found.createdAt.slice(0, 10)}.${found.format}`);
      ctx.body = createReadStream(found.file);
    },
  });
  surface.route({
    method: 'get',
    path: '/:gradebook',
    operationId: 'retrieveGradebook',
    summary: 'Retrieves one specific gradebook',
    params,
    responses: {
      200: { description: 'The gradebook', schema: gradebookModelSchema },
      ...common,
      404: { ...problem, description: 'No such gradebook for this organization' },
    },
    handler: async (ctx, { params }) => {
      const found = await getGradebook(deps.db, scope(ctx), params.gradebook);
      if (!found) throw new NotFoundError(`Gradebook ${params.gradebook} does not exist.`);
      respondJson(ctx, found);
    },
  });
  surface.route({
    method: 'post',
    path: '/collect',
    operationId: 'collectGradebooks',
    summary: 'Collects the list of gradebooks that match specific criteria',
    ...bodyDocs,
    responses: {
      200: { description: 'A page of gradebooks', schema: z.array(gradebookModelSchema) },
      ...common,
    },
    handler: async (ctx, { body }) => {
      format(body, ['json']);
      precheck(ctx, body, 'model');
      respondJson(ctx, await collectGradebooks(deps.db, scope(ctx), body));
      await record(ctx, 'collect', body);
    },
  });
  surface.route({
    method: 'post',
    path: '/count',
    operationId: 'countGradebooks',
    summary: 'Counts the gradebooks that match specific criteria',
    ...bodyDocs,
    responses: { 200: { description: 'How many match', schema: countResultSchema }, ...common },
    handler: async (ctx, { body }) => {
      precheck(ctx, body, 'model');
      respondJson(ctx, await countGradebooks(deps.db, scope(ctx), body));
      await record(ctx, 'count', body);
    },
  });
  surface.route({
    method: 'post',
    path: '/download',
    operationId: 'downloadGradebooks',
    summary: 'Downloads the list of gradebooks that match specific criteria',
    description:
      'Every match (paging is ignored), streamed as JSON or CSV (filter.format) with a header row.',
    ...bodyDocs,
    responses: { 200: { description: 'A JSON or CSV file' }, ...common },
    handler: async (ctx, { body }) => {
      // Everything is checked, and the first rows read, before the 200 goes out:
      // once the file streams, a problem can no longer be answered as one.
      const fmt = format(body, ['json', 'csv']);
      precheck(ctx, body, 'model');
      const fields = projection(body.filter, 'model');
      await record(ctx, 'download', body);
      const rows = await primed(
        streamGradebooks(deps.db, scope(ctx), body, fields) as AsyncIterable<
          Record<string, unknown>
        >,
      );
      ctx.res.once('close', () => void rows.return());
      ctx.type = fmt === 'json' ? `${jsonType(ctx)}; charset=utf-8` : CONTENT_TYPES[fmt];
      ctx.attachment(`gradebooks-${isoNow(deps.clock).slice(0, 10)}.${fmt}`);
      ctx.body = serialize(rows, fields, fmt);
    },
  });
  surface.route({
    method: 'post',
    path: '/search',
    operationId: 'searchGradebooks',
    summary: 'Searches for the list of gradebooks that match specific criteria',
    ...bodyDocs,
    responses: {
      200: { description: 'A page of matches', schema: z.array(gradebookMatchSchema) },
      ...common,
    },
    handler: async (ctx, { body }) => {
      format(body, ['json']);
      precheck(ctx, body, 'match');
      respondJson(ctx, await searchGradebooks(deps.db, scope(ctx), body));
      await record(ctx, 'search', body);
    },
  });
  return surface;
}
