import Router from '@koa/router';
import { requireToken, type EmulatorContext, type EmulatorState } from './access-tokens.js';
import type { EmulatorCore } from './core.js';
import { HttpError, asBadRequest, badRequest, notFound } from './errors.js';
import { exchangeJson, type StoredExchange } from './exchange-store.js';
import { paginate } from './paging.js';
import {
  isPlainObject,
  parseJson,
  readBody,
  readJson,
  readJsonObject,
  requireJsonType,
} from './request-body.js';
import { SchemaError, parseExchangeData } from './schemas.js';
import type { ExchangeData, ExchangeRecord } from './types.js';
import {
  EXCHANGE_ERROR_CODES,
  EXCHANGE_STATES,
  type ExchangeErrorCode,
  type ExchangeState,
} from './vocabulary.js';

export const API_PREFIX = '/v2/grades';

/** A query parameter given at most once; 400 when repeated. */
function queryParam(ctx: EmulatorContext, name: string): string | undefined {
  const value = ctx.query[name];
  if (Array.isArray(value)) throw badRequest(`${name} may be given only once.`);
  return value;
}

/**
 * Which exchanges the caller may see: those of its client's course_app_id
 * when it has one, narrowed by the `course_app_id` query parameter.
 */
function visibility(ctx: EmulatorContext): (r: ExchangeRecord) => boolean {
  const own = ctx.state.grant!.client.courseAppId;
  const asked = queryParam(ctx, 'course_app_id');
  return (r) =>
    (own === null || r.courseAppId === own) && (asked === undefined || r.courseAppId === asked);
}

function stateFilter(ctx: EmulatorContext): (r: ExchangeRecord) => boolean {
  const state = queryParam(ctx, 'state');
  if (state === undefined) return () => true;
  if (!EXCHANGE_STATES.includes(state as ExchangeState)) {
    throw badRequest(`state must be one of ${EXCHANGE_STATES.join(', ')}.`);
  }
  return (r) => r.state === state;
}

function listed(core: EmulatorCore, ctx: EmulatorContext): ExchangeRecord[] {
  const visible = visibility(ctx);
  const inState = stateFilter(ctx);
  return core.exchanges
    .all()
    .map((e) => e.record)
    .filter((r) => visible(r) && inState(r));
}

/** The exchange named by the path, when the caller may see it; 404 otherwise. */
function findExchange(core: EmulatorCore, ctx: EmulatorContext): StoredExchange {
  const exchange = core.exchanges.get(ctx.params.id ?? '');
  if (!exchange || !visibility(ctx)(exchange.record)) {
    throw notFound(`Exchange ${ctx.params.id} not found.`);
  }
  return exchange;
}

function requireOpen(core: EmulatorCore, exchange: StoredExchange, what: string): void {
  if (!core.exchanges.isOpen(exchange)) {
    throw badRequest(`The exchange is ${exchange.record.state}; it takes no more ${what}.`);
  }
}

function errorInput(value: unknown, where: string) {
  if (!isPlainObject(value)) throw badRequest(`${where} must be an object.`);
  const { code, details } = value;
  if (typeof code !== 'string' || !EXCHANGE_ERROR_CODES.includes(code as ExchangeErrorCode)) {
    throw badRequest(`${where}.code must be one of ${EXCHANGE_ERROR_CODES.join(', ')}.`);
  }
  if (details !== undefined && details !== null && typeof details !== 'string') {
    throw badRequest(`${where}.details must be a string or null.`);
  }
  return { code: code as ExchangeErrorCode, details: details ?? null };
}

