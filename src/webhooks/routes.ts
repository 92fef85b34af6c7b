import getRawBody from 'raw-body';
import jwt from 'jsonwebtoken';
import type { z } from 'zod';
import type { AppDeps } from '../deps.js';
import { isoNow } from '../db/time.js';
import { inTransaction } from '../db/transaction.js';
import { AppError, BadRequestError } from '../http/errors.js';
import { renderPlainError } from '../http/error-handler.js';
import { assertCleanInput } from '../http/input.js';
import type { ApiDocs } from '../http/openapi.js';
import { Surface, type AppContext } from '../http/surface.js';
import { DB_INT_MAX, describeIssues, formatIssues, z as zod } from '../http/validation.js';
import { canvasEvent, canvasEventId, dataSyncNotice, gradeWebhook, recordEvent } from './events.js';
import {
  caliperEnvelope,
  caliperEventName,
  caliperRootAccount,
  isCaliperEnvelope,
} from './caliper.js';
import { acceptedSecrets, type SecretPair } from './rotate-secret.js';
import { checkSignature } from './signature.js';

const senderParams = zod.object({ sender: zod.coerce.number().int().positive().max(DB_INT_MAX) });

/**
 * Webhooks in: Data Sync's exchange notices, Canvas Live Events, and
 * gradebridge's own signed grade webhook. Each request is verified on its raw
 * body before anything else, recorded once by sender and event id (a replay
 * is acknowledged and dropped), answered at once, and processed by a job.
 */
