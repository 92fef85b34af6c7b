import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { Db, Executor } from '../db/knex.js';
import { parseJson } from '../db/json.js';

/**
 * ltijs's storage plugin on the service's own knex: its seven methods
 * (setup, Close, Get, Insert, Replace, Modify, Delete) over one table per
 * collection. The fields ltijs queries by are indexed columns; the rest of a
 * document is JSON. Keys and access tokens are encrypted (AES-256-GCM with a
 * key derived from ltijs's encryption key).
 */
type Doc = Record<string, unknown>;

interface Collection {
  table: string;
  /** ltijs field -> column, for the fields it queries by. */
  keys: Record<string, string>;
  /** Stored encrypted (iv/data columns) instead of as a JSON doc. */
  encrypted?: boolean;
  /** A fixed column value that tells collections sharing a table apart. */
  discriminator?: [string, string];
  createdAt?: boolean;
  /** The fields of the table's unique key: a Replace by exactly these is one upsert. */
  unique?: string[];
  /** The table has no doc column: a document is its key fields. */
  keysOnly?: boolean;
}

/** ltijs keeps the tool's key pairs as two collections; one table holds both. */
const keyCollection = (kind: 'public' | 'private'): Collection => ({
  table: 'lti_keys',
  keys: { kid: 'kid', platformUrl: 'platform_url', clientId: 'client_id' },
  encrypted: true,
  discriminator: ['kind', kind],
  createdAt: true,
});

const COLLECTIONS: Record<string, Collection> = {
  idtoken: {
    table: 'lti_idtokens',
    keys: { iss: 'iss', clientId: 'client_id', deploymentId: 'deployment_id', user: 'user_sub' },
    createdAt: true,
    unique: ['iss', 'clientId', 'deploymentId', 'user'],
  },
  contexttoken: {
    table: 'lti_contexttokens',
    keys: { contextId: 'context_id', user: 'user_sub' },
    createdAt: true,
    unique: ['contextId', 'user'],
  },
  platform: {
    table: 'lti_platforms',
    keys: { kid: 'kid', platformUrl: 'platform_url', clientId: 'client_id' },
    createdAt: true,
  },
  platformStatus: { table: 'lti_platform_status', keys: { id: 'id' } },
  publickey: keyCollection('public'),
  privatekey: keyCollection('private'),
  accesstoken: {
    table: 'lti_access_tokens',
    keys: { platformUrl: 'platform_url', clientId: 'client_id', scopes: 'scopes' },
    encrypted: true,
    createdAt: true,
  },
  nonce: { table: 'lti_nonces', keys: { nonce: 'nonce' }, createdAt: true, keysOnly: true },
  state: { table: 'lti_states', keys: { state: 'state' }, createdAt: true },
};

/** How a value of a field ltijs queries by is stored in its column. */
const columnValue = (value: unknown): string | null =>
  value === undefined || value === null ? null : String(value);

function collection(name: string): Collection {
  const c = COLLECTIONS[name];
  if (!c) throw new Error(`ltijs asked for an unknown collection "${name}"`);
  return c;
}

export class KnexLtiStore {
  private readonly cipherKeys = new Map<string, Buffer>();

  constructor(
    private readonly db: Db,
    private readonly now: () => string = () => new Date().toISOString(),
  ) {}

  // ltijs calls setup() on deploy and Close() on close; the connection is the service's.
  async setup(): Promise<true> {
    return true;
  }

  async Close(): Promise<true> {
    return true;
  }

  private cipherKey(secret: string): Buffer {
    let key = this.cipherKeys.get(secret);
    if (!key)
      this.cipherKeys.set(
        secret,
        (key = createHash('sha256').update(`ltijs-store:${secret}`).digest()),
      );
    return key;
  }

