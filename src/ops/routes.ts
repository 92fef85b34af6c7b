import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ping } from '../db/knex.js';
import type { AppDeps } from '../deps.js';
import { bearerAuth } from '../auth/bearer.js';
import { renderPlainError } from '../http/error-handler.js';
import { ServiceUnavailableError } from '../http/errors.js';
import type { ApiDocs } from '../http/openapi.js';
import { Surface } from '../http/surface.js';
import { z } from '../http/validation.js';
import { landingRoutes } from './landing.js';
import type { Metrics } from './metrics.js';

const require = createRequire(import.meta.url);
const swaggerDir = path.dirname(require.resolve('swagger-ui-dist/package.json'));
const assets: Record<string, { file: string; type: string }> = {
  'swagger-ui.css': {
    file: path.join(swaggerDir, 'swagger-ui.css'),
    type: 'text/css; charset=utf-8',
  },
  'swagger-ui-bundle.js': {
    file: path.join(swaggerDir, 'swagger-ui-bundle.js'),
    type: 'application/javascript; charset=utf-8',
  },
};

const docsPage = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>gradebridge API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="docs"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body></html>`;

const docsInit = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#docs', deepLinking: true });`;

/** The landing page, health, readiness, metrics and the API's own documentation. */
export function opsSurface(deps: AppDeps, docs: ApiDocs, metrics: Metrics): Surface {
  const surface = new Surface(
    {
      name: 'ops',
      prefix: '',
      tag: 'Operations',
      description: 'Health, readiness, metrics (admin scope) and this document.',
      renderError: renderPlainError,
      auth: null,
      security: [{ bearer: [] }],
    },
    docs,
  );
  let document: Record<string, unknown> | null = null;
  return landingRoutes(surface, deps)
    .route({
      method: 'get',
      path: '/healthz',
      operationId: 'health',
      summary: 'Liveness: the process answers',
      responses: { 200: { description: 'Alive', schema: z.object({ status: z.literal('ok') }) } },
      handler: (ctx) => {
        ctx.body = { status: 'ok' };
      },
    })
    .route({
      method: 'get',
      path: '/readyz',
      operationId: 'ready',
      summary: 'Readiness: the database answers',
      responses: {
        200: {
          description: 'Ready',
          schema: z.object({ status: z.literal('ready'), database: z.string() }),
        },
        503: { description: 'The database does not answer' },
      },
      handler: async (ctx) => {
        try {
          await ping(deps.db);
        } catch {
          throw new ServiceUnavailableError('The database is not reachable.', 5);
        }
        ctx.body = { status: 'ready', database: deps.config.DATABASE_URL ? 'postgres' : 'sqlite' };
      },
    })
    .route({
      method: 'get',
      path: '/metrics',
      operationId: 'metrics',
      summary: 'Prometheus metrics (admin scope)',
      auth: bearerAuth({ db: deps.db, tokens: deps.tokens, scope: 'admin' }),
      responses: { 200: { description: 'Prometheus text format' } },
      handler: async (ctx) => {
        ctx.type = metrics.registry.contentType;
        ctx.body = await metrics.registry.metrics();
      },
    })
    .route({
      method: 'get',
      path: '/openapi.json',
      operationId: 'openapi',
      summary: 'This OpenAPI document',
      responses: { 200: { description: 'OpenAPI 3.1' } },
      handler: (ctx) => {
        document ??= docs.document(deps.config.publicUrl);
        ctx.body = document;
      },
    })
    .route({
      method: 'get',
      path: '/docs',
      operationId: 'docs',
      summary: 'Interactive API documentation',
      responses: { 200: { description: 'HTML' } },
      handler: (ctx) => {
        ctx.type = 'text/html; charset=utf-8';
        ctx.body = docsPage;
      },
    })
    .route({
      method: 'get',
      path: '/docs/init.js',
      operationId: 'docsInit',
      summary: 'Documentation page script',
      responses: { 200: { description: 'JavaScript' } },
      handler: (ctx) => {
        ctx.type = 'application/javascript; charset=utf-8';
        ctx.body = docsInit;
      },
    })
    .route({
      method: 'get',
      path: '/docs/assets/:name',
      operationId: 'docsAsset',
      summary: 'Documentation page assets',
      params: z.object({ name: z.enum(Object.keys(assets) as [string, ...string[]]) }),
      responses: { 200: { description: 'Asset' } },
      handler: (ctx, { params }) => {
        const asset = assets[params.name]!;
        ctx.type = asset.type;
        ctx.set('Cache-Control', 'public, max-age=86400');
        ctx.body = createReadStream(asset.file);
      },
    });
}
