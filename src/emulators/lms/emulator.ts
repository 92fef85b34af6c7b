import { ScoreFaults } from './score-faults.js';
import crypto from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type http from 'node:http';
import { checkNumberOption, closeServer, listen } from '../shared/server.js';
import { AccessTokens } from './access-tokens.js';
import { createApp } from './app.js';
import type { EmulatorCore } from './core.js';
import { CourseStore } from './course-store.js';
import { DeepLinkSessions } from './deep-link-sessions.js';
import { startDynamicRegistration } from './dynamic-registration.js';
import { LaunchHints } from './hints.js';
import { loginInitiationUrl } from './launch.js';
import { PlatformKey } from './platform-key.js';
import { PLATFORM_STORAGE_MODES, type PlatformStorageMode } from './platform-storage.js';
import { RegistrationTokens } from './registration-tokens.js';
import { ToolKeysets } from './tool-keysets.js';
import { newDeploymentId, ToolRegistry } from './tool-registry.js';
import { newCanvasDeploymentId } from './canvas.js';
import type {
  CanvasDeploymentId,
  ContextInput,
  ContextRecord,
  DeepLinkReturn,
  EmulatorEndpoints,
  EmulatorStats,
  LineItem,
  LineItemInput,
  LmsEmulatorOptions,
  LoginInitiationOptions,
  MemberInput,
  MemberRecord,
  RegistrationMode,
  ResourceLinkInput,
  ResourceLinkRecord,
  Result,
  ResultInput,
  ScoreRecord,
  ToolInput,
  ToolRecord,
} from './types.js';
import { EmulatorUrls } from './urls.js';

const copy = <T>(value: T): T => structuredClone(value);

function checkStorageMode(mode: PlatformStorageMode): PlatformStorageMode {
  if (!PLATFORM_STORAGE_MODES.includes(mode)) {
    throw new Error(`platformStorage must be one of ${PLATFORM_STORAGE_MODES.join(', ')}.`);
  }
  return mode;
}

function checkRegistrationMode(mode: RegistrationMode): RegistrationMode {
  if (mode !== 'spec' && mode !== 'canvas') {
    throw new Error('registrationMode must be spec or canvas.');
  }
  return mode;
}

function checkCanvasDeploymentId(where: CanvasDeploymentId): CanvasDeploymentId {
  if (where !== 'absent' && where !== 'top-level') {
    throw new Error('canvasDeploymentId must be absent or top-level.');
  }
  return where;
}

/**
 * A stand-in LMS that follows LTI 1.3 Core, the Security Framework, Deep
 * Linking 2.0, AGS 2.0, NRPS 2.0 and Dynamic Registration 1.0, on loopback.
 */
export class LmsEmulator {
  readonly url: string;
  readonly issuer: string;
  readonly keyId: string;
  readonly endpoints: EmulatorEndpoints;

  private constructor(
    private readonly core: EmulatorCore,
    private readonly server: http.Server,
    private readonly abort: AbortController,
  ) {
    this.url = core.urls.base;
    this.issuer = core.issuer;
    this.keyId = core.key.kid;
    const { urls } = core;
    this.endpoints = {
      authorization: urls.authorization,
      token: urls.token,
      keyset: urls.keyset,
      openidConfiguration: urls.openidConfiguration,
      registration: urls.registration,
    };
  }

