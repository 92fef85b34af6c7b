import crypto from 'node:crypto';
import type { MessageType } from './vocabulary.js';

/** What a login initiation asks the platform to launch, carried by lti_message_hint. */
export interface LaunchIntent {
  clientId: string;
  userId: string;
  contextId: string;
  resourceLinkId?: string;
  messageType: MessageType;
  deploymentId: string;
  targetLinkUri: string;
  /** The launch page's storage frame, sent with the login and again with the launch (as Canvas does). */
  storageTarget?: string;
  /** A deep linking launch from a placement of a tool Canvas registered. */
  placement?: string;
  /** A deep linking launch: settings over the platform's; null leaves one out. */
  deepLinkingSettings?: Record<string, unknown>;
}

/** Like Canvas, a message hint outlives the page that rendered it only briefly. */
const MESSAGE_HINT_TTL_SECONDS = 600;

/**
 * login_hint and lti_message_hint are opaque to the tool. Both are signed with
 * a secret of this emulator instance so the auth endpoint can trust what comes
 * back: login_hint names the user, lti_message_hint the launch (and expires).
 */
export class LaunchHints {
  private readonly secret = crypto.randomBytes(32);

  loginHint(userId: string): string {
    return this.seal({ u: userId });
  }

  userFromLoginHint(hint: string): string | undefined {
    const data = this.open(hint);
    return typeof data?.u === 'string' ? data.u : undefined;
  }

  messageHint(intent: LaunchIntent): string {
    const exp = Math.floor(Date.now() / 1000) + MESSAGE_HINT_TTL_SECONDS;
    return this.seal({ i: intent, exp });
  }

  /** The launch intent, or a reason the hint is not acceptable. */
  intentFromMessageHint(hint: string): LaunchIntent | string {
    const data = this.open(hint);
    if (!data || typeof data.i !== 'object' || data.i === null) {
      return 'lti_message_hint is not one this platform issued.';
    }
    if (typeof data.exp !== 'number' || data.exp < Date.now() / 1000) {
      return 'lti_message_hint has expired; start the launch again.';
    }
    return data.i as LaunchIntent;
  }

  private seal(data: object): string {
    const body = Buffer.from(JSON.stringify(data)).toString('base64url');
    return `${body}.${this.mac(body)}`;
  }

  private open(hint: string): Record<string, unknown> | undefined {
    const [body, mac, extra] = hint.split('.');
    if (!body || !mac || extra !== undefined) return undefined;
    const expected = Buffer.from(this.mac(body));
    const given = Buffer.from(mac);
    if (expected.length !== given.length || !crypto.timingSafeEqual(expected, given)) {
      return undefined;
    }
    try {
      const data: unknown = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
      return typeof data === 'object' && data !== null
        ? (data as Record<string, unknown>)
        : undefined;
    } catch {
      return undefined;
    }
  }

  private mac(body: string): string {
    return crypto.createHmac('sha256', this.secret).update(body).digest('base64url');
  }
}
