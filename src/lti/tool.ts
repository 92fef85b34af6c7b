import { randomBytes } from 'node:crypto';
import Bottleneck from 'bottleneck';
import type { Config } from '../../config/index.js';
import type { Db } from '../db/knex.js';
import type { Clock } from '../db/time.js';
import type { Logger } from '../logger.js';
import { LtiEngine, ROUTES, type LtiRequest, type LtiResponse, type LtiNext } from './engine.js';
import { KeysetCache } from './keyset-cache.js';
import { identifierProblem } from './claim-text.js';
import { checkLaunch, LaunchError, type VerifiedLaunch } from './launch-check.js';
import {
  restartPage,
  storageLaunchPage,
  storageLoginPage,
  type ScriptedPage,
} from './login-pages.js';
import { errorPage } from './pages.js';
import { refusalPage, type TechnicalDetail } from './refusal-page.js';
import {
  awaitStorageCheck,
  confirmFromStorage,
  restartColumns,
  restartUrl,
  storageKeys,
  storageTargetProblem,
  type StorageCheck,
} from './platform-storage.js';
import { learnDeployment } from './registration.js';
import { SessionTokens } from './session.js';

export interface LtiToolOptions {
  config: Config;
  db: Db;
  logger: Logger;
  clock: Clock;
  encryptionKey: string;
  sessionSecret: string;
}

const DEPLOYMENT_CACHE_MS = 30_000;

const first = (v: unknown): string | undefined => {
  const value = Array.isArray(v) ? v[0] : v;
  return typeof value === 'string' && value !== '' ? value : undefined;
};

/**
 * The LTI 1.3 tool: ltijs (through LtiEngine) plus what gradebridge adds in
 * front of it: its own login initiation, which binds a crypto-random nonce to
 * each state; full launch checks with a cached platform keyset; sessions for
 * its pages; and one limiter per platform for score passback.
 */
export class LtiTool {
  readonly sessions: SessionTokens;
  readonly keysets: KeysetCache;
  private readonly limiters = new Map<string, Bottleneck>();
  /** Registered deployments found by launches, reused for DEPLOYMENT_CACHE_MS (a deployment's tenant never changes). */
  private readonly deployments = new Map<string, { at: number; id: number; tenantId: number }>();

  private constructor(
    readonly engine: LtiEngine,
    private readonly o: LtiToolOptions,
    keysets: KeysetCache,
  ) {
    this.keysets = keysets;
    this.sessions = new SessionTokens(o.sessionSecret, o.config.LTI_SESSION_TTL_SECONDS);
  }

  static async create(o: LtiToolOptions): Promise<LtiTool> {
    const keysets = new KeysetCache({
      ttlMs: o.config.LTI_KEYSET_TTL_SECONDS * 1000,
      minRefreshMs: 10_000,
      timeoutMs: 5000,
      now: () => o.clock.now(),
    });
    let tool: LtiTool | null = null;
    const engine = await LtiEngine.create({
      db: o.db,
      encryptionKey: o.encryptionKey,
      cookieSecure: o.config.cookieSecure,
      now: () => new Date(o.clock.now()).toISOString(),
      routes: (app) => {
        app.all(ROUTES.login, (req, res) => tool!.login(req, res));
        app.post(ROUTES.launch, (req, res, next) => tool!.precheck(req, res, next));
      },
    });
    tool = new LtiTool(engine, o, keysets);
    return tool;
  }

  /** The request's logger (it carries the request id), else the service's. */
  private log(req: LtiRequest): Logger {
    return req.gradebridge?.log ?? this.o.logger;
  }

  private refuse(
    req: LtiRequest,
    res: LtiResponse,
    status: number,
    reason: string,
    detail: TechnicalDetail = [],
  ): void {
    // An unexpected failure (500) is logged with its error where it is caught.
    if (status !== 500) {
      const what = req.path === ROUTES.login ? 'LTI login refused' : 'LTI launch refused';
      this.log(req)[status < 500 ? 'info' : 'warn'](
        { reason, status, ...(detail.length ? { detail: Object.fromEntries(detail) } : {}) },
        what,
      );
    }
    res.status(status);
    res.set('Content-Type', 'text/html; charset=utf-8');
    const requestId = req.gradebridge?.requestId ?? '-';
    res.send(
      detail.length
        ? refusalPage(status, reason, requestId, { detail })
        : errorPage(status, reason, requestId),
    );
  }

