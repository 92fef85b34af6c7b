import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signatures of webhook bodies: `t=<unix seconds>,v1=<hex HMAC-SHA256 of
 * "<t>.<raw body>">`. The timestamp is signed with the body, so a captured
 * request cannot be replayed once it is older than the tolerance (and within
 * it, the event id makes the replay a duplicate).
 */
export function signBody(secret: string, body: string | Buffer, t: number): string {
  const mac = createHmac('sha256', secret).update(`${t}.`).update(body).digest('hex');
  return `t=${t},v1=${mac}`;
}

export type SignatureCheck = 'ok' | 'missing' | 'malformed' | 'stale' | 'mismatch';

/**
 * Checks a signature header against the body with each accepted secret (the
 * current one, and the previous one while a rotation's overlap lasts).
 */
export function checkSignature(
  secrets: string | readonly string[],
  header: string | undefined,
  body: Buffer,
  nowSeconds: number,
  toleranceSeconds: number,
): SignatureCheck {
  if (!header) return 'missing';
  const parts = new Map<string, string[]>();
  for (const piece of header.split(',')) {
    const eq = piece.indexOf('=');
    if (eq < 1) return 'malformed';
    const k = piece.slice(0, eq).trim();
    parts.set(k, [...(parts.get(k) ?? []), piece.slice(eq + 1).trim()]);
  }
  const t = Number(parts.get('t')?.[0]);
  const macs = parts.get('v1') ?? [];
  if (!Number.isInteger(t) || macs.length === 0) return 'malformed';
  if (Math.abs(nowSeconds - t) > toleranceSeconds) return 'stale';
  // Several v1 values are allowed: a sender rotating its secret may sign with both.
  const given = macs.map((mac) => Buffer.from(mac, 'utf8'));
  let ok = false;
  for (const secret of typeof secrets === 'string' ? [secrets] : secrets) {
    const expected = Buffer.from(
      createHmac('sha256', secret).update(`${t}.`).update(body).digest('hex'),
      'utf8',
    );
    for (const mac of given)
      if (mac.length === expected.length && timingSafeEqual(mac, expected)) ok = true;
  }
  return ok ? 'ok' : 'mismatch';
}
