import crypto from 'node:crypto';
import { buildArtifacts, gzipJson, type PersonFailures } from './artifacts.js';
import { MAX_BODY_BYTES, isObject, isPlainObject } from './request-body.js';
import { parseQuery } from './schemas.js';
import type {
  ChunkRecord,
  ExchangeData,
  ExchangeError,
  ExchangeInput,
  ExchangeJson,
  ExchangeQuery,
  ExchangeRecord,
  ExchangeSource,
} from './types.js';
import { EXCHANGE_ERROR_MESSAGES, TERMINAL_STATES, type ExchangeErrorCode } from './vocabulary.js';

export const DEFAULT_MAX_DATA_CONTENT_LENGTH = 65536;

/** An exchange with what only the emulator needs: chunk hashes and the artifact files. */
export interface StoredExchange {
  record: ExchangeRecord;
  /** sha256 of each accepted body, to the index of the first chunk that had it. */
  hashes: Map<string, number>;
  detailsGz: Buffer | null;
  consumerLogsGz: Buffer | null;
}

export interface ExchangeStoreHooks {
  /** Called once per new exchange (to send its notice). */
  onCreated(record: ExchangeRecord): void;
  /** Called for every accepted chunk that repeats an earlier one. */
  onDuplicate(): void;
  /** Persons the SIS refuses. */
  personFailures: PersonFailures;
  /** The consumer's id for the logs, if one is configured. */
  consumerId(): string | null;
}

const now = () => new Date().toISOString();

const sha256 = (raw: Buffer) => crypto.createHash('sha256').update(raw).digest('hex');

function optionalString(value: unknown, name: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw new Error(`${name} must be a string or null.`);
  return value;
}

/** The exchanges, in creation order, and what happens to them. */
export class ExchangeStore {
  private readonly exchanges = new Map<string, StoredExchange>();

  constructor(private readonly hooks: ExchangeStoreHooks) {}

  /**
   * Creates an exchange in state `created`; throws an Error when the input is
   * wrong. `strict: false` takes any query object as it is (what the API
   * would refuse as malformed), for testing a producer with a query it cannot serve.
   */
  create(
    input: ExchangeInput,
    source: ExchangeSource,
    { scheduleId = null, strict = true }: { scheduleId?: string | null; strict?: boolean } = {},
  ): ExchangeRecord {
    if (!isObject(input)) throw new Error('The exchange input must be an object.');
    let query: ExchangeQuery;
    if (strict) query = parseQuery(input.query);
    else if (isObject(input.query)) query = structuredClone(input.query);
    else throw new Error('query must be an object.');
    const { metadata } = input;
    if (metadata !== undefined && metadata !== null && !isPlainObject(metadata)) {
      throw new Error('metadata must be an object or null.');
    }
    const max = input.maxDataContentLength ?? DEFAULT_MAX_DATA_CONTENT_LENGTH;
    if (!(Number.isInteger(max) && max >= 1 && max <= MAX_BODY_BYTES)) {
      throw new Error(`maxDataContentLength must be an integer from 1 to ${MAX_BODY_BYTES}.`);
    }
    const at = now();
    const record: ExchangeRecord = {
      id: crypto.randomUUID(),
      query,
      metadata: metadata === undefined ? {} : metadata,
      state: 'created',
      maxDataContentLength: max,
      errorCount: 0,
      courseAppId: optionalString(input.courseAppId, 'courseAppId'),
      batchExchangeId: optionalString(input.batchExchangeId, 'batchExchangeId'),
      createdAt: at,
      updatedAt: at,
      source,
      scheduleId,
      chunks: [],
      rejected: [],
      errors: [],
      artifacts: { details: null, consumerLogs: null },
    };
    this.exchanges.set(record.id, {
      record,
      hashes: new Map(),
      detailsGz: null,
      consumerLogsGz: null,
    });
    this.hooks.onCreated(record);
    return record;
  }

  get(id: string): StoredExchange | undefined {
    return this.exchanges.get(id);
  }

  all(): StoredExchange[] {
    return [...this.exchanges.values()];
  }

  /** Whether the exchange still takes data and errors. */
  isOpen(exchange: StoredExchange): boolean {
    return !TERMINAL_STATES.includes(exchange.record.state);
  }

  /**
   * Records a data post (already checked): a chunk, counted as a duplicate
   * when its bytes equal an earlier one's. `final` completes the exchange and
   * produces its artifacts; otherwise it is `in_progress`.
   */
  addChunk(exchange: StoredExchange, raw: Buffer, body: ExchangeData): ChunkRecord {
    const { record } = exchange;
    const hash = sha256(raw);
    const first = exchange.hashes.get(hash);
    const chunk: ChunkRecord = {
      index: record.chunks.length,
      bytes: raw.length,
      body,
      final: body.final === true,
      receivedAt: now(),
      ...(first === undefined ? {} : { duplicateOf: first }),
    };
    record.chunks.push(chunk);
    if (first === undefined) exchange.hashes.set(hash, chunk.index);
    else this.hooks.onDuplicate();
    record.updatedAt = chunk.receivedAt;
    if (!chunk.final) {
      record.state = 'in_progress';
      return chunk;
    }
    record.state = 'completed';
    const artifacts = buildArtifacts(
      record.id,
      record.chunks,
      this.hooks.personFailures,
      this.hooks.consumerId(),
      chunk.receivedAt,
    );
    record.artifacts = artifacts;
    exchange.detailsGz = gzipJson(artifacts.details);
    exchange.consumerLogsGz = artifacts.consumerLogs ? gzipJson(artifacts.consumerLogs) : null;
    return chunk;
  }

  /** Notes a data post refused after its body was read. */
  reject(exchange: StoredExchange, raw: Buffer, status: number, message: string): void {
    const duplicateOf = exchange.hashes.get(sha256(raw));
    exchange.record.rejected.push({
      receivedAt: now(),
      bytes: raw.length,
      status,
      message,
      ...(duplicateOf === undefined ? {} : { duplicateOf }),
    });
  }

  /** Records errors from the producer: each counts, and the exchange fails. */
  addErrors(
    exchange: StoredExchange,
    errors: Array<{ code: ExchangeErrorCode; details: string | null }>,
  ): ExchangeError[] {
    const { record } = exchange;
    const at = now();
    const created = errors.map(({ code, details }): ExchangeError => ({
      id: crypto.randomUUID(),
      created_at: at,
      updated_at: at,
      code,
      message: EXCHANGE_ERROR_MESSAGES[code],
      details,
    }));
    record.errors.push(...created);
    record.errorCount += created.length;
    record.state = 'failed';
    record.updatedAt = at;
    return created;
  }
}

/** An exchange as the API answers it: the spec's fields plus id, created_at and updated_at. */
export function exchangeJson(record: ExchangeRecord): ExchangeJson {
  return {
    id: record.id,
    query: record.query,
    metadata: record.metadata,
    state: record.state,
    max_data_content_length: record.maxDataContentLength,
    error_count: record.errorCount,
    course_app_id: record.courseAppId,
    batch_exchange_id: record.batchExchangeId,
    created_at: record.createdAt,
    updated_at: record.updatedAt,
  };
}
