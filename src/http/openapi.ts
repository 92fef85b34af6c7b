import { z } from 'zod';

export interface DocResponse {
  description: string;
  schema?: z.ZodType;
  contentType?: string;
}

export interface DocOperation {
  method: string;
  path: string;
  operationId: string;
  summary: string;
  description?: string | undefined;
  tag: string;
  security?: Array<Record<string, string[]>> | undefined;
  body?: { schema: z.ZodType; contentTypes: string[] } | undefined;
  query?: z.ZodType | undefined;
  params?: z.ZodType | undefined;
  responses: Record<string, DocResponse>;
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  delete out.$schema;
  return out;
}

function parameters(schema: z.ZodType | undefined, where: 'query' | 'path') {
  if (!schema || !(schema instanceof z.ZodObject)) return [];
  const json = jsonSchema(schema, 'input') as {
    properties?: Record<string, unknown>;
    required?: string[];
  };
  return Object.entries(json.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || (json.required ?? []).includes(name),
    schema: s,
  }));
}

/** Collects every route's schemas and renders the OpenAPI document served at /openapi.json. */
export class ApiDocs {
  private readonly operations: DocOperation[] = [];
  readonly securitySchemes: Record<string, unknown> = {};
  readonly tags: Array<{ name: string; description: string }> = [];

  add(operation: DocOperation): void {
    this.operations.push(operation);
  }

  addTag(name: string, description: string): void {
    if (!this.tags.some((t) => t.name === name)) this.tags.push({ name, description });
  }

  document(serverUrl: string): Record<string, unknown> {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const op of this.operations) {
      const path = op.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      const responses: Record<string, unknown> = {};
      for (const [status, r] of Object.entries(op.responses)) {
        responses[status] = {
          description: r.description,
          ...(r.schema
            ? {
                content: {
                  [r.contentType ?? 'application/json']: { schema: jsonSchema(r.schema, 'output') },
                },
              }
            : {}),
        };
      }
      (paths[path] ??= {})[op.method] = {
        operationId: op.operationId,
        summary: op.summary,
        ...(op.description ? { description: op.description } : {}),
        tags: [op.tag],
        ...(op.security ? { security: op.security } : {}),
        parameters: [...parameters(op.params, 'path'), ...parameters(op.query, 'query')],
        ...(op.body
          ? {
              requestBody: {
                required: true,
                content: Object.fromEntries(
                  op.body.contentTypes.map((t) => [
                    t,
                    { schema: jsonSchema(op.body!.schema, 'input') },
                  ]),
                ),
              },
            }
          : {}),
        responses,
      };
    }
    return {
      openapi: '3.1.0',
      info: {
        title: 'gradebridge',
        version: '0.1.0',
        description:
          'Grade integration service: Grades Journey incoming API, Canvas-style gradebook history, Progress gradebooks, LTI 1.3 tool and Data Sync Grades Exchange.',
      },
      servers: [{ url: serverUrl }],
      tags: this.tags,
      paths,
      components: { securitySchemes: this.securitySchemes },
    };
  }
}
