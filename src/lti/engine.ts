/**
 * The one place that touches ltijs. Everything else in gradebridge talks to
 * LTI through this typed module: launches (validated by ltijs after our own
 * checks), platform registration and keys, access tokens, AGS and Names and
 * Roles reads, and signed deep linking responses.
 *
 * ltijs's index exports a ready-made singleton; this module builds a fresh
 * Provider from its constructor instead, so several apps (tests, benchmarks)
 * can live in one process, and removes the SIGINT handler its deploy()
 * installs, so the service's own shutdown stays in charge.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Db } from '../db/knex.js';
import type { Logger } from '../logger.js';
import { displayText } from './claim-text.js';
import { KnexLtiStore } from './store.js';

const require = createRequire(import.meta.url);

/** The Express request/response ltijs hands to handlers (only what gradebridge reads). */
export interface LtiRequest extends Omit<IncomingMessage, 'body'> {
  body: Record<string, unknown>;
  query: Record<string, unknown>;
  signedCookies: Record<string, string | undefined>;
  path: string;
  /** Set by gradebridge's route: the request id and the logger that carries it. */
  gradebridge?: { requestId: string; log: Logger };
}
export interface LtiResponse extends ServerResponse {
  locals: Record<string, unknown>;
  cookie(name: string, value: string, options: Record<string, unknown>): void;
  redirect(status: number, url: string): void;
  status(code: number): LtiResponse;
  send(body: unknown): void;
  set(name: string, value: string): void;
}
export type LtiNext = (err?: unknown) => void;
export type LtiHandler = (req: LtiRequest, res: LtiResponse, next: LtiNext) => void | Promise<void>;
interface ExpressApp {
  (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void;
  all(path: string, ...handlers: LtiHandler[]): void;
  post(path: string, ...handlers: LtiHandler[]): void;
}

/** A registered platform as ltijs holds it. */
export interface PlatformInfo {
  id: string;
  issuer: string;
  clientId: string;
  name: string;
  authenticationEndpoint: string;
  accessTokenEndpoint: string;
  authorizationServer: string;
  authConfig: { method: 'JWK_SET' | 'JWK_KEY' | 'RSA_KEY'; key: string };
  active: boolean;
}

/** A deep linking launch's settings: where and how to answer it (LTI Deep Linking 2.0, 4.4.1). */
export interface DeepLinkingSettings {
  deep_link_return_url: string;
  data?: string;
  accept_types?: string[];
  accept_multiple?: boolean;
  /** false: the platform ignores line items; absent: it did not say. */
  accept_lineitem?: boolean;
  /** true: what is returned is added without the person confirming it in the LMS. */
  auto_create?: boolean;
  /** Settings the platform sent that cannot be used as sent, in words ("accept_types is missing"). */
  unusable?: string[];
}

/** What ltijs's services need to know of a launch (its "idtoken"). */
export interface ServiceContext {
  issuer: string;
  clientId: string;
  deploymentId: string;
  lineItemsUrl?: string | null;
  membershipsUrl?: string | null;
  deepLinking?: DeepLinkingSettings | null;
}

export interface Page<T> {
  items: T[];
  next: string | null;
}

export const ROUTES = {
  login: '/lti/login',
  launch: '/lti/launch',
  keys: '/lti/keys',
  register: '/lti/register',
} as const;

export interface LtiEngineOptions {
  db: Db;
  encryptionKey: string;
  cookieSecure: boolean;
  now?: () => string;
  /** Express routes registered before ltijs's own (gradebridge's login and launch checks). */
  routes?: (app: { all: ExpressApp['all']; post: ExpressApp['post'] }) => void;
}

interface LtijsPlatform {
  platformUrl(): Promise<string>;
  platformClientId(): Promise<string>;
  platformName(): Promise<string>;
  platformKid(): Promise<string>;
  platformAuthEndpoint(): Promise<string>;
  platformAccessTokenEndpoint(): Promise<string>;
  platformAuthorizationServer(): Promise<string>;
  platformAuthConfig(): Promise<{ method: 'JWK_SET' | 'JWK_KEY' | 'RSA_KEY'; key: string }>;
  platformActive(active?: boolean): Promise<boolean>;
  platformAccessToken(
    scopes: string,
  ): Promise<{ access_token: string; token_type: string; expires_in: number }>;
}

interface LtijsProvider {
  app: ExpressApp;
  setup(key: string, database: { plugin: unknown }, options: Record<string, unknown>): unknown;
  deploy(options: Record<string, unknown>): Promise<boolean>;
  onConnect(
    cb: (token: unknown, req: LtiRequest, res: LtiResponse, next: LtiNext) => unknown,
  ): void;
  onDeepLinking(
    cb: (token: unknown, req: LtiRequest, res: LtiResponse, next: LtiNext) => unknown,
  ): void;
  onInvalidToken(cb: (req: LtiRequest, res: LtiResponse, next: LtiNext) => unknown): void;
  onSessionTimeout(cb: (req: LtiRequest, res: LtiResponse, next: LtiNext) => unknown): void;
  onUnregisteredPlatform(cb: (req: LtiRequest, res: LtiResponse) => unknown): void;
  onInactivePlatform(cb: (req: LtiRequest, res: LtiResponse) => unknown): void;
  getPlatform(
    url: string,
    clientId?: string,
    key?: string,
    db?: unknown,
  ): Promise<LtijsPlatform | LtijsPlatform[] | false>;
  registerPlatform(p: Record<string, unknown>): Promise<LtijsPlatform>;
  Grade: {
    getLineItems(
      idtoken: unknown,
      options?: Record<string, unknown>,
    ): Promise<{ lineItems: unknown[]; next?: string }>;
    getScores(
      idtoken: unknown,
      lineItemId: string,
      options?: Record<string, unknown>,
    ): Promise<{ scores: unknown[]; next?: string }>;
    createLineItem(
      idtoken: unknown,
      lineItem: Record<string, unknown>,
    ): Promise<Record<string, unknown>>;
  };
  NamesAndRoles: {
    getMembers(
      idtoken: unknown,
      options?: Record<string, unknown>,
    ): Promise<{ members: unknown[]; next?: string }>;
  };
  DeepLinking: {
    createDeepLinkingMessage(
      idtoken: unknown,
      items: unknown[],
      options?: Record<string, unknown>,
    ): Promise<string>;
  };
}

type PlatformConstructor = new (
  name: string,
  url: string,
  clientId: string,
  authEndpoint: string,
  tokenEndpoint: string,
  authorizationServer: string | undefined,
  kid: string,
  encryptionKey: string,
  authConfig: unknown,
  database: unknown,
) => LtijsPlatform;

/**
 * A platform's service (AGS, Names and Roles, its token endpoint) answered
 * with an error status; `detail` is the start of its answer.
 */
export class LtiServiceError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    message: string,
  ) {
    super(message);
    this.name = 'LtiServiceError';
  }
}