  /** A refused launch; when the browser kept nothing for the tool, the page offers to run the login again in a new window. */
  private async refuseLaunch(
    req: LtiRequest,
    res: LtiResponse,
    err: LaunchError,
    state: string | undefined,
  ): Promise<void> {
    if (!err.restartable) return this.refuse(req, res, err.status, err.reason, err.detail);
    this.log(req).info({ reason: err.reason, status: err.status }, 'LTI launch refused');
    const restart = await restartUrl(this.o.db, state);
    res.status(err.status);
    res.set('Content-Type', 'text/html; charset=utf-8');
    res.send(restartPage(err.status, err.reason, req.gradebridge?.requestId ?? '-', restart));
  }

  /** A page with inline scripts (platform storage): its CSP, never cached (it holds the login's secrets). */
  private sendScripted(res: LtiResponse, page: ScriptedPage): void {
    res.status(200);
    res.set('Content-Type', 'text/html; charset=utf-8');
    res.set('Content-Security-Policy', page.contentSecurityPolicy);
    res.set('Cache-Control', 'no-store');
    res.send(page.body);
  }

  /**
   * OIDC login initiation (third-party initiated login). ltijs makes its nonce
   * with Math.random and never stores it; here the nonce is 256 random bits
   * kept with the state, so the launch can prove it answers this login.
   */
  private async login(req: LtiRequest, res: LtiResponse): Promise<void> {
    try {
      const params = { ...(req.query ?? {}), ...(req.body ?? {}) };
      const iss = first(params.iss);
      const loginHint = first(params.login_hint);
      const target = first(params.target_link_uri);
      if (!iss || !loginHint || !target) {
        return this.refuse(
          req,
          res,
          400,
          'The login request needs iss, login_hint and target_link_uri.',
        );
      }
      // What is stored with the login or looked up by it must fit its column and be clean text.
      for (const [name, value, max] of [
        ['iss', iss, 1024],
        ['target_link_uri', target, 2048],
        ['client_id', first(params.client_id), 255],
        ['lti_deployment_id', first(params.lti_deployment_id), 255],
      ] as const) {
        if (value !== undefined && identifierProblem(value, max) !== null)
          return this.refuse(req, res, 400, `The login request's ${name} is not valid.`);
      }
      // The LMS page's platform storage frame: the state and nonce are kept there too.
      const storageTarget = first(params.lti_storage_target);
      const storageProblem =
        storageTarget === undefined ? null : storageTargetProblem(storageTarget);
      if (storageProblem)
        return this.refuse(req, res, 400, `The login request's ${storageProblem}.`);
      let targetPath: string;
      try {
        targetPath = new URL(target).pathname;
      } catch {
        return this.refuse(req, res, 400, 'target_link_uri is not a URL.');
      }
      if (targetPath !== ROUTES.launch) {
        return this.refuse(
          req,
          res,
          400,
          `target_link_uri must be this tool's launch URL (${ROUTES.launch}).`,
        );
      }
      let clientId = first(params.client_id);
      if (!clientId) {
        // The platform's registrations (one awaiting its first deployment has no deployment yet).
        const candidates = [
          ...new Set(
            [
              ...(await this.o
                .db('lti_platform_registrations')
                .where({ issuer: iss })
                .pluck('client_id')),
              ...(await this.o.db('lti_deployments').where({ issuer: iss }).pluck('client_id')),
            ].map(String),
          ),
        ].map((client_id) => ({ client_id }));
        if (candidates.length !== 1) {
          return this.refuse(
            req,
            res,
            400,
            'The login request has no client_id and the platform has several registrations.',
          );
        }
        clientId = candidates[0].client_id as string;
      }
      const platform = await this.engine.platform(iss, clientId);
      if (!platform)
        return this.refuse(req, res, 400, 'This platform is not registered with gradebridge.');
      if (!platform.active)
        return this.refuse(req, res, 401, 'This platform is registered but not active.');
      const state = randomBytes(32).toString('base64url');
      const nonce = randomBytes(32).toString('base64url');
      const nowMs = this.o.clock.now();
      const ttl = this.o.config.LTI_LOGIN_TTL_SECONDS * 1000;
      await this.o.db('lti_logins').insert({
        state,
        nonce,
        issuer: iss,
        client_id: clientId,
        target_link_uri: target,
        created_at: new Date(nowMs).toISOString(),
        expires_at: new Date(nowMs + ttl).toISOString(),
        storage_target: storageTarget ?? null,
        ...restartColumns({
          loginHint,
          messageHint: first(params.lti_message_hint),
          deploymentId: first(params.lti_deployment_id),
        }),
      });
      // The same signed cookie ltijs checks when it validates the launch.
      res.cookie(`state${state}`, iss, {
        httpOnly: true,
        signed: true,
        secure: this.o.config.cookieSecure,
        sameSite: this.o.config.cookieSecure ? 'None' : 'Lax',
        maxAge: ttl,
      });
      const query = new URLSearchParams({
        response_type: 'id_token',
        response_mode: 'form_post',
        id_token_signed_response_alg: 'RS256',
        scope: 'openid',
        client_id: clientId,
        redirect_uri: target,
        login_hint: loginHint,
        nonce,
        prompt: 'none',
        state,
      });
      const messageHint = first(params.lti_message_hint);
      if (messageHint) query.set('lti_message_hint', messageHint);
      const deploymentHint = first(params.lti_deployment_id);
      if (deploymentHint) query.set('lti_deployment_id', deploymentHint);
      const endpoint = new URL(platform.authenticationEndpoint);
      for (const [k, v] of query) endpoint.searchParams.set(k, v);
      if (!storageTarget) return res.redirect(302, endpoint.toString());
      const keys = storageKeys(state, nonce);
      this.sendScripted(
        res,
        storageLoginPage({
          next: endpoint.toString(),
          target: storageTarget,
          origin: endpoint.origin,
          put: [
            { key: keys.state, value: state },
            { key: keys.nonce, value: nonce },
          ],
        }),
      );
    } catch (err) {
      this.log(req).error({ err }, 'LTI login failed');
      this.refuse(req, res, 500, 'The login could not be started; try again.');
    }
  }