/** `POST /exchanges/{id}/data`: checks, in order, state, size, JSON and shape; then records it. */
async function postData(core: EmulatorCore, ctx: EmulatorContext): Promise<void> {
  const exchange = findExchange(core, ctx);
  requireJsonType(ctx);
  const raw = await readBody(ctx);
  function refuse(message: string): never {
    core.exchanges.reject(exchange, raw, 400, message);
    throw badRequest(message);
  }
  const { state, maxDataContentLength: max } = exchange.record;
  if (!core.exchanges.isOpen(exchange)) refuse(`The exchange is ${state}; it takes no more data.`);
  if (raw.length > max) {
    refuse(
      `The request body is ${raw.length} bytes, over this exchange's max_data_content_length of ${max} bytes.`,
    );
  }
  let body: ExchangeData;
  try {
    body = parseExchangeData(parseJson(raw));
  } catch (err) {
    if (err instanceof SchemaError) refuse(`Invalid exchange data: ${err.message}.`);
    if (err instanceof HttpError) refuse(err.message);
    throw err;
  }
  core.exchanges.addChunk(exchange, raw, body);
  ctx.body = { data: null };
}

function artifact(core: EmulatorCore, which: 'details' | 'consumerlogs') {
  return (ctx: EmulatorContext) => {
    const exchange = findExchange(core, ctx);
    const file = which === 'details' ? exchange.detailsGz : exchange.consumerLogsGz;
    if (!file) {
      throw notFound(
        exchange.record.state === 'completed'
          ? `Exchange ${exchange.record.id} has no ${which} artifact: nothing was sent to the SIS.`
          : `Exchange ${exchange.record.id} is ${exchange.record.state}; it has no ${which} artifact.`,
      );
    }
    ctx.type = 'application/octet-stream';
    ctx.set('Content-Disposition', `attachment; filename="${which}.json.gz"`);
    ctx.body = file;
  };
}

/** The exchanges: list, count, create, get, errors, data and artifacts. */
export function exchangeRoutes(core: EmulatorCore): Router<EmulatorState> {
  const router = new Router<EmulatorState>({ prefix: API_PREFIX });
  const auth = requireToken(core.accessTokens);

  router.get('/exchanges', auth, (ctx) => {
    ctx.body = {
      data: paginate(ctx, listed(core, ctx), core.settings.maxPageSize).map(exchangeJson),
    };
  });

  router.get('/exchanges/count', auth, (ctx) => {
    ctx.type = 'application/json';
    ctx.body = String(listed(core, ctx).length);
  });

  router.post('/exchanges', auth, async (ctx) => {
    const body = await readJsonObject(ctx);
    asBadRequest(() =>
      core.exchanges.create(
        {
          query: body.query as ExchangeRecord['query'],
          metadata: body.metadata as ExchangeRecord['metadata'],
          courseAppId: ctx.state.grant!.client.courseAppId,
        },
        'api',
      ),
    );
    ctx.body = { data: null };
  });

  router.get('/exchanges/:id', auth, (ctx) => {
    ctx.body = { data: exchangeJson(findExchange(core, ctx).record) };
  });

  router.get('/exchanges/:id/errors', auth, (ctx) => {
    const { errors } = findExchange(core, ctx).record;
    ctx.body = { data: paginate(ctx, errors, core.settings.maxPageSize) };
  });

  // One error object, or a list of them ("Create a list of Grades Exchange Errors").
  router.post('/exchanges/:id/errors', auth, async (ctx) => {
    const exchange = findExchange(core, ctx);
    const body = await readJson(ctx);
    const inputs = Array.isArray(body)
      ? body.map((item, i) => errorInput(item, `[${i}]`))
      : [errorInput(body, 'body')];
    if (inputs.length === 0) throw badRequest('The list of errors is empty.');
    requireOpen(core, exchange, 'errors');
    const created = core.exchanges.addErrors(exchange, inputs);
    ctx.body = { data: Array.isArray(body) ? created : created[0] };
  });

  router.post('/exchanges/:id/data', auth, (ctx) => postData(core, ctx));
  router.get('/exchanges/:id/artifacts/details', auth, artifact(core, 'details'));
  router.get('/exchanges/:id/artifacts/consumerlogs', auth, artifact(core, 'consumerlogs'));
  return router;
}