/** The HTTP status, body and URL of an error ltijs's HTTP client (got) threw for an answer, if it was one. */
function answerOf(err: unknown): { status: number; body: string; url: string } | null {
  const response = (
    err as {
      response?: { statusCode?: unknown; body?: unknown; url?: unknown };
    } | null
  )?.response;
  if (!response || typeof response.statusCode !== 'number') return null;
  const body = typeof response.body === 'string' ? response.body : '';
  const url = typeof response.url === 'string' ? response.url : '';
  return { status: response.statusCode, body, url };
}

/** The start of an answer's body, as one line, for messages and logs. */
export function answerExcerpt(body: string): string {
  return displayText(body.replace(/\s+/g, ' '), 300) ?? '';
}

/** The platform and key gradebridge already verified a launch's id_token with; ltijs verifies again with them instead of reading the platform and refetching the keyset. */
interface VerifiedKey {
  platform: PlatformInfo;
  key: KeyObject;
}

/** How long a platform's registration is reused before it is read again (changes made in this process apply at once). */
const PLATFORM_CACHE_MS = 30_000;

export class LtiEngine {
  private readonly verified = new AsyncLocalStorage<VerifiedKey>();
  private readonly platforms = new Map<
    string,
    { at: number; info: Promise<PlatformInfo | null> }
  >();
  private readonly Platform: PlatformConstructor;

  private constructor(
    private readonly provider: LtijsProvider,
    private readonly store: KnexLtiStore,
    private readonly encryptionKey: string,
  ) {
    this.Platform = require('ltijs/dist/Utils/Platform') as PlatformConstructor;
  }

