import { randomBytes } from 'node:crypto';
import type { SecretBox } from '../auth/secret-box.js';
import type { Executor, Trx } from '../db/knex.js';
import { BadRequestError, NotFoundError } from '../http/errors.js';
import type { JobDefinition, RecurringJob } from '../jobs/worker.js';

/** The longest overlap a rotation may keep the previous secret: a week. */
export const MAX_OVERLAP_HOURS = 24 * 7;

/** A signing secret and, during a rotation's overlap, the previous one (both sealed). */
export interface SecretPair {
  secret: string | null;
  previous: string | null;
  /** Until when (ISO) the previous secret is accepted. */
  previousUntil: string | null;
}

/**
 * The secrets a signature may be made with now: the current one, and the
 * previous one until its overlap ends (from then on it is refused, whether or
 * not the clean-up job has dropped it yet).
 */
export function acceptedSecrets(box: SecretBox, pair: SecretPair, nowMs: number): string[] {
  const out = pair.secret ? [box.open(pair.secret)] : [];
  if (pair.previous && pair.previousUntil && Date.parse(pair.previousUntil) > nowMs)
    out.push(box.open(pair.previous));
  return out;
}

export interface RotatedSecret {
  tenantId: number;
  /** `hmac`: a signed grade webhook sender; `datasync`: the tenant's Data Sync notices. */
  kind: 'hmac' | 'datasync';
  /** The sender's id, or the Data Sync connection's. */
  senderId: number;
  url: string;
  /** The new secret, shown once. */
  secret: string;
  /** Until when the previous secret is still accepted; null when it was refused at once (no overlap). */
  previousAcceptedUntil: string | null;
}

/**
 * Gives a signing secret a successor: the new secret is accepted at once,
 * and the one it replaces until `overlapHours` from now, so the sender can
 * switch without a refused request. Only one previous secret is kept: a
 * rotation during an overlap ends the older secret's overlap at once.
 * `target` is a signed grade webhook sender's id, or `datasync` for the
 * tenant's Data Sync notice secret.
 */
export async function rotateSecret(
  trx: Trx,
  box: SecretBox,
  publicUrl: string,
  input: { tenantId: number; target: { senderId: number } | 'datasync'; overlapHours: number },
  now: string,
): Promise<RotatedSecret> {
  if (
    !Number.isFinite(input.overlapHours) ||
    input.overlapHours < 0 ||
    input.overlapHours > MAX_OVERLAP_HOURS
  )
    throw new BadRequestError(
      `The overlap must be between 0 and ${MAX_OVERLAP_HOURS} hours, got ${input.overlapHours}.`,
    );
  const secret = randomBytes(32).toString('base64url');
  const until =
    input.overlapHours > 0
      ? new Date(Date.parse(now) + input.overlapHours * 3_600_000).toISOString()
      : null;
  if (input.target === 'datasync') {
    const conn = await trx('datasync_connections')
      .where({ tenant_id: input.tenantId })
      .first('id', 'notice_secret');
    if (!conn)
      throw new NotFoundError(
        `Tenant ${input.tenantId} has no Data Sync connection (datasync connect).`,
      );
    await trx('datasync_connections')
      .where({ id: conn.id })
      .update({
        notice_secret: box.seal(secret),
        previous_notice_secret: until ? conn.notice_secret : null,
        previous_notice_secret_until: until,
      });
    return {
      tenantId: input.tenantId,
      kind: 'datasync',
      senderId: conn.id as number,
      url: `${publicUrl}/webhooks/datasync/${String(conn.id)}`,
      secret,
      previousAcceptedUntil: until,
    };
  }
  const sender = await trx('webhook_senders')
    .where({ tenant_id: input.tenantId, id: input.target.senderId })
    .first('id', 'kind', 'secret');
  if (!sender)
    throw new NotFoundError(
      `Tenant ${input.tenantId} has no webhook sender ${input.target.senderId}.`,
    );
  if (sender.kind !== 'hmac')
    throw new BadRequestError(
      `Sender ${input.target.senderId} is a ${String(sender.kind)} sender: it signs with its own keys (its JWKS), gradebridge holds no secret of it.`,
    );
  await trx('webhook_senders')
    .where({ id: sender.id })
    .update({
      secret: box.seal(secret),
      previous_secret: until ? sender.secret : null,
      previous_secret_until: until,
    });
  return {
    tenantId: input.tenantId,
    kind: 'hmac',
    senderId: sender.id as number,
    url: `${publicUrl}/webhooks/grades/${String(sender.id)}`,
    secret,
    previousAcceptedUntil: until,
  };
}

/** Drops previous secrets whose overlap has ended (they are refused from then on anyway). */
export async function dropExpiredSecrets(db: Executor, now: string): Promise<number> {
  const senders = await db('webhook_senders')
    .whereNotNull('previous_secret')
    .where('previous_secret_until', '<=', now)
    .update({ previous_secret: null, previous_secret_until: null });
  const connections = await db('datasync_connections')
    .whereNotNull('previous_notice_secret')
    .where('previous_notice_secret_until', '<=', now)
    .update({ previous_notice_secret: null, previous_notice_secret_until: null });
  return Number(senders) + Number(connections);
}

export const secretCleanupJob: JobDefinition = {
  name: 'webhooks.secret-cleanup',
  maxAttempts: 3,
  async run({ deps }) {
    await dropExpiredSecrets(deps.db, new Date(deps.clock.now()).toISOString());
  },
};

export const secretCleanupSchedule: RecurringJob = {
  name: 'webhooks.secret-cleanup',
  everyMs: 15 * 60_000,
};
