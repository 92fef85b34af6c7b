import crypto from 'node:crypto';

export interface DeepLinkSession {
  clientId: string;
  deploymentId: string;
  contextId: string;
  userId: string;
  /** The deep_linking_settings sent: the response is held to them. */
  settings: Record<string, unknown>;
  placement?: string;
  expiresAt: number;
}

/** A tool may take its time choosing content, but not forever. */
const SESSION_TTL_MS = 60 * 60 * 1000;

/**
 * The opaque `data` of deep_linking_settings names a session that says where
 * the returned content goes. Each session takes one response.
 */
export class DeepLinkSessions {
  private readonly sessions = new Map<string, DeepLinkSession>();

  create(session: Omit<DeepLinkSession, 'expiresAt' | 'settings'>): string {
    const now = Date.now();
    for (const [data, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(data);
    const data = crypto.randomBytes(18).toString('base64url');
    this.sessions.set(data, { ...session, settings: {}, expiresAt: now + SESSION_TTL_MS });
    return data;
  }

  /** Records the settings the request was sent with. */
  setSettings(data: string, settings: Record<string, unknown>, placement?: string): void {
    const session = this.sessions.get(data);
    if (!session) return;
    session.settings = settings;
    if (placement) session.placement = placement;
  }

  /** The session, left open; or why there is none. */
  peek(data: unknown, clientId: string): DeepLinkSession | string {
    const found = this.find(data, clientId);
    return found;
  }

  /** The session, consumed; or why there is none. */
  take(data: unknown, clientId: string): DeepLinkSession | string {
    const found = this.find(data, clientId);
    if (typeof found !== 'string') this.sessions.delete(data as string);
    return found;
  }

  private find(data: unknown, clientId: string): DeepLinkSession | string {
    if (typeof data !== 'string' || data === '') {
      return 'The response lacks the data claim sent in deep_linking_settings (or, for Canvas, the session of its return URL).';
    }
    const session = this.sessions.get(data);
    if (!session) return 'The data claim names no open deep linking request (unknown or used).';
    if (session.expiresAt <= Date.now()) {
      this.sessions.delete(data);
      return 'The deep linking request has expired.';
    }
    if (session.clientId !== clientId) {
      return 'The data claim belongs to a deep linking request sent to another tool.';
    }
    return session;
  }
}