export function webhooksSurface(deps: AppDeps, docs: ApiDocs): Surface {
  const surface = new Surface(
    {
      name: 'webhooks',
      prefix: '/webhooks',
      tag: 'Webhooks',
      description:
        'Signed events from Data Sync (an exchange is waiting), Canvas Live Events (grade_change, submission_updated) and other grade senders. Each is verified, deduplicated by event id, answered with 202 and processed by a job.',
      renderError: renderPlainError,
      auth: null,
    },
    docs,
  );

  const rawBody = async (ctx: AppContext): Promise<Buffer> => {
    try {
      return await getRawBody(ctx.req, { limit: deps.config.WEBHOOK_MAX_BODY });
    } catch (err) {
      if ((err as { type?: string }).type === 'entity.too.large')
        throw new AppError(
          413,
          'payload_too_large',
          `The body is larger than ${deps.config.WEBHOOK_MAX_BODY} bytes.`,
        );
      throw new BadRequestError('The body could not be read.');
    }
  };
  /** The event, checked against its schema: a 400 `malformed` naming the problems otherwise. */
  const validate = <S extends z.ZodType>(value: unknown, schema: S): z.output<S> => {
    assertCleanInput([{ value, where: 'body' }]);
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      throw new BadRequestError(
        `The event is malformed: ${describeIssues(formatIssues(parsed.error).slice(0, 5))}`,
        { code: 'malformed' },
      );
    }
    return parsed.data;
  };
  const parseJson = <S extends z.ZodType>(raw: Buffer, schema: S): z.output<S> => {
    let value: unknown;
    try {
      value = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new BadRequestError('The body is not JSON.', { code: 'malformed' });
    }
    return validate(value, schema);
  };
  /** Checks the signature with each secret accepted now (the current one; the previous one during a rotation's overlap). */
  const verifyHmac = (ctx: AppContext, pair: SecretPair, raw: Buffer, header: string) => {
    const result = checkSignature(
      acceptedSecrets(deps.secrets, pair, deps.clock.now()),
      ctx.get(header) || undefined,
      raw,
      Math.floor(deps.clock.now() / 1000),
      deps.config.WEBHOOK_TOLERANCE_SECONDS,
    );
    if (result !== 'ok') {
      const why = {
        missing: `the ${header} header is missing`,
        malformed: `the ${header} header is malformed`,
        stale: 'the signature timestamp is outside the allowed window',
        mismatch: 'the signature does not match the body',
      }[result];
      ctx.state.log.warn({ reason: result }, 'webhook refused');
      throw new AppError(401, 'bad_signature', `The signature was refused: ${why}.`);
    }
  };
  const accepted = (ctx: AppContext, recorded: boolean, eventId: string) => {
    ctx.status = recorded ? 202 : 200;
    ctx.body = { status: recorded ? 'accepted' : 'duplicate', eventId };
  };
  const responses = {
    202: { description: 'Verified and recorded; processed by a job' },
    200: { description: 'A replay of an event already recorded; nothing more is done' },
    400: { description: 'Malformed event' },
    401: { description: 'Bad or missing signature, or an unsigned event' },
    404: { description: 'Unknown sender' },
  };

  surface.route({
    method: 'post',
    path: '/datasync/:sender',
    operationId: 'dataSyncNotice',
    summary: 'Data Sync notice: an exchange is waiting',
    description:
      'Signed with the connection\'s notice secret: `X-DataSync-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. Body `{"id", "type": "grades.exchange.created", "data": {"exchange_id"}}`.',
    params: senderParams,
    responses,
    handler: async (ctx, { params }) => {
      const raw = await rawBody(ctx);
      const conn = await deps.exchange.connectionById(deps.db, params.sender);
      if (!conn) throw new AppError(404, 'not_found', 'No such Data Sync connection.');
      verifyHmac(
        ctx,
        {
          secret: conn.notice_secret,
          previous: conn.previous_notice_secret ?? null,
          previousUntil: conn.previous_notice_secret_until ?? null,
        },
        raw,
        'X-DataSync-Signature',
      );
      const notice = parseJson(raw, dataSyncNotice);
      const recorded = await inTransaction(deps.db, (trx) =>
        recordEvent(
          trx,
          conn.tenant_id,
          `datasync:${conn.id}`,
          notice.id,
          notice.type,
          notice,
          isoNow(deps.clock),
        ),
      );
      accepted(ctx, recorded, notice.id);
    },
  });

  surface.route({
    method: 'post',
    path: '/canvas/:sender',
    operationId: 'canvasLiveEvent',
    summary: 'Canvas Live Events (grade_change, submission_updated; Canvas or Caliper 1.1 format)',
    description:
      "The body is the event as a JWT signed with RS256 by a key in the sender's JWKS (found by `kid`); its payload is Canvas's `{metadata, body}` or a Caliper 1.1 envelope `{sensor, sendTime, dataVersion, data: [GradeEvent]}`. Other algorithms are refused, and so are unsigned events (401 `unsigned`): anyone can post to this URL, and only Canvas's signature shows the event is Canvas's.",
    params: senderParams,
    responses,
    handler: async (ctx, { params }) => {
      const raw = await rawBody(ctx);
      const sender = await deps
        .db('webhook_senders')
        .where({ id: params.sender, kind: 'canvas' })
        .first('id', 'tenant_id', 'jwks_url', 'issuer', 'account');
      if (!sender) throw new AppError(404, 'not_found', 'No such Canvas event sender.');
      const token = raw.toString('utf8').trim();
      if (token.startsWith('{') || token.startsWith('['))
        throw new AppError(
          401,
          'unsigned',
          "Unsigned events are refused: turn on signing in Canvas's Live Events subscription, so the body is a JWT signed with a key of Canvas's keyset.",
        );
      const decoded = jwt.decode(token, { complete: true });
      if (!decoded || typeof decoded.payload !== 'object')
        throw new BadRequestError('The body is not a signed JWT.', { code: 'malformed' });
      if (decoded.header.alg !== 'RS256' || !decoded.header.kid)
        throw new AppError(
          401,
          'bad_signature',
          'The event must be signed with RS256 and name its kid.',
        );
      let key;
      try {
        key = await deps.lti.keysets.key(sender.jwks_url, decoded.header.kid);
      } catch {
        throw new AppError(
          503,
          'unavailable',
          "The sender's keyset could not be read; send again later.",
        );
      }
      if (!key)
        throw new AppError(
          401,
          'bad_signature',
          `The sender's keyset has no key "${decoded.header.kid}".`,
        );
      try {
        jwt.verify(token, key, {
          algorithms: ['RS256'],
          clockTolerance: 60,
          ...(sender.issuer ? { issuer: sender.issuer as string } : {}),
        });
      } catch (err) {
        throw new AppError(
          401,
          'bad_signature',
          `The event's signature was refused: ${(err as Error).message}.`,
        );
      }
      const tenantId = sender.tenant_id as number;
      const senderKey = `canvas:${String(sender.id)}`;
      // Hosted Canvas signs every school's events with the same keys: each event must be this school's.
      const wrongAccount = () =>
        new AppError(
          403,
          'wrong_account',
          "The event comes from another Canvas account than this sender's.",
        );
      if (isCaliperEnvelope(decoded.payload)) {
        const envelope = validate(decoded.payload, caliperEnvelope);
        if (envelope.data.some((e) => caliperRootAccount(e) !== sender.account))
          throw wrongAccount();
        const now = isoNow(deps.clock);
        const recorded = await inTransaction(deps.db, async (trx) => {
          const out: boolean[] = [];
          for (const e of envelope.data)
            out.push(
              await recordEvent(trx, tenantId, senderKey, e.id, caliperEventName(e), e, now),
            );
          return out;
        });
        accepted(ctx, recorded.some(Boolean), envelope.data[0]!.id);
        return;
      }
      const event = validate(decoded.payload, canvasEvent);
      if (event.metadata.root_account_uuid !== sender.account) throw wrongAccount();
      const eventId = canvasEventId(event);
      const recorded = await inTransaction(deps.db, (trx) =>
        recordEvent(
          trx,
          tenantId,
          senderKey,
          eventId,
          event.metadata.event_name,
          event,
          isoNow(deps.clock),
        ),
      );
      accepted(ctx, recorded, eventId);
    },
  });

  surface.route({
    method: 'post',
    path: '/grades/:sender',
    operationId: 'gradeWebhook',
    summary: 'A grade from another system (signed JSON)',
    description:
      'Signed with the sender\'s secret: `X-Gradebridge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, at most WEBHOOK_TOLERANCE_SECONDS old. Body `{"id", "type": "grade.changed", "occurred_at", "data": {"course", "column", "user", "score", "grade", "points_possible", "late", "missing", "excused"}}` (course and user by SIS id, column by name). An unknown course is refused with 422.',
    params: senderParams,
    responses: { ...responses, 422: { description: 'The course is not known to gradebridge' } },
    handler: async (ctx, { params }) => {
      const raw = await rawBody(ctx);
      const sender = await deps
        .db('webhook_senders')
        .where({ id: params.sender, kind: 'hmac' })
        .first('id', 'tenant_id', 'secret', 'previous_secret', 'previous_secret_until');
      if (!sender) throw new AppError(404, 'not_found', 'No such grade sender.');
      verifyHmac(
        ctx,
        {
          secret: sender.secret as string | null,
          previous: sender.previous_secret as string | null,
          previousUntil: sender.previous_secret_until as string | null,
        },
        raw,
        'X-Gradebridge-Signature',
      );
      const event = parseJson(raw, gradeWebhook);
      const course = await deps
        .db('courses')
        .where({ tenant_id: sender.tenant_id, batch_uid: event.data.course })
        .first('id');
      if (!course)
        throw new AppError(
          422,
          'unknown_course',
          `Course "${event.data.course}" is not known to gradebridge.`,
        );
      const recorded = await inTransaction(deps.db, (trx) =>
        recordEvent(
          trx,
          sender.tenant_id,
          `hmac:${sender.id}`,
          event.id,
          event.type,
          event,
          isoNow(deps.clock),
        ),
      );
      accepted(ctx, recorded, event.id);
    },
  });
  return surface;
}