  /**
   * Checks a launch before ltijs sees it; refused launches never reach ltijs.
   * The state is proven by the login's cookie; without it, by the platform's
   * storage when the login kept the state there: the first post of the
   * launch answers a page that reads it back, which posts the launch again
   * with what it read and a one-time confirmation.
   */
  private async precheck(req: LtiRequest, res: LtiResponse, next: LtiNext): Promise<void> {
    let verified: VerifiedLaunch;
    const body = req.body ?? {};
    const state = first(body.state);
    let confirmedIssuer: string | undefined;
    try {
      const cookie = state ? req.signedCookies?.[`state${state}`] : undefined;
      let issuer = typeof cookie === 'string' ? cookie : undefined;
      const confirmation = first(body.storage_confirmation);
      if (state && confirmation) {
        issuer = confirmedIssuer = await confirmFromStorage(
          this.o.db,
          {
            state,
            confirmation,
            storageState: first(body.storage_state) ?? '',
            storageError: first(body.storage_error),
          },
          this.o.clock.now(),
        );
      } else if (state && issuer === undefined && first(body.id_token)) {
        const check = await awaitStorageCheck(this.o.db, state, this.o.clock.now());
        if (check && (await this.sendStorageCheck(res, check, first(body.id_token)!))) return;
      }
      verified = await checkLaunch(
        {
          db: this.o.db,
          engine: this.engine,
          keysets: this.keysets,
          clockToleranceSeconds: this.o.config.LTI_CLOCK_TOLERANCE_SECONDS,
          maxAgeSeconds: this.o.config.LTI_TOKEN_MAX_AGE_SECONDS,
          now: () => this.o.clock.now(),
          deployment: (issuer, clientId, deploymentId, platformKid) =>
            this.deployment(issuer, clientId, deploymentId, platformKid, this.log(req)),
        },
        body,
        issuer,
      );
    } catch (err) {
      if (err instanceof LaunchError) return this.refuseLaunch(req, res, err, state);
      this.log(req).error({ err }, 'LTI launch check failed');
      return this.refuse(req, res, 500, 'The launch could not be checked; try again.');
    }
    if (confirmedIssuer !== undefined) this.engine.vouchForState(req, state!, confirmedIssuer);
    res.locals.gradebridgeLaunch = verified;
    this.engine.withVerifiedKey({ platform: verified.platform, key: verified.key }, () => next());
  }