  static async create(options: LtiEngineOptions): Promise<LtiEngine> {
    const singleton = (require('ltijs') as { Provider: { constructor: new () => LtijsProvider } })
      .Provider;
    const provider = new singleton.constructor();
    const store = new KnexLtiStore(options.db, options.now);
    const engine = new LtiEngine(provider, store, options.encryptionKey);
    // Launch validation looks the platform up through getPlatform; inside a
    // launch gradebridge already verified, hand ltijs the verified key.
    const original = provider.getPlatform.bind(provider);
    provider.getPlatform = async (url, clientId, key, db) => {
      const verified = engine.verified.getStore();
      if (verified && verified.platform.issuer === url && verified.platform.clientId === clientId) {
        return engine.verifiedPlatform(verified);
      }
      return original(url, clientId, key, db);
    };
    provider.setup(
      options.encryptionKey,
      { plugin: store },
      {
        appRoute: ROUTES.launch,
        loginRoute: ROUTES.login,
        keysetRoute: ROUTES.keys,
        dynRegRoute: '/lti/ltijs-dynamic-registration-unused',
        // No redirect with an ltik after the launch: the launch request goes
        // straight on to gradebridge, which opens its own session.
        ltiaas: true,
        // gradebridge checks iat and exp itself, with a clock tolerance.
        tokenMaxAge: false,
        cors: false,
        cookies: { secure: options.cookieSecure, sameSite: options.cookieSecure ? 'None' : 'Lax' },
        serverAddon: (app: ExpressApp) => options.routes?.(app),
      },
    );
    const stash = (token: unknown, _req: LtiRequest, res: LtiResponse, next: LtiNext) => {
      res.locals.ltiLaunch = token;
      next();
    };
    provider.onConnect(stash);
    provider.onDeepLinking(stash);
    const refuse = (req: LtiRequest, res: LtiResponse, next: LtiNext) => {
      res.locals.ltiError = res.locals.err ?? { message: 'INVALID_LAUNCH' };
      next();
    };
    provider.onInvalidToken(refuse);
    provider.onSessionTimeout(refuse);
    provider.onUnregisteredPlatform((req, res) => refuse(req, res, () => undefined));
    provider.onInactivePlatform((req, res) => refuse(req, res, () => undefined));
    const before = new Set(process.listeners('SIGINT'));
    await provider.deploy({ serverless: true, silent: true });
    for (const listener of process.listeners('SIGINT')) {
      if (!before.has(listener)) process.removeListener('SIGINT', listener);
    }
    return engine;
  }

  /** ltijs's Express app (it exists once setup has run). */
  get app(): ExpressApp {
    return this.provider.app;
  }

  /** Runs ltijs's Express app; resolves 'next' when it passed the request on, 'responded' when it answered. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<'next' | 'responded'> {
    return new Promise((resolve, reject) => {
      const answered = () => resolve('responded');
      res.once('finish', answered);
      res.once('close', answered);
      this.app(req, res, (err) => {
        res.off('finish', answered);
        res.off('close', answered);
        if (err) reject(err instanceof Error ? err : new Error(String(err)));
        else resolve('next');
      });
    });
  }

  /** Runs `work` so that ltijs, verifying the launch again, uses the key gradebridge verified it with. */
  withVerifiedKey<T>(key: VerifiedKey, work: () => T): T {
    return this.verified.run(key, work);
  }

  /**
   * ltijs refuses a launch without the login's state cookie (it names the
   * issuer). When gradebridge confirmed the state another way, through the
   * platform's storage, ltijs is handed the issuer that cookie would carry.
   */
  vouchForState(req: LtiRequest, state: string, issuer: string): void {
    req.signedCookies = { ...req.signedCookies, [`state${state}`]: issuer };
  }

  /** The platform as ltijs sees it inside a launch gradebridge verified: active, with the verified key. */
  private verifiedPlatform({ platform, key }: VerifiedKey): LtijsPlatform {
    const p = new this.Platform(
      platform.name,
      platform.issuer,
      platform.clientId,
      platform.authenticationEndpoint,
      platform.accessTokenEndpoint,
      platform.authorizationServer,
      platform.id,
      this.encryptionKey,
      { method: 'RSA_KEY', key },
      this.store,
    );
    p.platformActive = (active?: boolean) =>
      active === undefined ? Promise.resolve(true) : Promise.reject(new Error('read only'));
    return p;
  }

