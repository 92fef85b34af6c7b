import type { Context } from 'koa';
import { HttpError, badRequest } from './errors.js';

/** No request body may be larger than this (64 MiB): 413 beyond. */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** The raw request body, read whole (at most MAX_BODY_BYTES). */
export async function readBody(ctx: Context): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
      length += chunk.length;
      if (length > MAX_BODY_BYTES) {
        throw new HttpError(413, `The request body is over ${MAX_BODY_BYTES} bytes.`);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof HttpError) throw err;
    // The client went away mid-body: nobody is left to answer, but this is no server error.
    throw new HttpError(400, 'The request body could not be read.');
  }
  return Buffer.concat(chunks);
}

/** Refuses a body declared as anything but JSON (415); a body with no type is read as JSON. */
export function requireJsonType(ctx: Context): void {
  if (ctx.request.type && !ctx.is('json', '+json')) {
    throw new HttpError(415, `Send the request body as application/json, not ${ctx.request.type}.`);
  }
}

/** Parses a JSON body; an empty body is `undefined`. */
export function parseJson(raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    throw badRequest('The request body is not valid JSON.');
  }
}

/** Reads and parses a JSON request body; `undefined` when empty. */
export async function readJson(ctx: Context): Promise<unknown> {
  requireJsonType(ctx);
  return parseJson(await readBody(ctx));
}

export const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Like isPlainObject, without narrowing a typed input to a record. */
export const isObject = (value: unknown): boolean => isPlainObject(value);

/** Reads a JSON body that must be an object (an empty body is `{}` when allowed). */
export async function readJsonObject(
  ctx: Context,
  { allowEmpty = false } = {},
): Promise<Record<string, unknown>> {
  const body = await readJson(ctx);
  if (body === undefined && allowEmpty) return {};
  if (!isPlainObject(body)) throw badRequest('The request body must be a JSON object.');
  return body;
}
