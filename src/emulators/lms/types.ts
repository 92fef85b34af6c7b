import type { PlatformStorageMode } from './platform-storage.js';
import type { ActivityProgress, GradingProgress, MessageType } from './vocabulary.js';

export interface LmsEmulatorOptions {
  /** 0 = a random free port (default). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default: the emulator's own base URL. */
  issuer?: string;
  /** Default page size of AGS and NRPS containers (default 100). */
  pageSize?: number;
  /** Artificial delay before answering GET /jwks, for benchmarks (default 0). */
  keysetDelayMs?: number;
  /** Default 3600. */
  accessTokenTtlSeconds?: number;
  /** Default 300. */
  idTokenTtlSeconds?: number;
  /**
   * How launch pages offer platform storage (lti_storage_target): Canvas's
   * sibling frame `post_message_forwarding` (default), the page itself
   * (`_parent`), or `none`.
   */
  platformStorage?: PlatformStorageMode;
  /**
   * How Dynamic Registration works: as the specification says (`spec`,
   * default: /.well-known/openid-configuration, open registration, the
   * deployment id in the tool configuration of the answer), or as Canvas does
   * (`canvas`: its configuration and registration paths, the registration
   * token required, placements kept or dropped as Canvas keeps them, deep
   * linking settings by placement).
   */
  registrationMode?: RegistrationMode;
  /**
   * Where a `canvas` registration's answer carries the new deployment id:
   * nowhere (`absent`, default: Canvas deploys the tool after the
   * administrator reviews it) or at the top level (`top-level`).
   */
  canvasDeploymentId?: CanvasDeploymentId;
}

export type RegistrationMode = 'spec' | 'canvas';
export type CanvasDeploymentId = 'absent' | 'top-level';

/** A place in the LMS where a tool's message is offered (Canvas keeps these from Dynamic Registration). */
export interface ToolPlacement {
  /** Canvas's name: link_selection, assignment_selection, editor_button, course_navigation, ... */
  placement: string;
  messageType: MessageType;
  targetLinkUri?: string;
  label?: string;
}

export interface ToolInput {
  name: string;
  loginUrl: string;
  launchUrl: string;
  keysetUrl: string;
  /** Default [launchUrl]. */
  redirectUris?: string[];
  /** Default: a new random client id. */
  clientId?: string;
  /** Default: one new deployment id. */
  deploymentIds?: string[];
  /** Service scopes the tool may ask tokens for. Default: every AGS and NRPS scope. */
  scopes?: string[];
}

export interface ToolRecord {
  clientId: string;
  name: string;
  loginUrl: string;
  launchUrl: string;
  keysetUrl: string;
  redirectUris: string[];
  deploymentIds: string[];
  scopes: string[];
  /** Tool-level custom parameters (from Dynamic Registration). */
  custom: Record<string, string>;
  /** Custom parameters of one message type, over the tool-level ones (Dynamic Registration messages). */
  messageCustom?: Partial<Record<MessageType, Record<string, string>>>;
  /** Where deep linking requests go when the tool named one (Dynamic Registration messages). */
  deepLinkingUrl?: string;
  /** The registration request as the tool sent it, for dynamically registered tools. */
  registration?: Record<string, unknown>;
  /**
   * The placements Canvas kept from the registration's messages (canvas
   * registration mode): a deep linking launch comes from one of its deep
   * linking placements, and none without one.
   */
  placements?: ToolPlacement[];
}

export interface ContextInput {
  id: string;
  label?: string;
  title?: string;
  type?: string[];
  lisCourseSourcedId?: string;
}

export interface ContextRecord extends ContextInput {
  type: string[];
}

export type MemberStatus = 'Active' | 'Inactive';

export interface MemberInput {
  userId: string;
  name?: string;
  givenName?: string;
  familyName?: string;
  email?: string;
  roles: string[];
  lisPersonSourcedId?: string;
  status?: MemberStatus;
  /**
   * For a mentor (an observer): the user ids of the members they observe in
   * this context, sent in launches as the role_scope_mentor claim (as Canvas
   * does for observers).
   */
  mentees?: string[];
}

export interface MemberRecord extends MemberInput {
  contextId: string;
  status: MemberStatus;
}

