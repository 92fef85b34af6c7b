import fc from 'fast-check';

/**
 * Generators for the robustness suite: values that follow a route's own JSON
 * Schema (from /openapi.json), hostile values, and valid values with one part
 * replaced by a hostile one.
 */
export type JsonSchema = {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  default?: unknown;
};

export type Hints = Record<string, readonly unknown[]>;

const DATE_MIN = new Date('1990-01-01T00:00:00Z');
const DATE_MAX = new Date('2040-12-31T00:00:00Z');

/** Nested arrays `depth` deep, built without recursion. */
export function nested(depth: number): unknown {
  let value: unknown = [];
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

/** An object whose own key names the prototype machinery (as JSON.parse makes it). */
const prototypeKeyObject = fc
  .constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf')
  .map((key) => JSON.parse(`{"${key}": {"polluted": true}}`) as unknown);

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.constant('\u0000'),
  fc.string({ maxLength: 8 }).map((s) => `${s}\u0000${s}`),
  fc.constantFrom('\uD800', 'a\uDFFFb', '\uDBFF\uDBFF', 'x\uDC00'),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom(
    'x'.repeat(70_000),
    '%'.repeat(3000),
    '_%\\'.repeat(2000),
    "'; drop table grade_versions; --",
    '0000-01-01T00:00:00Z',
    '0000-12-31',
    '10000-01-01',
    '+275760-09-13T00:00:00.000Z',
    '-000001-01-01T00:00:00Z',
    '2026-02-30',
    '2026-13-01T25:61:00Z',
    'NaN',
    'Infinity',
    '1e309',
    '-0',
    '2147483648',
    '-2147483649',
    '9007199254740993',
    '99999999999999999999999999',
    '',
    ' ',
    'sis_course_id:\u0000',
    'sis_user_id:',
    'null',
    '[]',
    '{}',
  ),
);

export const hostileNumber: fc.Arbitrary<number> = fc.constantFrom(
  2 ** 31,
  -(2 ** 31) - 1,
  2 ** 53 + 2,
  -1,
  0,
  1e308,
  -1e308,
  5e-324,
  0.5,
  1e21,
  -0,
);

export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  { weight: 2, arbitrary: hostileNumber },
  fc.constantFrom(null, true, false, [], {}),
  fc.integer({ min: 33, max: 4000 }).map(nested),
  prototypeKeyObject,
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
);