  static async start(options: LmsEmulatorOptions = {}): Promise<LmsEmulator> {
    checkNumberOption('port', options.port, 0);
    checkNumberOption('pageSize', options.pageSize, 1);
    checkNumberOption('keysetDelayMs', options.keysetDelayMs, 0);
    checkNumberOption('accessTokenTtlSeconds', options.accessTokenTtlSeconds, 1);
    checkNumberOption('idTokenTtlSeconds', options.idTokenTtlSeconds, 1);
    const { server, url } = await listen(options.host ?? '127.0.0.1', options.port ?? 0);
    const urls = new EmulatorUrls(url);
    const abort = new AbortController();
    // Every request that waits (a slow keyset, an outbound fetch) listens for the close.
    setMaxListeners(0, abort.signal);
    const core: EmulatorCore = {
      urls,
      issuer: options.issuer ?? urls.base,
      platformGuid: crypto.randomUUID(),
      key: new PlatformKey(),
      store: new CourseStore(urls),
      tools: new ToolRegistry(),
      keysets: new ToolKeysets(abort.signal),
      accessTokens: new AccessTokens(),
      scoreFaults: new ScoreFaults(),
      hints: new LaunchHints(),
      deepLinkSessions: new DeepLinkSessions(),
      registrationTokens: new RegistrationTokens(),
      settings: {
        pageSize: options.pageSize ?? 100,
        accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? 3600,
        idTokenTtlSeconds: options.idTokenTtlSeconds ?? 300,
        keysetDelayMs: options.keysetDelayMs ?? 0,
        platformStorage: checkStorageMode(options.platformStorage ?? 'post_message_forwarding'),
        registrationMode: checkRegistrationMode(options.registrationMode ?? 'spec'),
        canvasDeploymentId: checkCanvasDeploymentId(options.canvasDeploymentId ?? 'absent'),
      },
      stats: { keysetRequests: 0, tokenRequests: 0, authRequests: 0 },
      deepLinkReturns: [],
      closing: abort.signal,
    };
    server.on('request', createApp(core).callback());
    return new LmsEmulator(core, server, abort);
  }

  get keysetDelayMs(): number {
    return this.core.settings.keysetDelayMs;
  }
  set keysetDelayMs(ms: number) {
    checkNumberOption('keysetDelayMs', ms, 0);
    this.core.settings.keysetDelayMs = ms;
  }

  /** How launch pages offer platform storage to the tools they embed (`none`: cookies only). */
  get platformStorage(): PlatformStorageMode {
    return this.core.settings.platformStorage;
  }
  set platformStorage(mode: PlatformStorageMode) {
    this.core.settings.platformStorage = checkStorageMode(mode);
  }

  /**
   * How Dynamic Registration works: as the specification says (`spec`) or
   * as Canvas does (`canvas`: its paths, the registration token required,
   * placements kept or dropped as Canvas keeps them, deep linking settings
   * by placement). The OpenID configuration URL a registration starts from
   * follows it (`endpoints.openidConfiguration` is the specification's).
   */
  get registrationMode(): RegistrationMode {
    return this.core.settings.registrationMode;
  }
  set registrationMode(mode: RegistrationMode) {
    this.core.settings.registrationMode = checkRegistrationMode(mode);
  }

  /** Where a `canvas` registration's answer carries the deployment id: `absent` or `top-level`. */
  get canvasDeploymentId(): CanvasDeploymentId {
    return this.core.settings.canvasDeploymentId;
  }
  set canvasDeploymentId(where: CanvasDeploymentId) {
    this.core.settings.canvasDeploymentId = checkCanvasDeploymentId(where);
  }

  /** A snapshot of the request counters. */
  get stats(): EmulatorStats {
    return { ...this.core.stats };
  }

  /** Stops listening, drops keep-alive connections and cancels pending delays and fetches. */
  async close(): Promise<void> {
    if (!this.server.listening) return;
    this.abort.abort();
    await closeServer(this.server);
  }

  // --- tools ---

  registerTool(tool: ToolInput): { clientId: string; deploymentId: string } {
    const record = this.core.tools.register(tool);
    return { clientId: record.clientId, deploymentId: record.deploymentIds[0]! };
  }

  /**
   * Deploys a registered tool once more, as an administrator installs it in
   * another account or course: returns the new deployment id.
   */
  deployTool(clientId: string): string {
    const tool = this.core.tools.require(clientId);
    const deploymentId = tool.placements ? newCanvasDeploymentId() : newDeploymentId();
    tool.deploymentIds.push(deploymentId);
    return deploymentId;
  }

  tools(): ToolRecord[] {
    return copy(this.core.tools.list());
  }

