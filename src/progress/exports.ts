import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { stringify } from 'csv-stringify';
import type { AppDeps } from '../deps.js';
import type { Db, Trx } from '../db/knex.js';
import { isoNow } from '../db/time.js';
import { parseJson, toJson } from '../db/json.js';
import { enqueue } from '../jobs/queue.js';
import type { JobDefinition, RecurringJob } from '../jobs/worker.js';
import { projection } from './query.js';
import type { Criteria } from './schemas.js';
import { streamGradebooks } from './service.js';

export type ExportFormat = 'json' | 'csv';

export const CONTENT_TYPES: Record<ExportFormat, string> = {
  json: 'application/json; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
};

/** Rows as a JSON array or as CSV with a header row, produced as they are read. */
export function serialize(
  rows: AsyncIterable<Record<string, unknown>>,
  fields: string[],
  format: ExportFormat,
): Readable {
  if (format === 'csv') {
    const csv = stringify({
      header: true,
      columns: fields,
      cast: { boolean: (value) => (value ? 'true' : 'false') },
    });
    void pipeline(Readable.from(rows), csv).catch((err) => csv.destroy(err));
    return csv;
  }
  return Readable.from(
    (async function* () {
      yield '[';
      let first = true;
      for await (const row of rows) {
        yield `${first ? '' : ','}${JSON.stringify(row)}`;
        first = false;
      }
      yield ']';
    })(),
  );
}

/** Rows whose first ones are already read; return() closes their source. */
export interface PrimedRows<T> extends AsyncIterableIterator<T> {
  return(): Promise<IteratorResult<T, undefined>>;
}

/**
 * Reads a source's first item before anything is sent, so a query that fails
 * as it starts is answered as an error, not as a file cut after its 200. The
 * rows then go on from that item. return() closes the source even when the
 * rows were never read on (the response closed before the file began).
 */
export async function primed<T>(source: AsyncIterable<T>): Promise<PrimedRows<T>> {
  const iterator = source[Symbol.asyncIterator]();
  let first: IteratorResult<T> | null = await iterator.next();
  const rows: PrimedRows<T> = {
    [Symbol.asyncIterator]() {
      return rows;
    },
    next() {
      if (first === null) return iterator.next();
      const item = first;
      first = null;
      return Promise.resolve(item);
    },
    async return() {
      first = null;
      await iterator.return?.();
      return { done: true, value: undefined };
    },
  };
  return rows;
}

export function exportsDir(deps: AppDeps): string {
  return path.join(deps.config.dataDir, 'exports');
}

export interface ExportStarted {
  downloadUrl: string | null;
  exportFormat: string | null;
  exportKey: string | null;
  expiry: string;
}

/**
 * Starts an export: a row with an unguessable key bound to the tenant and a
 * job, written in one transaction. The caller gets the key and the download
 * URL at once; a worker writes the file.
 */
export async function startExport(
  trx: Trx,
  deps: AppDeps,
  actor: { tenantId: number; apiClientId: number },
  criteria: Criteria,
  format: ExportFormat,
  baseUrl: string,
): Promise<ExportStarted> {
  const now = isoNow(deps.clock);
  const key = randomBytes(32).toString('base64url');
  const expiry = new Date(deps.clock.now() + deps.config.EXPORT_TTL_HOURS * 3600_000).toISOString();
  const [row] = await trx('progress_exports')
    .insert({
      export_key: key,
      tenant_id: actor.tenantId,
      api_client_id: actor.apiClientId,
      format,
      query: toJson(criteria),
      state: 'queued',
      created_at: now,
      expires_at: expiry,
    })
    .returning('id');
  await enqueue(trx, 'progress.export', { exportId: row.id }, now, {
    tenantId: actor.tenantId,
    maxAttempts: 3,
  });
  return {
    downloadUrl: `${baseUrl}/v2/e01/api/progress/gradebooks/exports/${key}`,
    exportFormat: format,
    exportKey: key,
    expiry,
  };
}

