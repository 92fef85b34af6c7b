import Router from '@koa/router';
import type { Middleware, ParameterizedContext } from 'koa';
import type { z } from 'zod';
import type { Logger } from '../logger.js';
import type { AppError } from './errors.js';
import { assertCleanInput } from './input.js';
import type { ApiDocs, DocResponse } from './openapi.js';
import { parseOrThrow } from './validation.js';

/** What an authenticated API client may do, resolved from its token. */
export interface Principal {
  tenantId: number;
  /** The tenant's uuid (the Progress organizationId). */
  organizationId: string;
  apiClientId: number;
  clientId: string;
  name: string;
  scopes: ReadonlySet<string>;
  /** users.id that stands for this client in grade history. */
  graderUserId: number | null;
}

export interface AppState {
  requestId: string;
  log: Logger;
  principal?: Principal;
}

export type AppContext = ParameterizedContext<AppState>;
export type AppMiddleware = Middleware<AppState>;

/** The URL the service is reached at, for links in answers: PUBLIC_URL, else the request's own origin. */
export function requestBaseUrl(
  config: { PUBLIC_URL?: string | undefined },
  ctx: AppContext,
): string {
  return config.PUBLIC_URL ?? `${ctx.protocol}://${ctx.host}`;
}

/** Writes an error in a surface's own wire format. */
export type ErrorRenderer = (ctx: AppContext, error: AppError) => void;

type Schema = z.ZodType | undefined;
type Out<S extends Schema> = S extends z.ZodType ? z.output<S> : undefined;

export interface RouteSpec<B extends Schema, Q extends Schema, P extends Schema> {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete' | 'head';
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  /** Authentication for this route; surfaces usually set one for all routes. */
  auth?: AppMiddleware | null;
  bodyParser?: AppMiddleware;
  body?: B;
  query?: Q;
  params?: P;
  /** Documentation of the body when the validating schema is looser (per-item validation). */
  docBody?: z.ZodType;
  bodyContentTypes?: string[];
  /**
   * The body is a batch whose items the handler validates one by one: the
   * input rule then checks its shape only and leaves texts to each item, so
   * one bad item does not fail the others.
   */
  bodyItems?: boolean;
  responses: Record<string, DocResponse>;
  handler: (ctx: AppContext, input: { body: Out<B>; query: Out<Q>; params: Out<P> }) => unknown;
}

export interface SurfaceOptions {
  name: string;
  prefix: string;
  tag: string;
  description: string;
  renderError: ErrorRenderer;
  auth?: AppMiddleware | null;
  security?: Array<Record<string, string[]>>;
}

/**
 * One API surface: a router with its own prefix, authentication and error
 * format. Every route runs auth, then the input rule (src/http/input.ts) and
 * validation, then its handler, and is
 * recorded in the OpenAPI document from the same schemas.
 */
export class Surface {
  readonly router: Router<AppState>;
  readonly renderError: ErrorRenderer;

  constructor(
    readonly options: SurfaceOptions,
    private readonly docs: ApiDocs,
  ) {
    this.router = new Router<AppState>();
    this.renderError = options.renderError;
    docs.addTag(options.tag, options.description);
  }

  get prefix(): string {
    return this.options.prefix;
  }

  route<B extends Schema = undefined, Q extends Schema = undefined, P extends Schema = undefined>(
    spec: RouteSpec<B, Q, P>,
  ): this {
    const auth = spec.auth === undefined ? this.options.auth : spec.auth;
    const chain: AppMiddleware[] = [];
    if (auth) chain.push(auth);
    if (spec.bodyParser) chain.push(spec.bodyParser);
    chain.push(async (ctx) => {
      assertCleanInput([
        { value: ctx.params, where: 'path' },
        { value: ctx.query, where: 'query' },
        { value: ctx.request.body, where: 'body', options: { shapeOnly: spec.bodyItems } },
      ]);
      const input = {
        params: (spec.params ? parseOrThrow(spec.params, ctx.params, 'path') : undefined) as Out<P>,
        query: (spec.query ? parseOrThrow(spec.query, ctx.query, 'query') : undefined) as Out<Q>,
        body: (spec.body ? parseOrThrow(spec.body, ctx.request.body, 'body') : undefined) as Out<B>,
      };
      await spec.handler(ctx as AppContext, input);
    });
    (this.router[spec.method] as (path: string, ...mw: AppMiddleware[]) => unknown).call(
      this.router,
      `${this.options.prefix}${spec.path}`,
      ...chain,
    );
    const bodySchema = spec.docBody ?? spec.body;
    this.docs.add({
      method: spec.method,
      path: `${this.options.prefix}${spec.path}`,
      operationId: spec.operationId,
      summary: spec.summary,
      description: spec.description,
      tag: this.options.tag,
      security: auth ? this.options.security : undefined,
      body: bodySchema
        ? { schema: bodySchema, contentTypes: spec.bodyContentTypes ?? ['application/json'] }
        : undefined,
      query: spec.query,
      params: spec.params,
      responses: spec.responses,
    });
    return this;
  }
}