  private async ltijsPlatform(issuer: string, clientId: string): Promise<LtijsPlatform | null> {
    const found = await this.provider.getPlatform(issuer, clientId);
    return found && !Array.isArray(found) ? found : null;
  }

  /** A registered platform, reused for PLATFORM_CACHE_MS. */
  platform(issuer: string, clientId: string): Promise<PlatformInfo | null> {
    const cacheKey = `${issuer}\n${clientId}`;
    const cached = this.platforms.get(cacheKey);
    if (cached && Date.now() - cached.at < PLATFORM_CACHE_MS) return cached.info;
    const info = this.readPlatform(issuer, clientId);
    this.platforms.set(cacheKey, { at: Date.now(), info });
    info.catch(() => this.platforms.delete(cacheKey));
    return info;
  }

  private async readPlatform(issuer: string, clientId: string): Promise<PlatformInfo | null> {
    const p = await this.ltijsPlatform(issuer, clientId);
    if (!p) return null;
    return {
      id: await p.platformKid(),
      issuer: await p.platformUrl(),
      clientId: await p.platformClientId(),
      name: await p.platformName(),
      authenticationEndpoint: await p.platformAuthEndpoint(),
      accessTokenEndpoint: await p.platformAccessTokenEndpoint(),
      authorizationServer: await p.platformAuthorizationServer(),
      authConfig: await p.platformAuthConfig(),
      active: await p.platformActive(),
    };
  }

  /**
   * Registers a platform, or updates a registered one: ltijs makes the tool's
   * key pair for a new platform (a new one needs its keyset URL; an update
   * without one keeps the platform's keys). The platform is active at once.
   * Whether a registration may change a registered platform is decided by
   * the caller (registration.ts), never here.
   */
  async registerPlatform(p: {
    issuer: string;
    clientId: string;
    name: string;
    authenticationEndpoint: string;
    accessTokenEndpoint: string;
    authorizationServer?: string;
    keysetUrl?: string;
  }): Promise<PlatformInfo> {
    const registered = await this.provider.registerPlatform({
      url: p.issuer,
      clientId: p.clientId,
      name: p.name,
      authenticationEndpoint: p.authenticationEndpoint,
      accesstokenEndpoint: p.accessTokenEndpoint,
      authorizationServer: p.authorizationServer,
      ...(p.keysetUrl ? { authConfig: { method: 'JWK_SET', key: p.keysetUrl } } : {}),
    });
    await registered.platformActive(true);
    this.platforms.delete(`${p.issuer}\n${p.clientId}`);
    return (await this.platform(p.issuer, p.clientId))!;
  }

  /** An access token for the platform's services, cached by ltijs until it expires. */
  async accessToken(issuer: string, clientId: string, scopes: string[]): Promise<string> {
    const p = await this.ltijsPlatform(issuer, clientId);
    if (!p) throw new Error(`platform ${issuer} (client ${clientId}) is not registered`);
    const token = await p.platformAccessToken(scopes.join(' '));
    return `${token.token_type} ${token.access_token}`;
  }

  /**
   * Forgets the platform's cached access tokens (every scope): the next call
   * asks the platform for a new one. For a 401, when the platform revoked
   * the token before it expired (a restart, a key rotation).
   */
  async dropAccessTokens(issuer: string, clientId: string): Promise<void> {
    await this.store.Delete('accesstoken', { platformUrl: issuer, clientId });
  }