export interface ResourceLinkInput {
  id: string;
  title?: string;
  custom?: Record<string, string>;
}

export interface ResourceLinkRecord extends ResourceLinkInput {
  contextId: string;
  description?: string;
  /** Launch URL chosen by the tool (deep linking); the tool's launch URL otherwise. */
  url?: string;
  /** The tool the link belongs to, when a tool created it; any tool may launch it otherwise. */
  clientId?: string;
}

export interface LineItemInput {
  label: string;
  scoreMaximum: number;
  resourceId?: string;
  tag?: string;
  resourceLinkId?: string;
  startDateTime?: string;
  endDateTime?: string;
}

export interface LineItem extends LineItemInput {
  /** The line item's URL. */
  id: string;
  contextId: string;
  gradesReleased?: boolean;
  /**
   * The tool that created it (AGS or deep linking). Like Canvas, a tool sees
   * only its own line items and those the platform created (no clientId).
   */
  clientId?: string;
}

export interface ResultInput {
  resultScore?: number;
  resultMaximum?: number;
  comment?: string;
  timestamp?: string;
}

export interface Result {
  /** The result's URL. */
  id: string;
  /** The line item's URL. */
  scoreOf: string;
  userId: string;
  resultScore?: number;
  resultMaximum?: number;
  comment?: string;
  /** Progress and timestamp of the last score accepted for it, or when it was set. */
  activityProgress?: ActivityProgress;
  gradingProgress?: GradingProgress;
  timestamp?: string;
}

export interface Score {
  userId: string;
  scoreGiven?: number;
  scoreMaximum?: number;
  comment?: string;
  timestamp: string;
  activityProgress: ActivityProgress;
  gradingProgress: GradingProgress;
  submission?: { startedAt?: string; submittedAt?: string };
  [extension: string]: unknown;
}

export interface ScoreRecord {
  lineItemId: string;
  clientId: string;
  receivedAt: string;
  score: Score;
  /** True when the score was not newer than the last accepted one and so changed nothing. */
  ignored: boolean;
}

export interface DeepLinkReturn {
  receivedAt: string;
  /** False when the response was rejected; error says why. */
  accepted: boolean;
  error?: string;
  /** The decoded JWT header and claims, when the JWT could be decoded at all. */
  header?: Record<string, unknown>;
  claims?: Record<string, unknown>;
  clientId?: string;
  deploymentId?: string;
  contextId?: string;
  userId?: string;
  contentItems: Record<string, unknown>[];
  msg?: string;
  log?: string;
  errormsg?: string;
  errorlog?: string;
  createdResourceLinks: ResourceLinkRecord[];
  createdLineItems: LineItem[];
  /** Content items of types this platform does not accept (here: accept_types), left out. */
  ignoredItems: Record<string, unknown>[];
  /** Line items the platform ignored (accept_lineitem was false): their links were made without them. */
  ignoredLineItems: Record<string, unknown>[];
  /** The deep linking settings the request carried (what the response was held to). */
  settings?: Record<string, unknown>;
  /** The placement the request came from (canvas registration mode). */
  placement?: string;
}

export interface LoginInitiationOptions {
  toolClientId: string;
  userId: string;
  contextId?: string;
  resourceLinkId?: string;
  messageType?: MessageType;
  deploymentId?: string;
  targetLinkUri?: string;
  /** lti_storage_target: the frame of the launch page that answers platform storage messages. */
  storageTarget?: string;
  /**
   * A deep linking launch of a tool Canvas registered: the placement it comes
   * from (default: the tool's first deep linking placement); its deep linking
   * settings are Canvas's for that placement.
   */
  placement?: string;
  /**
   * A deep linking launch: settings over the platform's (accept_types,
   * accept_multiple, accept_lineitem, auto_create, ...); null leaves one out.
   */
  deepLinkingSettings?: Record<string, unknown>;
}

export interface EmulatorStats {
  keysetRequests: number;
  tokenRequests: number;
  authRequests: number;
}

export interface EmulatorEndpoints {
  authorization: string;
  token: string;
  keyset: string;
  openidConfiguration: string;
  registration: string;
}