  /**
   * Revokes the access tokens issued so far (to one tool, or to every tool),
   * as a platform does when it restarts or an administrator revokes them: a
   * revoked token is answered 401 with `WWW-Authenticate: Bearer
   * error="invalid_token"`, and a new token works. Returns how many.
   */
  revokeAccessTokens(clientId?: string): number {
    return this.core.accessTokens.revoke(clientId);
  }

  /** Scores for this learner are answered 204 and dropped: the platform keeps the older score. */
  keepOlderScore(userId: string): void {
    this.core.scoreFaults.keepOlderScore(userId);
  }

  /** Scores for this learner are refused, by default 422 as Canvas refuses the Test Student's. */
  refuseScores(userId: string, status?: number, message?: string): void {
    this.core.scoreFaults.refuseScores(userId, status, message);
  }

  clearScoreFaults(): void {
    this.core.scoreFaults.clear();
  }

  /**
   * Removes a tool from a context, or makes it available there again. A
   * removed tool cannot be launched there, and its services there answer 401
   * however new its token (as Canvas does when the tool is not installed
   * where the course is).
   */
  setToolAvailable(contextId: string, clientId: string, available: boolean): void {
    this.core.tools.require(clientId);
    this.core.store.setToolAvailable(contextId, clientId, available);
  }

  /**
   * Dynamic Registration as an admin's browser starts it; resolves with the
   * registration the tool made. The tool should register before it answers
   * the GET; waitMs (default 1000) allows for one that registers just after.
   */
  async startDynamicRegistration(
    toolRegistrationUrl: string,
    options: { waitMs?: number } = {},
  ): Promise<{ clientId: string; deploymentId: string }> {
    return startDynamicRegistration(this.core, toolRegistrationUrl, options.waitMs ?? 1000);
  }

  // --- course data ---

  createContext(ctx: ContextInput): void {
    this.core.store.createContext(ctx);
  }

  contexts(): ContextRecord[] {
    return copy(this.core.store.contextList());
  }

  /** Adds a member, or replaces the membership of a user who already is one. */
  addMember(contextId: string, member: MemberInput): void {
    this.core.store.addMember(contextId, member);
  }

  members(contextId: string): MemberRecord[] {
    this.core.store.requireContext(contextId);
    return copy(this.core.store.membersOf(contextId));
  }

  addResourceLink(contextId: string, link: ResourceLinkInput): void {
    this.core.store.addResourceLink({ ...link, contextId });
  }

  resourceLinks(contextId: string): ResourceLinkRecord[] {
    this.core.store.requireContext(contextId);
    return copy(this.core.store.resourceLinksOf(contextId));
  }

  /** Creates a line item as the platform would (visible to every tool); its id is its URL. */
  addLineItem(contextId: string, item: LineItemInput): LineItem {
    return this.core.store.addLineItem(contextId, { ...item });
  }

  setResult(lineItemId: string, userId: string, result: ResultInput): void {
    this.core.store.setResult(lineItemId, userId, result);
  }

  lineItems(contextId: string): LineItem[] {
    this.core.store.requireContext(contextId);
    return copy(this.core.store.lineItemsOf(contextId));
  }

  results(lineItemId: string): Result[] {
    return copy(this.core.store.resultsOf(lineItemId));
  }

  scores(lineItemId: string): ScoreRecord[] {
    return this.core.store.scoresOf(lineItemId);
  }

  deepLinkReturns(): DeepLinkReturn[] {
    return copy(this.core.deepLinkReturns);
  }

  // --- launching ---

  loginInitiationUrl(opts: LoginInitiationOptions): string {
    return loginInitiationUrl(this.core, opts);
  }

  /**
   * Signs any payload with the platform key, as is: nothing is added. The
   * header's kid defaults to the platform's (null leaves it out) and alg to
   * RS256 ('none' and HS256 make deliberately broken tokens).
   */
  signIdToken(payload: object, header: { kid?: string | null; alg?: string } = {}): string {
    return this.core.key.signWith(payload, header);
  }
}
