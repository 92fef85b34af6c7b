import fs from 'node:fs';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

type AddFormats = (ajv: Ajv) => void;
const addFormats = ((addFormatsModule as unknown as { default?: AddFormats }).default ??
  addFormatsModule) as unknown as AddFormats;

/**
 * Validates responses against the Progress API's own OpenAPI file (a copy of
 * specs/progress-gradebooks.openapi.json), with its nullable, format and
 * additionalProperties: false rules.
 */
const spec = JSON.parse(
  fs.readFileSync(
    path.resolve(import.meta.dirname, '../fixtures/progress-gradebooks.openapi.json'),
    'utf8',
  ),
) as {
  paths: Record<
    string,
    Record<string, { responses: Record<string, { content?: Record<string, { schema: object }> }> }>
  >;
  components: object;
};

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
const cache = new Map<string, ValidateFunction>();

/** The contract's 200 response schema of an operation, in one of its media types. */
export function responseValidator(
  specPath: string,
  method: string,
  mediaType = 'application/json',
): ValidateFunction {
  const key = `${method} ${specPath} ${mediaType}`;
  let validate = cache.get(key);
  if (!validate) {
    const operation = spec.paths[specPath]?.[method];
    const schema = operation?.responses['200']?.content?.[mediaType]?.schema;
    if (!schema) throw new Error(`the contract has no ${mediaType} 200 response for ${key}`);
    validate = ajv.compile({ ...schema, components: spec.components });
    cache.set(key, validate);
  }
  return validate;
}

/** Throws with the validator's errors when `body` breaks the contract for that operation. */
export function assertContract(
  specPath: string,
  method: string,
  body: unknown,
  mediaType = 'application/json',
): void {
  const validate = responseValidator(specPath, method, mediaType);
  if (!validate(body)) {
    throw new Error(
      `response breaks the contract of ${method.toUpperCase()} ${specPath}: ${ajv.errorsText(validate.errors)}`,
    );
  }
}

export const schemaOf = (name: string) =>
  (spec.components as { schemas: Record<string, object> }).schemas[name];