  private encrypt(secret: string, value: unknown): { iv: string; data: string } {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.cipherKey(secret), iv);
    const data = Buffer.concat([
      cipher.update(JSON.stringify(value), 'utf8'),
      cipher.final(),
      cipher.getAuthTag(),
    ]);
    return { iv: iv.toString('base64'), data: data.toString('base64') };
  }

  private decrypt(secret: string, iv: string, data: string): Doc {
    const raw = Buffer.from(data, 'base64');
    const decipher = createDecipheriv(
      'aes-256-gcm',
      this.cipherKey(secret),
      Buffer.from(iv, 'base64'),
    );
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    const text = Buffer.concat([
      decipher.update(raw.subarray(0, raw.length - 16)),
      decipher.final(),
    ]).toString('utf8');
    return JSON.parse(text) as Doc;
  }

  /** Rows matching a query: indexed fields in SQL, any other field checked on the document. */
  private select(executor: Executor, c: Collection, query: Doc | undefined) {
    const q = executor(c.table);
    if (c.discriminator) q.where(c.discriminator[0], c.discriminator[1]);
    const rest: Doc = {};
    for (const [field, value] of Object.entries(query ?? {})) {
      const column = c.keys[field];
      if (column) q.where(column, columnValue(value));
      else rest[field] = value;
    }
    return { q, rest };
  }

  private document(c: Collection, row: Record<string, unknown>, secret: string | false): Doc {
    const doc =
      c.encrypted && secret
        ? this.decrypt(secret, row.iv as string, row.data as string)
        : c.encrypted
          ? { iv: row.iv, data: row.data }
          : (parseJson<Doc>(row.doc) ?? {});
    for (const [field, column] of Object.entries(c.keys)) doc[field] ??= row[column];
    if (c.createdAt && row.created_at) doc.createdAt = Date.parse(row.created_at as string);
    return doc;
  }

  private matches(doc: Doc, rest: Doc): boolean {
    return Object.entries(rest).every(([k, v]) => JSON.stringify(doc[k]) === JSON.stringify(v));
  }

  async Get(secret: string | false, name: string, query?: Doc): Promise<Doc[] | false> {
    const c = collection(name);
    const { q, rest } = this.select(this.db, c, query);
    const docs = ((await q) as Array<Record<string, unknown>>)
      .map((row) => this.document(c, row, secret))
      .filter((doc) => this.matches(doc, rest));
    return docs.length === 0 ? false : docs;
  }

  private row(
    c: Collection,
    secret: string | false,
    item: Doc,
    index: Doc | undefined,
  ): Record<string, unknown> {
    const source = c.encrypted ? { ...item, ...index } : item;
    const row: Record<string, unknown> = {};
    for (const [field, column] of Object.entries(c.keys)) {
      row[column] = columnValue(source[field] ?? index?.[field]);
    }
    if (c.discriminator) row[c.discriminator[0]] = c.discriminator[1];
    if (c.encrypted) {
      if (!secret) throw new Error(`collection ${c.table} is stored encrypted; ltijs sent no key`);
      Object.assign(row, this.encrypt(secret, item));
    } else if (!c.keysOnly) {
      row.doc = JSON.stringify(item);
    }
    if (c.createdAt) row.created_at = this.now();
    return row;
  }

  async Insert(secret: string | false, name: string, item: Doc, index?: Doc): Promise<true> {
    const c = collection(name);
    await this.db(c.table).insert(this.row(c, secret, item, index));
    return true;
  }

  /** Replaces the matching documents with one (creating it when none matched), atomically. */
  async Replace(
    secret: string | false,
    name: string,
    query: Doc,
    item: Doc,
    index?: Doc,
  ): Promise<true> {
    const c = collection(name);
    const row = this.row(c, secret, item, index);
    if (c.unique && this.byUniqueKey(c, query, row)) {
      // The query names exactly the row the unique key identifies: one upsert.
      await this.db(c.table)
        .insert(row)
        .onConflict(c.unique.map((f) => c.keys[f]!))
        .merge();
      return true;
    }
    await this.db.transaction(async (trx) => {
      const { q } = this.select(trx, c, query);
      await q.delete();
      await trx(c.table).insert(row);
    });
    return true;
  }

  /** Whether a query is the collection's unique key, with the values the new row has. */
  private byUniqueKey(c: Collection, query: Doc, row: Record<string, unknown>): boolean {
    const fields = Object.keys(query);
    return (
      fields.length === c.unique!.length &&
      c.unique!.every((f) => {
        const value = query[f];
        return value !== undefined && value !== null && String(value) === row[c.keys[f]!];
      })
    );
  }

  /** Merges a modification into the matching documents (and their indexed columns). */
  async Modify(secret: string | false, name: string, query: Doc, modification: Doc): Promise<true> {
    const c = collection(name);
    await this.db.transaction(async (trx) => {
      const { q, rest } = this.select(trx, c, query);
      const rows = (await q) as Array<Record<string, unknown>>;
      for (const row of rows) {
        const update: Record<string, unknown> = {};
        for (const [field, value] of Object.entries(modification)) {
          const column = c.keys[field];
          if (column) update[column] = columnValue(value);
        }
        if (!c.encrypted) {
          const doc = parseJson<Doc>(row.doc) ?? {};
          if (!this.matches(doc, rest)) continue;
          update.doc = JSON.stringify({ ...doc, ...modification });
        } else if (secret) {
          Object.assign(
            update,
            this.encrypt(secret, {
              ...this.decrypt(secret, row.iv as string, row.data as string),
              ...modification,
            }),
          );
        }
        if (Object.keys(update).length > 0)
          await trx(c.table).where(this.primary(c, row)).update(update);
      }
    });
    return true;
  }

  /** What identifies a row: its id, or (tables without one) its key columns. */
  private primary(c: Collection, row: Record<string, unknown>): Record<string, unknown> {
    if ('id' in row) return { id: row.id };
    const where: Record<string, unknown> = {};
    for (const column of Object.values(c.keys)) where[column] = row[column];
    return where;
  }

  async Delete(name: string, query: Doc): Promise<true> {
    const c = collection(name);
    const { q, rest } = this.select(this.db, c, query);
    if (Object.keys(rest).length === 0) {
      await q.delete();
      return true;
    }
    const rows = (await q) as Array<Record<string, unknown>>;
    for (const row of rows) {
      if (this.matches(this.document(c, row, false), rest)) {
        await this.db(c.table).where(this.primary(c, row)).delete();
      }
    }
    return true;
  }
}
