import type { KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { hmacKey } from '../auth/tokens.js';
import { z } from 'zod';
import type { DeepLinkingSettings } from './engine.js';

/**
 * The tool's own session after a launch: a short-lived HS256 token carried in
 * the page's links and forms, not in a cookie, so the pages work inside an
 * LMS iframe where third-party cookies are blocked.
 */
const ALGORITHM = 'HS256' as const;
const AUDIENCE = 'gradebridge-lti-session';

const sessionSchema = z.object({
  t: z.number().int(),
  u: z.number().int(),
  c: z.number().int(),
  x: z.number().int(),
  s: z.boolean(),
  v: z.array(z.number().int()).optional(),
  dl: z
    .object({
      deep_link_return_url: z.string(),
      data: z.string().optional(),
      accept_types: z.array(z.string()).optional(),
      accept_multiple: z.boolean().optional(),
      accept_lineitem: z.boolean().optional(),
      auto_create: z.boolean().optional(),
      unusable: z.array(z.string()).optional(),
    })
    .optional(),
  dep: z.string().optional(),
});

export interface LtiSession {
  tenantId: number;
  userId: number;
  courseId: number;
  ltiContextId: number;
  /** Course staff (instructors, teaching assistants) see the whole course. */
  staff: boolean;
  /**
   * Whose grades a session that is not staff sees: a learner their own, a
   * mentor their mentees' (named by the launch), anyone else nobody's.
   * Left out, it is the user's own.
   */
  visibleUserIds?: number[];
  /** Present for a deep linking launch: where and how to answer. */
  deepLinking?: DeepLinkingSettings;
  deploymentId?: string;
}

export class SessionTokens {
  private readonly key: KeyObject;

  constructor(
    secret: string,
    private readonly ttlSeconds: number,
  ) {
    this.key = hmacKey(secret);
  }

  issue(s: LtiSession): string {
    return jwt.sign(
      {
        t: s.tenantId,
        u: s.userId,
        c: s.courseId,
        x: s.ltiContextId,
        s: s.staff,
        ...(s.staff ? {} : { v: s.visibleUserIds ?? [s.userId] }),
        ...(s.deepLinking ? { dl: s.deepLinking } : {}),
        ...(s.deploymentId ? { dep: s.deploymentId } : {}),
      },
      this.key,
      { algorithm: ALGORITHM, expiresIn: this.ttlSeconds, audience: AUDIENCE },
    );
  }

  /** The session, or null when the token is missing, forged or expired. */
  verify(token: string | undefined): (LtiSession & { visibleUserIds: number[] }) | null {
    if (!token) return null;
    try {
      const payload = jwt.verify(token, this.key, {
        algorithms: [ALGORITHM],
        audience: AUDIENCE,
      });
      const p = sessionSchema.parse(payload);
      return {
        tenantId: p.t,
        userId: p.u,
        courseId: p.c,
        ltiContextId: p.x,
        staff: p.s,
        visibleUserIds: p.s ? [] : (p.v ?? [p.u]),
        ...(p.dl ? { deepLinking: p.dl } : {}),
        ...(p.dep ? { deploymentId: p.dep } : {}),
      };
    } catch {
      return null;
    }
  }
}
