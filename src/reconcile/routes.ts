import { koaBody } from 'koa-body';
import { bearerAuth } from '../auth/bearer.js';
import { isoNow } from '../db/time.js';
import { inTransaction } from '../db/transaction.js';
import type { AppDeps } from '../deps.js';
import { findPerson } from '../grades/final-grades.js';
import { renderPlainError } from '../http/error-handler.js';
import { NotFoundError } from '../http/errors.js';
import type { ApiDocs } from '../http/openapi.js';
import { Surface, type AppContext } from '../http/surface.js';
import { DB_INT_MAX, text, z } from '../http/validation.js';
import { openDrift } from './drift.js';
import { presentReport } from './presenters.js';
import { REPAIR_ACTIONS, repair } from './repair.js';
import { STATES } from './report.js';
import { reconcile } from './service.js';

/**
 * Reconciliation through the service's REST API (scope `reconcile`): the
 * report of a tenant or one course, and repairs of chosen grades.
 */
export function reconcileSurface(deps: AppDeps, docs: ApiDocs): Surface {
  const surface = new Surface(
    {
      name: 'reconcile',
      prefix: '/gradebridge/v1/reconcile',
      tag: 'Reconciliation',
      description:
        'For every grade that leaves gradebridge: what the LMS holds, what gradebridge holds and what the SIS accepted, with one state (in_sync, lms_differs, sis_differs, waiting, failed, unknown); repairs on request. Scope `reconcile`.',
      renderError: renderPlainError,
      auth: bearerAuth({ db: deps.db, tokens: deps.tokens, scope: 'reconcile' }),
      security: [{ bearer: [] }],
    },
    docs,
  );
  const courseOf = async (ctx: AppContext, batchUid: string) => {
    const course = await deps
      .db('courses')
      .where({ tenant_id: ctx.state.principal!.tenantId, batch_uid: batchUid })
      .first('id');
    if (!course) throw new NotFoundError(`There is no course "${batchUid}".`);
    return course.id as number;
  };

  surface.route({
    method: 'get',
    path: '',
    operationId: 'reconcileReport',
    summary:
      "The report of the tenant's grades, or one course's: values on each side, state, counts",
    query: z.object({
      course: text().min(1).max(333).optional().describe("a course's SIS id (Journey courseId)"),
      state: z.enum(STATES).optional().describe('only items in this state'),
    }),
    responses: {
      200: { description: 'The report (recomputed now; drift recorded)' },
      404: { description: 'No such course' },
    },
    handler: async (ctx, { query }) => {
      const tenantId = ctx.state.principal!.tenantId;
      const courseId = query.course ? await courseOf(ctx, query.course) : undefined;
      const report = await reconcile(deps, tenantId, courseId);
      const drift = await openDrift(deps.db, [...new Set(report.items.map((i) => i.courseId))]);
      ctx.body = presentReport(report, drift, query.state ? [query.state] : undefined);
    },
  });
  surface.route({
    method: 'post',
    path: '/repairs',
    operationId: 'reconcileRepair',
    summary: "Repair one grade: resend it to the LMS or the SIS, or take the LMS's value",
    bodyParser: koaBody({ json: true, urlencoded: false, text: false, jsonLimit: '16kb' }),
    body: z.strictObject({
      course: text().min(1).max(333).describe("the course's SIS id"),
      column: z
        .number()
        .int()
        .positive()
        .max(DB_INT_MAX)
        .describe("the column's id (columnId in the report)"),
      user: text()
        .min(1)
        .max(333)
        .describe("the learner's userId in the report (Journey userId or lti:SUB)"),
      action: z.enum(REPAIR_ACTIONS),
    }),
    responses: {
      200: { description: 'Done (recorded with the API client as who asked)' },
      404: { description: 'No such course, column or learner' },
      409: { description: 'The action does not apply (no line item, LMS never read)' },
    },
    handler: async (ctx, { body }) => {
      const p = ctx.state.principal!;
      const courseId = await courseOf(ctx, body.course);
      const learner = await findPerson(deps.db, p.tenantId, body.user);
      if (!learner) throw new NotFoundError(`There is no learner "${body.user}".`);
      const result = await inTransaction(deps.db, (trx) =>
        repair(trx, {
          tenantId: p.tenantId,
          courseId,
          columnId: body.column,
          userId: learner.id,
          action: body.action,
          actor: { userId: p.graderUserId, name: p.name },
          now: isoNow(deps.clock),
        }),
      );
      ctx.body = result;
    },
  });
  return surface;
}
