import { randomBytes } from 'node:crypto';
import type { SecretBox } from '../auth/secret-box.js';
import type { Executor, Trx } from '../db/knex.js';
import { toIso } from '../db/time.js';

export interface SenderSummary {
  tenantId: number;
  senderId: number;
  kind: 'canvas' | 'hmac';
  name: string;
  url: string;
  jwksUrl?: string | null;
  issuer?: string | null;
  account?: string | null;
  /** The signing secret of an hmac sender, shown once when it is made. */
  secret?: string;
  /** hmac: until when the previous secret is still accepted after a rotation (null: none is). */
  previousSecretAcceptedUntil?: string | null;
}

/**
 * Registers a webhook sender for a tenant: `canvas` (Live Events, verified
 * against the sender's JWKS) or `hmac` (gradebridge's grade webhook, signed
 * with a secret made here and shown once). A second call with the same kind
 * and name updates a canvas sender and replaces an hmac sender's secret at
 * once (`rotateSecret` keeps the previous one for an overlap).
 */
export async function addSender(
  trx: Trx,
  secrets: SecretBox,
  publicUrl: string,
  input: {
    tenantId: number;
    kind: 'canvas' | 'hmac';
    name: string;
    jwksUrl?: string | null;
    issuer?: string | null;
    /** Canvas: the root account uuid its events must carry. */
    account?: string | null;
  },
  now: string,
): Promise<SenderSummary> {
  const secret = input.kind === 'hmac' ? randomBytes(32).toString('base64url') : null;
  const values = {
    secret: secret ? secrets.seal(secret) : null,
    jwks_url: input.kind === 'canvas' ? (input.jwksUrl ?? null) : null,
    issuer: input.kind === 'canvas' ? (input.issuer ?? null) : null,
    account: input.kind === 'canvas' ? (input.account ?? null) : null,
    previous_secret: null,
    previous_secret_until: null,
  };
  const [row] = await trx('webhook_senders')
    .insert({
      tenant_id: input.tenantId,
      kind: input.kind,
      name: input.name,
      ...values,
      created_at: now,
    })
    .onConflict(['tenant_id', 'kind', 'name'])
    .merge(Object.keys(values))
    .returning('id');
  return {
    ...summary(publicUrl, {
      id: row.id,
      tenant_id: input.tenantId,
      kind: input.kind,
      name: input.name,
      ...values,
    }),
    ...(secret ? { secret } : {}),
  };
}

export async function listSenders(
  db: Executor,
  publicUrl: string,
  tenantId: number,
): Promise<SenderSummary[]> {
  const rows = await db('webhook_senders').where({ tenant_id: tenantId }).orderBy('id');
  return rows.map((r) => summary(publicUrl, r));
}

function summary(publicUrl: string, r: Record<string, unknown>): SenderSummary {
  const kind = r.kind as 'canvas' | 'hmac';
  return {
    tenantId: r.tenant_id as number,
    senderId: r.id as number,
    kind,
    name: r.name as string,
    url: `${publicUrl}/webhooks/${kind === 'canvas' ? 'canvas' : 'grades'}/${String(r.id)}`,
    ...(kind === 'canvas'
      ? {
          jwksUrl: r.jwks_url as string | null,
          issuer: r.issuer as string | null,
          account: r.account as string | null,
        }
      : { previousSecretAcceptedUntil: toIso(r.previous_secret_until as string | null) }),
  };
}
