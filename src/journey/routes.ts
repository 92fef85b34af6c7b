import { koaBody } from 'koa-body';
import type { AppDeps } from '../deps.js';
import { inTransaction } from '../db/transaction.js';
import { isoNow } from '../db/time.js';
import { bearerAuth } from '../auth/bearer.js';
import { BadRequestError, normalizeError } from '../http/errors.js';
import type { ApiDocs } from '../http/openapi.js';
import {
  Surface,
  type AppContext,
  type AppMiddleware,
  type ErrorRenderer,
} from '../http/surface.js';
import { z } from '../http/validation.js';
import {
  columnRef,
  gradableItem,
  gradeSchemaItem,
  gradeValueItem,
  itemResult,
  userMetadataItem,
  type ItemResult,
} from './schemas.js';
import type { JourneyActor } from './actor.js';
import { deleteGradeColumns } from './column-delete.js';
import { setExternalGradeColumns } from './external-grade-column.js';
import { upsertGradableItems } from './gradable-items.js';
import { upsertGradeSchemas } from './grade-schemas.js';
import { writeGradeValues } from './grade-values.js';
import { upsertUserMetadata } from './user-metadata.js';
import type { Trx } from '../db/knex.js';

/** Learn's REST error body: {"status": 400, "message": "..."}. */
export const renderLearnError: ErrorRenderer = (ctx, error) => {
  ctx.status = error.status;
  ctx.body = { status: error.status, message: error.message };
};

/**
 * JSON only, within JOURNEY_MAX_BODY bytes; every failure to read the body is
 * a 400 that says what was wrong, before anything is written.
 */
function journeyBody(maxBytes: number): AppMiddleware {
  const parse = koaBody({
    json: true,
    urlencoded: false,
    text: false,
    multipart: false,
    jsonLimit: maxBytes,
    jsonStrict: false,
  });
  return async (ctx, next) => {
    if (!ctx.is('application/json', '+json')) {
      throw new BadRequestError(
        'Request body must be a JSON array sent with Content-Type: application/json.',
      );
    }
    try {
      await parse(ctx, async () => undefined);
    } catch (err) {
      const { error } = normalizeError(err);
      if (error.status === 413)
        throw new BadRequestError(`Request body is larger than the limit of ${maxBytes} bytes.`);
      throw new BadRequestError('Request body is not valid JSON.');
    }
    await next();
  };
}

type Handler = (
  trx: Trx,
  actor: JourneyActor,
  items: unknown[],
  now: string,
) => Promise<ItemResult[]>;

const endpoints: Array<{
  path: string;
  operationId: string;
  summary: string;
  item: z.ZodType;
  handler: Handler;
}> = [
  {
    path: '/gradeSchemasAPI',
    operationId: 'journeyGradeSchemas',
    summary: 'Create or update grade schemas (by title)',
    item: gradeSchemaItem,
    handler: upsertGradeSchemas,
  },
  {
    path: '/gradableItemsAPI',
    operationId: 'journeyGradableItems',
    summary: 'Create or update gradable items and grade columns (by course and name)',
    item: gradableItem,
    handler: upsertGradableItems,
  },
  {
    path: '/gradeColumnDeleteAPI',
    operationId: 'journeyGradeColumnDelete',
    summary: 'Delete grade columns (hidden, history kept)',
    item: columnRef,
    handler: deleteGradeColumns,
  },
  {
    path: '/externalGradeColumnAPI',
    operationId: 'journeyExternalGradeColumn',
    summary: "Set a course's external (final) grade column",
    item: columnRef,
    handler: setExternalGradeColumns,
  },
  {
    path: '/userMetadataAPI',
    operationId: 'journeyUserMetadata',
    summary: 'Create or update enrollment metadata',
    item: userMetadataItem,
    handler: upsertUserMetadata,
  },
  {
    path: '/gradeValueAPI',
    operationId: 'journeyGradeValue',
    summary: 'Update grade values',
    item: gradeValueItem,
    handler: writeGradeValues,
  },
];

/** Blackboard Grades Journey v2 incoming REST API under /learn/api/v2/cc/gradejourney. */
export function journeySurface(deps: AppDeps, docs: ApiDocs): Surface {
  docs.securitySchemes.bearer = { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' };
  const surface = new Surface(
    {
      name: 'journey',
      prefix: '/learn/api/v2/cc/gradejourney',
      tag: 'Grades Journey',
      description:
        'Batches of items in, one {courseId, name, status, message} per item out, in order. A bad item gets status ERROR; the others still apply. Scope: journey.',
      renderError: renderLearnError,
      auth: bearerAuth({ db: deps.db, tokens: deps.tokens, scope: 'journey' }),
      security: [{ bearer: [] }],
    },
    docs,
  );
  const maxItems = deps.config.JOURNEY_MAX_ITEMS;
  const batch = z
    .array(z.unknown(), { error: 'must be a JSON array of items' })
    .max(maxItems, { error: `must hold at most ${maxItems} items` });
  const parser = journeyBody(deps.config.JOURNEY_MAX_BODY);
  for (const endpoint of endpoints) {
    surface.route({
      method: 'post',
      path: endpoint.path,
      operationId: endpoint.operationId,
      summary: endpoint.summary,
      bodyParser: parser,
      body: batch,
      bodyItems: true,
      docBody: z.array(endpoint.item).max(maxItems),
      responses: {
        200: { description: 'One result per item, in order', schema: z.array(itemResult) },
        400: {
          description:
            'The body is not a JSON array, is too large, or holds too many items; nothing was changed',
        },
        401: { description: 'Missing, expired or invalid token' },
        403: { description: 'The token lacks the journey scope' },
      },
      handler: async (ctx: AppContext, { body }) => {
        const principal = ctx.state.principal!;
        const actor: JourneyActor = {
          tenantId: principal.tenantId,
          apiClientId: principal.apiClientId,
          graderUserId: principal.graderUserId,
          name: principal.name,
        };
        ctx.body = await inTransaction(deps.db, (trx) =>
          endpoint.handler(trx, actor, body, isoNow(deps.clock)),
        );
      },
    });
  }
  return surface;
}