function resolve(doc: unknown, ref: string): JsonSchema {
  let node = doc as Record<string, unknown>;
  for (const part of ref.replace(/^#\//, '').split('/')) node = node[part] as never;
  return node as JsonSchema;
}

function stringFor(schema: JsonSchema): fc.Arbitrary<string> {
  switch (schema.format) {
    case 'date-time':
      return fc
        .date({ min: DATE_MIN, max: DATE_MAX, noInvalidDate: true })
        .map((d) => d.toISOString());
    case 'date':
      return fc
        .date({ min: DATE_MIN, max: DATE_MAX, noInvalidDate: true })
        .map((d) => d.toISOString().slice(0, 10));
    case 'uuid':
      return fc.uuid();
    case 'uri':
    case 'url':
      return fc.webPath().map((p) => `http://127.0.0.1:9${p}`);
    case 'email':
      return fc.emailAddress();
    default: {
      const max = Math.min(schema.maxLength ?? 24, 24);
      const min = Math.min(schema.minLength ?? 0, max);
      return fc.string({ minLength: min, maxLength: max });
    }
  }
}

/**
 * Values that follow the schema. Where a property or parameter name has
 * hints (ids that exist, names in use), those come up often, so requests
 * reach past "not found" into the code behind.
 */
export function fromSchema(
  schema: JsonSchema | undefined,
  doc: unknown,
  hints: Hints = {},
  name?: string,
  depth = 0,
): fc.Arbitrary<unknown> {
  if (!schema || depth > 8) return fc.constant(null);
  const hinted = name && hints[name]?.length ? fc.constantFrom(...hints[name]!) : null;
  const plain = plainFromSchema(schema, doc, hints, depth);
  return hinted
    ? fc.oneof({ weight: 3, arbitrary: hinted }, { weight: 1, arbitrary: plain })
    : plain;
}

function plainFromSchema(
  schema: JsonSchema,
  doc: unknown,
  hints: Hints,
  depth: number,
): fc.Arbitrary<unknown> {
  if (schema.$ref) return fromSchema(resolve(doc, schema.$ref), doc, hints, undefined, depth + 1);
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum?.length) return fc.constantFrom(...schema.enum);
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives?.length)
    return fc.oneof(...alternatives.map((s) => fromSchema(s, doc, hints, undefined, depth + 1)));
  if (schema.allOf?.length) return fromSchema(schema.allOf[0], doc, hints, undefined, depth + 1);
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  if (types.length > 1)
    return fc.oneof(
      ...types.map((type) => plainFromSchema({ ...schema, type }, doc, hints, depth)),
    );
  switch (types[0]) {
    case 'string':
      return stringFor(schema);
    case 'integer': {
      const min = schema.minimum ?? (schema.exclusiveMinimum ?? -1001) + 1;
      const max = schema.maximum ?? (schema.exclusiveMaximum ?? 100_001) - 1;
      return fc.integer({ min: Math.max(min, -1_000_000), max: Math.min(max, 1_000_000) });
    }
    case 'number':
      return fc.double({
        min: Math.max(schema.minimum ?? -1e6, -1e6),
        max: Math.min(schema.maximum ?? 1e6, 1e6),
        noNaN: true,
        noDefaultInfinity: true,
      });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(fromSchema(schema.items, doc, hints, undefined, depth + 1), {
        minLength: Math.min(schema.minItems ?? 0, 3),
        maxLength: Math.min(schema.maxItems ?? 3, 3),
      });
    case 'object':
    case undefined: {
      const properties = schema.properties ?? {};
      if (Object.keys(properties).length === 0)
        return types[0] === 'object' ? fc.constant({}) : fc.jsonValue({ maxDepth: 2 });
      const shape: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [key, child] of Object.entries(properties))
        shape[key] = fromSchema(child, doc, hints, key, depth + 1);
      return fc.record(shape, { requiredKeys: (schema.required ?? []).filter((k) => k in shape) });
    }
    default:
      return fc.constant(null);
  }
}

/** Every place in a JSON value that can be replaced: the root and each element or property. */
function slots(value: unknown): Array<(replacement: unknown) => unknown> {
  const out: Array<(replacement: unknown) => unknown> = [(r) => r];
  const walk = (node: unknown, depth: number) => {
    if (node === null || typeof node !== 'object' || depth > 6) return;
    for (const key of Object.keys(node)) {
      out.push((r) => {
        Object.defineProperty(node, key, { value: r, enumerable: true, writable: true });
        return value;
      });
      walk((node as Record<string, unknown>)[key], depth + 1);
    }
  };
  walk(value, 0);
  return out;
}

/** A valid value with one part replaced by a hostile value, or a hostile field added to an object. */
export function mutated(valid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc
    .tuple(
      valid,
      hostileValue,
      fc.nat(),
      fc.boolean(),
      fc.constantFrom('extra', '__proto__', 'constructor'),
    )
    .map(([value, hostile, pick, addField, field]) => {
      const copy = structuredClone(value);
      if (addField && copy !== null && typeof copy === 'object' && !Array.isArray(copy)) {
        Object.defineProperty(copy, field, { value: hostile, enumerable: true, writable: true });
        return copy;
      }
      const places = slots(copy);
      return places[pick % places.length]!(hostile);
    });
}

/** Valid values (a third), mutated ones (a half) or something else entirely. */
export function bodyValue(valid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 2, arbitrary: valid },
    { weight: 3, arbitrary: mutated(valid) },
    { weight: 1, arbitrary: hostileValue },
  );
}

/** Percent-encodes text as a client would, lone surrogates included (as their WTF-8 bytes). */
export function encodeComponent(text: string): string {
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (/[A-Za-z0-9\-_.~]/.test(ch)) out += ch;
    else if (code >= 0xd800 && code <= 0xdfff) {
      const bytes = [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)];
      out += bytes.map((b) => `%${b.toString(16).toUpperCase()}`).join('');
    } else out += encodeURIComponent(ch);
  }
  return out;
}

