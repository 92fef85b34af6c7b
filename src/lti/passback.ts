import type { GradeFollower } from '../grades/followers.js';
import { toIso } from '../db/time.js';
import { enqueueScoreSends } from '../grades/lms-score-sends.js';
import { PermanentFailure, RetryLater, type JobDefinition } from '../jobs/worker.js';
import { isoNow } from '../db/time.js';
import { answerExcerpt } from './engine.js';
import { recordLmsReading, recordLmsSend, scoreInPoints, type LmsGradeKey } from './lms-grades.js';
import { AGS } from './services.js';

/**
 * Score passback: the `lti.score` jobs `enqueueScoreSends` queues (one per
 * grade) send the grade as it is when they run, stamped with the time it was
 * given, so a platform that holds a newer score keeps it.
 */

/** A line item's sub-service URL (`scores`, `results`), keeping the line item's own query. */
function serviceUrl(lineItemUrl: string, service: 'scores' | 'results', extra = ''): string {
  const [base, query] = lineItemUrl.split('?', 2);
  const params = [query, extra].filter(Boolean).join('&');
  return `${base}/${service}${params ? `?${params}` : ''}`;
}

export const scoreJob: JobDefinition = {
  name: 'lti.score',
  maxAttempts: 8,
  async run({ deps, job, log }) {
    const columnId = job.payload.columnId as number;
    const userId = job.payload.userId as number;
    const tenantId = job.tenantId!;
    const column = await deps
      .db('grade_columns')
      .where({ id: columnId, tenant_id: tenantId })
      .first('id', 'course_id', 'points', 'deleted_at');
    if (!column || column.deleted_at) return;
    const grade = await deps
      .db('submissions')
      .where({ column_id: columnId, user_id: userId })
      .first('score', 'graded_at');
    if (!grade) return;
    const lineItems = await deps
      .db('external_ids')
      .where({ tenant_id: tenantId, kind: 'lineitem', local_id: columnId })
      .select('system', 'external_id');
    for (const li of lineItems) {
      const issuer = li.system as string;
      const sub = await deps
        .db('external_ids')
        .where({ tenant_id: tenantId, kind: 'user', system: issuer, local_id: userId })
        .first('external_id');
      if (!sub) continue; // The learner has no account on that platform.
      const context = await deps
        .db('lti_contexts as x')
        .join('lti_deployments as d', 'd.id', 'x.deployment_row_id')
        .where({ 'x.course_id': column.course_id, 'd.issuer': issuer })
        .orderBy('x.updated_at', 'desc')
        .first('d.client_id', 'x.ags_scopes');
      if (!context) continue;
      if (
        !String(context.ags_scopes ?? '')
          .split(' ')
          .includes(AGS.score)
      ) {
        throw new PermanentFailure('the platform did not grant the score scope');
      }
      const timestamp = toIso(grade.graded_at) ?? new Date(deps.clock.now()).toISOString();
      const body =
        grade.score === null
          ? {
              userId: sub.external_id,
              timestamp,
              activityProgress: 'Initialized',
              gradingProgress: 'NotReady',
            }
          : {
              userId: sub.external_id,
              scoreGiven: grade.score,
              scoreMaximum: column.points > 0 ? column.points : Math.max(grade.score, 1),
              timestamp,
              activityProgress: 'Completed',
              gradingProgress: 'FullyGraded',
            };
      const send = async () => {
        const authorization = await deps.lti.engine.accessToken(
          issuer,
          context.client_id,
          tokenScopes,
        );
        return fetch(serviceUrl(li.external_id, 'scores'), {
          method: 'POST',
          headers: {
            Authorization: authorization,
            'Content-Type': 'application/vnd.ims.lis.v1.score+json',
          },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(15_000),
        });
      };
      const limiter = deps.lti.limiter(issuer);
      // One token for the score and its read-back (a platform grants both scopes in one).
      const canReadBack = String(context.ags_scopes ?? '')
        .split(' ')
        .includes(AGS.resultRead);
      const tokenScopes = canReadBack ? [AGS.score, AGS.resultRead] : [AGS.score];
      /** The learner's result in the line item as the platform holds it, recorded. */
      const readBack = async (key: LmsGradeKey, platformUserId: string, points: number) => {
        const res = await limiter.schedule(async () =>
          fetch(
            serviceUrl(key.lineItem, 'results', `user_id=${encodeURIComponent(platformUserId)}`),
            {
              headers: {
                Authorization: await deps.lti.engine.accessToken(
                  issuer,
                  context.client_id,
                  tokenScopes,
                ),
                Accept: 'application/vnd.ims.lis.v2.resultcontainer+json',
              },
              signal: AbortSignal.timeout(15_000),
            },
          ),
        );
        if (!res.ok) throw new Error(`results answered ${res.status}`);
        const results = (await res.json()) as Array<Record<string, unknown>>;
        const mine = Array.isArray(results)
          ? results.find((r) => r.userId === platformUserId)
          : undefined;
        const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
        await recordLmsReading(
          deps.db,
          key,
          scoreInPoints(num(mine?.resultScore), num(mine?.resultMaximum), points),
          isoNow(deps.clock),
        );
      };
      const where = { lineItem: li.external_id, columnId, userId };
      const attempt = async () => {
        try {
          return await limiter.schedule(send);
        } catch (err) {
          // No answer (a network failure, a timeout) or no token: the job retries with backoff.
          log.warn({ ...where, err }, 'LTI score not sent');
          throw err;
        }
      };
      let res = await attempt();
      let renewed = false;
      if (res.status === 401) {
        // The platform revoked the cached token (a restart, a rotation): forget it, try once more.
        await res.body?.cancel();
        await deps.lti.engine.dropAccessTokens(issuer, context.client_id);
        renewed = true;
        res = await attempt();
      }
      const key: LmsGradeKey = {
        tenantId,
        courseId: column.course_id,
        columnId,
        userId,
        lineItem: li.external_id,
      };
      if (res.ok) {
        await res.body?.cancel();
        await recordLmsSend(deps.db, key, {
          score: grade.score,
          status: 'sent',
          now: isoNow(deps.clock),
        });
        log.info({ lineItem: li.external_id, status: res.status, renewed }, 'score sent');
        // Read back what the platform holds now: a platform may answer 2xx and keep an older score.
        if (
          String(context.ags_scopes ?? '')
            .split(' ')
            .includes(AGS.resultRead)
        ) {
          await readBack(key, sub.external_id, column.points).catch((err: unknown) =>
            log.warn({ ...where, err }, 'LTI result not read back'),
          );
        }
        continue;
      }
      const answer = answerExcerpt(await res.text());
      const detail = `${res.status}${answer ? ` ${answer}` : ''}`;
      if (res.status !== 429)
        await recordLmsSend(deps.db, key, {
          score: grade.score,
          status: res.status >= 400 && res.status < 500 ? 'refused' : 'failed',
          error: detail,
          now: isoNow(deps.clock),
        });
      if (res.status === 429) {
        const after = Number(res.headers.get('retry-after'));
        throw new RetryLater(
          Number.isFinite(after) && after > 0 ? after * 1000 : 5000,
          `the platform throttled scores: ${detail}`,
        );
      }
      log.warn({ ...where, status: res.status, answer }, 'LTI score not sent');
      if (res.status === 401) {
        // A new token was refused too: the tool lost its access here (removed from the course, key off).
        throw new PermanentFailure(`the platform refused a new access token: ${detail}`);
      }
      if (res.status === 404) {
        // The teacher deleted the line item in the LMS: stop sending to it.
        await deps
          .db('external_ids')
          .where({
            tenant_id: tenantId,
            kind: 'lineitem',
            system: issuer,
            external_id: li.external_id,
          })
          .delete();
        throw new PermanentFailure(`the line item is gone from the platform: ${detail}`);
      }
      if (res.status >= 400 && res.status < 500)
        throw new PermanentFailure(`the platform refused the score: ${detail}`);
      throw new Error(`the platform failed: ${detail}`);
    }
  },
};

/** Follows grade changes: grades of columns linked to a line item go back to the LMS (except those that came from it). */
export const scorePassbackFollower: GradeFollower = {
  name: 'LMS score passback',
  follow: async (trx, batch) => {
    await enqueueScoreSends(
      trx,
      batch.tenantId,
      batch.changes.filter((c) => c.source !== 'ags'),
      batch.now,
    );
  },
};