  /**
   * The page that reads a launch's state back from the platform's storage
   * (the frame its login named, at the platform's authorization origin).
   * False when the platform is no longer registered: the launch is then
   * refused as usual.
   */
  private async sendStorageCheck(
    res: LtiResponse,
    check: StorageCheck,
    idToken: string,
  ): Promise<boolean> {
    const platform = await this.engine.platform(check.issuer, check.clientId);
    if (!platform) return false;
    const keys = storageKeys(check.state, check.nonce);
    this.sendScripted(
      res,
      storageLaunchPage({
        action: ROUTES.launch,
        fields: {
          id_token: idToken,
          state: check.state,
          storage_confirmation: check.confirmation,
        },
        target: check.storageTarget,
        origin: new URL(platform.authenticationEndpoint).origin,
        state: check.state,
        key: keys.state,
        remove: [keys.state, keys.nonce],
        restart: await restartUrl(this.o.db, check.state),
      }),
    );
    return true;
  }

  /**
   * A registered deployment: its row id and tenant. Found ones are cached;
   * unknown ones are read again each time. A platform registered without a
   * deployment (Dynamic Registration where the LMS named none) learns it
   * here, from its first launch (whose signature checked out): recorded,
   * logged, and listed by `platform list`.
   */
  async deployment(
    issuer: string,
    clientId: string,
    deploymentId: string,
    platformKid?: string,
    log: Logger = this.o.logger,
  ): Promise<{ id: number; tenantId: number } | null> {
    const key = `${issuer}\n${clientId}\n${deploymentId}`;
    const cached = this.deployments.get(key);
    if (cached && Date.now() - cached.at < DEPLOYMENT_CACHE_MS) return cached;
    let row = await this.o
      .db('lti_deployments')
      .where({ issuer, client_id: clientId, deployment_id: deploymentId })
      .first('id', 'tenant_id');
    if (!row && platformKid) {
      const learned = await learnDeployment(this.o.db, {
        issuer,
        clientId,
        deploymentId,
        platformKid,
        now: new Date(this.o.clock.now()).toISOString(),
      });
      if (learned) {
        log.info(
          { issuer, clientId, deploymentId, tenantId: learned.tenantId },
          'LTI deployment learned from the first launch',
        );
        row = { id: learned.id, tenant_id: learned.tenantId };
      }
    }
    if (!row) {
      this.deployments.delete(key);
      return null;
    }
    const found = { at: Date.now(), id: row.id as number, tenantId: row.tenant_id as number };
    this.deployments.set(key, found);
    return found;
  }

  /** One limiter per platform: scores go out one at a time, spaced by LTI_SCORE_MIN_INTERVAL_MS. */
  limiter(issuer: string): Bottleneck {
    let limiter = this.limiters.get(issuer);
    if (!limiter) {
      limiter = new Bottleneck({
        maxConcurrent: 1,
        minTime: this.o.config.LTI_SCORE_MIN_INTERVAL_MS,
      });
      this.limiters.set(issuer, limiter);
    }
    return limiter;
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.limiters.values()].map((l) =>
        l.stop({ dropWaitingJobs: false }).catch(() => undefined),
      ),
    );
  }
}
