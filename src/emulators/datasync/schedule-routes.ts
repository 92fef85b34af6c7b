import Router from '@koa/router';
import { requireToken, type EmulatorContext, type EmulatorState } from './access-tokens.js';
import type { EmulatorCore } from './core.js';
import { HttpError, badRequest, conflict, notFound } from './errors.js';
import { API_PREFIX } from './exchange-routes.js';
import { paginate } from './paging.js';
import { isPlainObject, readJson, readJsonObject } from './request-body.js';
import { scheduleJson } from './schedule-store.js';
import type { ScheduleRecord, ScheduleRun } from './types.js';

function findSchedule(core: EmulatorCore, ctx: EmulatorContext): ScheduleRecord {
  const schedule = core.schedules.get(ctx.params.id ?? '');
  if (!schedule) throw notFound(`Schedule ${ctx.params.id} not found.`);
  return schedule;
}

/**
 * Runs a schedule now, creating the exchanges of its templates. Refused with
 * - 409 when it is disabled, or when an exchange of its previous run is still
 *   open (created or in_progress): the previous run has not finished;
 * - 429 (with Retry-After) when its previous run started less than the
 *   cooldown ago (scheduleRunCooldownSeconds, default 5).
 */
function runSchedule(core: EmulatorCore, schedule: ScheduleRecord): ScheduleRun {
  if (!schedule.enabled) throw conflict(`Schedule ${schedule.id} is disabled.`);
  const last = schedule.runs.at(-1);
  if (last) {
    const open = last.exchangeIds.filter((id) => {
      const exchange = core.exchanges.get(id);
      return exchange !== undefined && core.exchanges.isOpen(exchange);
    });
    if (open.length > 0) {
      throw conflict(
        `Schedule ${schedule.id} is still running: ${open.length} exchange(s) of its last run are not completed or failed.`,
      );
    }
    const waitMs = Date.parse(last.at) + core.settings.scheduleRunCooldownMs - Date.now();
    if (waitMs > 0) {
      throw new HttpError(
        429,
        `Schedule ${schedule.id} ran less than ${core.settings.scheduleRunCooldownMs / 1000} s ago.`,
        { headers: { 'Retry-After': String(Math.max(1, Math.ceil(waitMs / 1000))) } },
      );
    }
  }
  const at = new Date().toISOString();
  const exchangeIds = schedule.exchanges.map(
    (t) =>
      core.exchanges.create(
        {
          query: t.query,
          metadata: t.metadata,
          courseAppId: t.courseAppId,
          maxDataContentLength: t.maxDataContentLength,
        },
        'schedule',
        { scheduleId: schedule.id },
      ).id,
  );
  const run = { at, exchangeIds };
  schedule.runs.push(run);
  schedule.lastExecutedAt = at;
  return run;
}

/** Grade schedules: list, enable or disable, run now. */
export function scheduleRoutes(core: EmulatorCore): Router<EmulatorState> {
  const router = new Router<EmulatorState>({ prefix: API_PREFIX });
  const auth = requireToken(core.accessTokens);

  router.get('/schedules', auth, (ctx) => {
    ctx.body = {
      data: paginate(ctx, core.schedules.all(), core.settings.maxPageSize).map(scheduleJson),
    };
  });

  router.patch('/schedules/:id', auth, async (ctx) => {
    const schedule = findSchedule(core, ctx);
    const body = await readJsonObject(ctx);
    const others = Object.keys(body).filter((k) => k !== 'enabled');
    if (others.length > 0) {
      throw badRequest(`Only enabled may be updated, not ${others.join(', ')}.`);
    }
    if (typeof body.enabled !== 'boolean') throw badRequest('enabled must be a boolean.');
    schedule.enabled = body.enabled;
    schedule.updatedAt = new Date().toISOString();
    ctx.status = 204;
  });

  router.post('/schedules/:id/run', auth, async (ctx) => {
    const schedule = findSchedule(core, ctx);
    const body = await readJson(ctx);
    if (body !== undefined && body !== null && !isPlainObject(body)) {
      throw badRequest('The request body must be a JSON object or null.');
    }
    runSchedule(core, schedule);
    ctx.status = 204;
  });
  return router;
}