  /**
   * Runs one service call; on a 401 it drops the cached tokens and runs it
   * once more with a new one. A second 401, like any other error answer,
   * is thrown as an LtiServiceError saying what was refused.
   */
  private async withTokenRenewal<T>(
    ctx: ServiceContext,
    what: string,
    call: () => Promise<T>,
  ): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (answerOf(err)?.status !== 401) throw await this.serviceError(err, ctx, what, false);
    }
    await this.dropAccessTokens(ctx.issuer, ctx.clientId);
    try {
      return await call();
    } catch (err) {
      throw await this.serviceError(err, ctx, what, true);
    }
  }

  private async serviceError(
    err: unknown,
    ctx: ServiceContext,
    what: string,
    renewed: boolean,
  ): Promise<unknown> {
    const answer = answerOf(err);
    if (!answer) return err;
    const detail = answerExcerpt(answer.body);
    const said = detail ? `: ${detail}` : '';
    const platform = await this.platform(ctx.issuer, ctx.clientId).catch(() => null);
    const message =
      platform && answer.url === platform.accessTokenEndpoint
        ? `the platform's token endpoint refused an access token for ${what} (${answer.status}${said})`
        : answer.status === 401 && renewed
          ? `the platform refused a new access token for ${what} (401${said})`
          : `the platform answered ${answer.status} to ${what}${said}`;
    return new LtiServiceError(answer.status, detail, message);
  }

  private idtoken(ctx: ServiceContext): Record<string, unknown> {
    return {
      iss: ctx.issuer,
      clientId: ctx.clientId,
      deploymentId: ctx.deploymentId,
      platformContext: {
        endpoint: { lineitems: ctx.lineItemsUrl },
        namesRoles: { context_memberships_url: ctx.membershipsUrl },
        deepLinkingSettings: ctx.deepLinking ?? undefined,
      },
    };
  }

  /** One page of line items (AGS), from the context's container or a `next` URL. */
  async lineItems(ctx: ServiceContext, url?: string): Promise<Page<Record<string, unknown>>> {
    const result = await this.withTokenRenewal(ctx, 'the line items (AGS)', () =>
      this.provider.Grade.getLineItems(this.idtoken(ctx), url ? { url } : { limit: 1000 }),
    );
    return { items: result.lineItems as Array<Record<string, unknown>>, next: result.next ?? null };
  }

  /** Every line item gradebridge may have made for a column: filtered by resourceId and tag, all pages. */
  async lineItemsFor(
    ctx: ServiceContext,
    filter: { resourceId: string; tag: string },
  ): Promise<Array<Record<string, unknown>>> {
    const items: Array<Record<string, unknown>> = [];
    let url: string | undefined;
    do {
      const result = await this.withTokenRenewal(ctx, 'the line items (AGS)', () =>
        this.provider.Grade.getLineItems(
          this.idtoken(ctx),
          url ? { url } : { resourceId: filter.resourceId, tag: filter.tag, limit: 1000 },
        ),
      );
      items.push(...(result.lineItems as Array<Record<string, unknown>>));
      url = result.next ?? undefined;
    } while (url);
    return items;
  }

  /** One page of a line item's results (AGS). */
  async results(
    ctx: ServiceContext,
    lineItemId: string,
    url?: string,
  ): Promise<Page<Record<string, unknown>>> {
    const result = await this.withTokenRenewal(ctx, 'the results (AGS)', () =>
      this.provider.Grade.getScores(this.idtoken(ctx), lineItemId, url ? { url } : { limit: 1000 }),
    );
    return { items: result.scores as Array<Record<string, unknown>>, next: result.next ?? null };
  }

  async createLineItem(
    ctx: ServiceContext,
    lineItem: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    return this.withTokenRenewal(ctx, 'a new line item (AGS)', () =>
      this.provider.Grade.createLineItem(this.idtoken(ctx), lineItem),
    );
  }

  /** One page of the context's members (Names and Roles). */
  async members(ctx: ServiceContext, url?: string): Promise<Page<Record<string, unknown>>> {
    const result = await this.withTokenRenewal(ctx, 'the roster (Names and Roles)', () =>
      this.provider.NamesAndRoles.getMembers(
        this.idtoken(ctx),
        url ? { url, pages: 1 } : { pages: 1, limit: 1000 },
      ),
    );
    return { items: result.members as Array<Record<string, unknown>>, next: result.next ?? null };
  }

  /** The signed LtiDeepLinkingResponse for the chosen content items. */
  async deepLinkingResponse(
    ctx: ServiceContext,
    items: Array<Record<string, unknown>>,
    message?: string,
  ): Promise<string> {
    return this.provider.DeepLinking.createDeepLinkingMessage(
      this.idtoken(ctx),
      items,
      message ? { message } : undefined,
    );
  }
}
