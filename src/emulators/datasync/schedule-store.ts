import crypto from 'node:crypto';
import { MAX_BODY_BYTES, isObject, isPlainObject } from './request-body.js';
import { parseQuery } from './schemas.js';
import type {
  ScheduleExchangeTemplate,
  ScheduleInput,
  ScheduleJson,
  ScheduleRecord,
} from './types.js';

/** Grade schedules: each run creates the exchanges its templates describe. */
export class ScheduleStore {
  private readonly schedules = new Map<string, ScheduleRecord>();

  /** Adds a schedule; throws an Error when the input is wrong. */
  add(input: ScheduleInput = {}): ScheduleRecord {
    if (!isObject(input)) throw new Error('The schedule input must be an object.');
    const { type = 'unspecified', enabled = true, hour = 1, days = 'daily' } = input;
    if (typeof type !== 'string' || type === '') throw new Error('type must be a string.');
    if (typeof enabled !== 'boolean') throw new Error('enabled must be a boolean.');
    if (!(Number.isInteger(hour) && hour >= 0 && hour <= 23)) {
      throw new Error('hour must be an integer from 0 to 23.');
    }
    if (typeof days !== 'string') throw new Error('days must be a string.');
    const exchanges = input.exchanges ?? [];
    if (!Array.isArray(exchanges)) throw new Error('exchanges must be an array.');
    const templates = exchanges.map((t, i): ScheduleExchangeTemplate => {
      const where = `exchanges[${i}]`;
      if (!isObject(t)) throw new Error(`${where} must be an object.`);
      const max = t.maxDataContentLength;
      if (max !== undefined && !(Number.isInteger(max) && max >= 1 && max <= MAX_BODY_BYTES)) {
        throw new Error(
          `${where}.maxDataContentLength must be an integer from 1 to ${MAX_BODY_BYTES}.`,
        );
      }
      if (t.courseAppId != null && typeof t.courseAppId !== 'string') {
        throw new Error(`${where}.courseAppId must be a string or null.`);
      }
      if (t.metadata != null && !isPlainObject(t.metadata)) {
        throw new Error(`${where}.metadata must be an object or null.`);
      }
      return { ...structuredClone(t), query: parseQuery(t.query) };
    });
    const at = new Date().toISOString();
    const record: ScheduleRecord = {
      id: crypto.randomUUID(),
      type,
      enabled,
      hour,
      days,
      createdAt: at,
      updatedAt: at,
      lastExecutedAt: null,
      exchanges: templates,
      runs: [],
    };
    this.schedules.set(record.id, record);
    return record;
  }

  get(id: string): ScheduleRecord | undefined {
    return this.schedules.get(id);
  }

  all(): ScheduleRecord[] {
    return [...this.schedules.values()];
  }
}

/**
 * A schedule as the API answers it. `metadata.scheduled` is when a run was
 * last enqueued (the emulator runs at once, so it equals last_executed_at).
 */
export function scheduleJson(s: ScheduleRecord): ScheduleJson {
  return {
    id: s.id,
    type: s.type,
    last_executed_at: s.lastExecutedAt,
    enabled: s.enabled,
    hour: s.hour,
    days: s.days,
    metadata: { created: s.createdAt, updated: s.updatedAt, scheduled: s.runs.at(-1)?.at ?? null },
  };
}
