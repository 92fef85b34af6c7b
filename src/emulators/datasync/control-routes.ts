import crypto from 'node:crypto';
import Router from '@koa/router';
import type { EmulatorContext, EmulatorState } from './access-tokens.js';
import type { EmulatorCore } from './core.js';
import { courseQuery } from './course-query.js';
import { asBadRequest, badRequest, notFound } from './errors.js';
import { summarizeAll } from './exchange-summary.js';
import { receivedGrades } from './received-grades.js';
import { isPlainObject, readBody, readJson, readJsonObject } from './request-body.js';
import { scheduleJson } from './schedule-store.js';
import type { ExchangeInput, FaultSpec, RateLimitOptions } from './types.js';
import { QUERY_TYPES, type QueryType } from './vocabulary.js';

export const CONTROL_PREFIX = '/_emulator';

/**
 * Paths outside the emulated API: the home page and the control API. They
 * need no token, are not counted, throttled or faulted.
 */
export function isControlPath(path: string): boolean {
  return (
    path === '/' ||
    path === '/favicon.ico' ||
    path === CONTROL_PREFIX ||
    path.startsWith(`${CONTROL_PREFIX}/`)
  );
}

const optional = (v: unknown) => (v === '' || v === null ? undefined : v);

/**
 * An exchange input from the control API: createExchange's input, where
 * `courseSourceId` and `type` may stand for the query (see courseQuery).
 */
function exchangeInput(body: Record<string, unknown>): ExchangeInput {
  let query = body.query;
  if (query === undefined) {
    const course = optional(body.courseSourceId);
    const type = optional(body.type) ?? 'assignment_scores';
    if (typeof course !== 'string') throw badRequest('Give a query, or a courseSourceId.');
    if (!QUERY_TYPES.includes(type as QueryType)) {
      throw badRequest(`type must be one of ${QUERY_TYPES.join(', ')}.`);
    }
    query = courseQuery(course, type as QueryType);
  }
  let max = optional(body.maxDataContentLength);
  if (typeof max === 'string') max = /^\d+$/.test(max) ? Number(max) : max;
  return {
    query: query as ExchangeInput['query'],
    metadata: body.metadata as ExchangeInput['metadata'],
    maxDataContentLength: max as number | undefined,
    courseAppId: optional(body.courseAppId) as string | undefined,
    batchExchangeId: optional(body.batchExchangeId) as string | undefined,
  };
}

async function createExchange(core: EmulatorCore, ctx: EmulatorContext): Promise<void> {
  if (ctx.is('application/x-www-form-urlencoded')) {
    // The home page's form: create, then back to the page.
    const form = Object.fromEntries(new URLSearchParams((await readBody(ctx)).toString('utf8')));
    const input = exchangeInput(form);
    asBadRequest(() => core.exchanges.create(input, 'emulator'));
    ctx.status = 303;
    ctx.redirect('/');
    return;
  }
  const input = exchangeInput(await readJsonObject(ctx));
  ctx.status = 201;
  ctx.body = asBadRequest(() => core.exchanges.create(input, 'emulator'));
}

/** The state of the emulator at a glance. */
function state(core: EmulatorCore) {
  return {
    url: core.url,
    exchanges: summarizeAll(core),
    stats: core.meter.snapshot(),
    rateLimit: core.limiter.current,
    maxPageSize: core.settings.maxPageSize,
    faults: core.faults.pending(),
    notices: core.notices.deliveries,
    schedules: core.schedules.all().map(scheduleJson),
    batches: core.batches.all(),
    clients: core.clients.list().map(({ clientId, courseAppId }) => ({ clientId, courseAppId })),
  };
}

/**
 * The control API, for other processes and the demo (no auth: loopback only):
 * - GET  /_emulator/state: exchanges with their counts, stats, settings;
 * - GET  /_emulator/exchanges/{id}: the full record and what it received;
 * - POST /_emulator/exchanges: create an exchange (JSON like createExchange's
 *   input, or `courseSourceId` and `type` instead of a query; or the home page's form);
 * - POST /_emulator/faults (an array, or `{faults}`), DELETE /_emulator/faults;
 * - POST /_emulator/rate-limit: `{requestsPerSecond, retryAfter?, status?}`;
 * - POST /_emulator/page-size: `{maxPageSize}`, the largest page and the default page_size;
 * - POST /_emulator/clients: `{clientId?, clientSecret?, courseAppId?}` (missing ones generated);
 * - POST /_emulator/reset-stats.
 */
export function controlRoutes(core: EmulatorCore): Router<EmulatorState> {
  const router = new Router<EmulatorState>({ prefix: CONTROL_PREFIX });

  router.get('/state', (ctx) => {
    ctx.body = state(core);
  });

  router.get('/exchanges/:id', (ctx) => {
    const exchange = core.exchanges.get(ctx.params.id ?? '');
    if (!exchange) throw notFound(`Exchange ${ctx.params.id} not found.`);
    ctx.body = { exchange: exchange.record, received: receivedGrades(exchange.record.chunks) };
  });

  router.post('/exchanges', (ctx) => createExchange(core, ctx));

  router.post('/faults', async (ctx) => {
    const body = await readJson(ctx);
    const faults = isPlainObject(body) ? body.faults : body;
    if (!Array.isArray(faults)) throw badRequest('Send an array of faults, or {"faults": [...]}.');
    asBadRequest(() => core.faults.add(faults as FaultSpec[]));
    ctx.body = { faults: core.faults.pending() };
  });

  router.delete('/faults', (ctx) => {
    core.faults.clear();
    ctx.status = 204;
  });

  router.post('/rate-limit', async (ctx) => {
    const body = await readJsonObject(ctx);
    asBadRequest(() => core.limiter.configure(body as unknown as RateLimitOptions));
    ctx.body = core.limiter.current;
  });

  router.post('/page-size', async (ctx) => {
    const { maxPageSize } = await readJsonObject(ctx);
    if (typeof maxPageSize !== 'number' || !Number.isInteger(maxPageSize) || maxPageSize < 1) {
      throw badRequest('maxPageSize must be an integer >= 1.');
    }
    core.settings.maxPageSize = maxPageSize;
    ctx.body = { maxPageSize };
  });

  router.post('/clients', async (ctx) => {
    const body = await readJsonObject(ctx, { allowEmpty: true });
    const client = asBadRequest(() =>
      core.clients.add({
        clientId:
          (body.clientId as string | undefined) ??
          `client-${crypto.randomBytes(4).toString('hex')}`,
        clientSecret:
          (body.clientSecret as string | undefined) ?? crypto.randomBytes(24).toString('base64url'),
        courseAppId: body.courseAppId as string | undefined,
      }),
    );
    ctx.status = 201;
    ctx.body = client;
  });

  router.post('/reset-stats', (ctx) => {
    core.meter.reset();
    ctx.status = 204;
  });
  return router;
}
