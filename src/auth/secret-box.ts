import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * Encrypts secrets the service must use again (a Data Sync client secret,
 * webhook signing secrets) before they are stored: AES-256-GCM with a key
 * derived from SECRETS_KEY (or one generated on first start and kept in the
 * database). Stored as `v1.<iv>.<ciphertext+tag>`, base64url.
 */
export class SecretBox {
  private readonly key: Buffer;

  constructor(secret: string) {
    this.key = createHash('sha256').update(`gradebridge-secrets:${secret}`).digest();
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `v1.${iv.toString('base64url')}.${data.toString('base64url')}`;
  }

  open(sealed: string): string {
    const [version, iv, data] = sealed.split('.');
    if (version !== 'v1' || !iv || !data) throw new Error('not a sealed secret');
    const raw = Buffer.from(data, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    return Buffer.concat([
      decipher.update(raw.subarray(0, raw.length - 16)),
      decipher.final(),
    ]).toString('utf8');
  }
}