/** Writes an export's file (to a temporary name, renamed when complete). */
export const exportJob: JobDefinition = {
  name: 'progress.export',
  maxAttempts: 3,
  async run({ deps, job }) {
    const id = job.payload.exportId as number;
    const row = await deps.db('progress_exports').where({ id }).first();
    if (!row || row.state === 'ready') return;
    await deps.db('progress_exports').where({ id }).update({ state: 'running' });
    const criteria = parseJson<Criteria>(row.query) ?? {};
    const format = row.format as ExportFormat;
    const dir = exportsDir(deps);
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${id}.${format}`);
    const partial = `${file}.part`;
    let rows = 0;
    try {
      const fields = projection(criteria.filter, 'model');
      const tenant = await deps.db('tenants').where({ id: row.tenant_id }).first('uuid');
      const source = streamGradebooks(
        deps.db,
        { tenantId: row.tenant_id, organizationId: tenant.uuid },
        criteria,
        fields,
      );
      const counted = (async function* () {
        for await (const r of source) {
          rows++;
          yield r as Record<string, unknown>;
        }
      })();
      await pipeline(serialize(counted, fields, format), fs.createWriteStream(partial));
      fs.renameSync(partial, file);
    } catch (err) {
      fs.rmSync(partial, { force: true });
      if (job.attempt >= job.maxAttempts) {
        await deps
          .db('progress_exports')
          .where({ id })
          .update({
            state: 'failed',
            error: (err as Error).message,
            finished_at: isoNow(deps.clock),
          });
      } else {
        await deps.db('progress_exports').where({ id }).update({ state: 'queued' });
      }
      throw err;
    }
    await deps
      .db('progress_exports')
      .where({ id })
      .update({
        state: 'ready',
        file: path.basename(file),
        rows,
        bytes: fs.statSync(file).size,
        finished_at: isoNow(deps.clock),
      });
  },
};

/** Deletes the files of expired exports; their rows stay a week so a late download hears "expired". */
export const exportCleanupJob: JobDefinition = {
  name: 'progress.exports.cleanup',
  maxAttempts: 3,
  async run({ deps }) {
    const now = isoNow(deps.clock);
    const expired = await deps
      .db('progress_exports')
      .where('expires_at', '<=', now)
      .whereNotNull('file')
      .select('id', 'file');
    for (const e of expired) {
      fs.rmSync(path.join(exportsDir(deps), e.file), { force: true });
      await deps.db('progress_exports').where({ id: e.id }).update({ file: null });
    }
    const forgotten = new Date(deps.clock.now() - 7 * 86400_000).toISOString();
    await deps.db('progress_exports').where('expires_at', '<', forgotten).delete();
  },
};

export const exportCleanupSchedule: RecurringJob = {
  name: 'progress.exports.cleanup',
  everyMs: 10 * 60_000,
};

export type ExportLookup =
  | { state: 'missing' }
  | { state: 'pending' }
  | { state: 'failed'; error: string }
  | { state: 'expired' }
  | { state: 'ready'; file: string; format: ExportFormat; createdAt: string };

/** An export by key, only within its tenant. */
export async function lookupExport(
  db: Db,
  deps: AppDeps,
  tenantId: number,
  key: string,
): Promise<ExportLookup> {
  const row = await db('progress_exports').where({ export_key: key, tenant_id: tenantId }).first();
  if (!row) return { state: 'missing' };
  if (Date.parse(row.expires_at) <= deps.clock.now()) return { state: 'expired' };
  if (row.state === 'failed') return { state: 'failed', error: row.error ?? 'unknown error' };
  if (row.state !== 'ready' || !row.file) return { state: 'pending' };
  return {
    state: 'ready',
    file: path.join(exportsDir(deps), row.file),
    format: row.format,
    createdAt: row.created_at,
  };
}