/** One of each kind of hostile value, for the systematic pass: every slot gets every one. */
export const HOSTILE_VALUES: readonly unknown[] = [
  'a\u0000b',
  'x\uD800y',
  '\uDC00',
  'x'.repeat(50_001),
  'x'.repeat(300_000),
  '_%\\'.repeat(2000),
  '0000-01-01T00:00:00Z',
  '10000-01-01T00:00:00Z',
  '+275760-09-13T00:00:00.000Z',
  '2147483648',
  2 ** 31,
  -(2 ** 31) - 1,
  2 ** 53 + 2,
  1e308,
  -1,
  0.5,
  null,
  true,
  [],
  {},
  nested(40),
  JSON.parse('{"__proto__": {"polluted": true}}'),
  JSON.parse('{"constructor": "x", "toString": 1}'),
];

/**
 * A valid value, hinted values first: the base of single faults. With
 * `onlyRequired`, objects hold their required properties only (criteria that
 * narrow a query to nothing would hide what a single one does).
 */
export function fullExample(
  schema: JsonSchema | undefined,
  doc: unknown,
  hints: Hints = {},
  name?: string,
  depth = 0,
  onlyRequired = false,
): unknown {
  const fullExample_ = (s: JsonSchema | undefined, n?: string) =>
    fullExample(s, doc, hints, n, depth + 1, onlyRequired);
  if (!schema || depth > 8) return null;
  if (name && hints[name]?.length) return hints[name]![0];
  if (schema.$ref) return fullExample_(resolve(doc, schema.$ref));
  if (schema.const !== undefined) return schema.const;
  if (schema.default !== undefined) return schema.default;
  if (schema.enum?.length) return schema.enum[0];
  const alternatives = schema.anyOf ?? schema.oneOf ?? schema.allOf;
  if (alternatives?.length) {
    const concrete = alternatives.find((s) => s.type !== 'null') ?? alternatives[0];
    return fullExample_(concrete);
  }
  const type = Array.isArray(schema.type)
    ? (schema.type.find((t) => t !== 'null') ?? 'null')
    : schema.type;
  switch (type) {
    case 'string':
      return fc.sample(stringFor({ ...schema, minLength: Math.max(schema.minLength ?? 1, 1) }), {
        seed: 1,
        numRuns: 1,
      })[0];
    case 'integer':
      return Math.max(schema.minimum ?? 1, Math.min(1, schema.maximum ?? 1));
    case 'number':
      return Math.max(schema.minimum ?? 1, Math.min(1, schema.maximum ?? 1));
    case 'boolean':
      return true;
    case 'null':
      return null;
    case 'array':
      return [fullExample_(schema.items)];
    default: {
      const out: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(schema.properties ?? {}))
        if (!onlyRequired || schema.required?.includes(key)) out[key] = fullExample_(child, key);
      // A map (additionalProperties with a schema): one entry, under a hinted key.
      if (!schema.properties && typeof schema.additionalProperties === 'object')
        out[String(hints.$key?.[0] ?? 'key')] = fullExample_(schema.additionalProperties);
      return out;
    }
  }
}

export type Path = Array<string | number>;

/** The path of every element and property in a value, the root (the empty path) first. */
export function paths(value: unknown, max = 6): Path[] {
  const out: Path[] = [[]];
  const walk = (node: unknown, at: Path) => {
    if (node === null || typeof node !== 'object' || at.length >= max) return;
    for (const key of Object.keys(node)) {
      const next = [...at, Array.isArray(node) ? Number(key) : key];
      out.push(next);
      walk((node as Record<string, unknown>)[key], next);
    }
  };
  walk(value, []);
  return out;
}

/** A copy of `value` with the part at `path` replaced (containers on the way made when missing). */
export function replaceAt(value: unknown, path: Path, replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const copy = structuredClone(value) as Record<string | number, unknown>;
  let node = copy;
  path.slice(0, -1).forEach((key, i) => {
    if (node[key] === null || typeof node[key] !== 'object')
      node[key] = typeof path[i + 1] === 'number' ? [] : {};
    node = node[key] as Record<string | number, unknown>;
  });
  Object.defineProperty(node, path[path.length - 1]!, {
    value: replacement,
    enumerable: true,
    writable: true,
    configurable: true,
  });
  return copy;
}
