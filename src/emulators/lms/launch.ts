import { canvasDeepLinkingSettings } from './canvas.js';
import type { EmulatorCore } from './core.js';
import type { LaunchIntent } from './hints.js';
import { dropUndefined } from './objects.js';
import type {
  ContextRecord,
  LoginInitiationOptions,
  MemberRecord,
  ResourceLinkRecord,
  ToolPlacement,
  ToolRecord,
} from './types.js';
import { AGS_SCOPES, CLAIM, LTI_VERSION, PRODUCT, SCOPE, type MessageType } from './vocabulary.js';

export interface ResolvedLaunch {
  intent: LaunchIntent;
  tool: ToolRecord;
  context: ContextRecord;
  member: MemberRecord;
  link?: ResourceLinkRecord;
}

/** Checks a launch against the platform's current data; throws with the reason it cannot happen. */
export function resolveLaunch(core: EmulatorCore, intent: LaunchIntent): ResolvedLaunch {
  const tool = core.tools.get(intent.clientId);
  if (!tool) throw new Error(`Unknown tool client id "${intent.clientId}".`);
  if (!tool.deploymentIds.includes(intent.deploymentId)) {
    throw new Error(`Tool "${tool.clientId}" has no deployment "${intent.deploymentId}".`);
  }
  const context = core.store.context(intent.contextId);
  if (!context) throw new Error(`Unknown context "${intent.contextId}".`);
  if (!core.store.toolAvailable(context.id, tool.clientId)) {
    throw new Error(`Tool "${tool.clientId}" is not available in "${context.id}".`);
  }
  const member = core.store.member(context.id, intent.userId);
  if (!member) throw new Error(`User "${intent.userId}" is not a member of "${context.id}".`);
  // Like real LMSs, inactive members cannot open the course's tools.
  if (member.status !== 'Active') {
    throw new Error(`User "${intent.userId}" is not an active member of "${context.id}".`);
  }
  if (intent.messageType !== 'LtiResourceLinkRequest') return { intent, tool, context, member };
  const link = intent.resourceLinkId ? core.store.resourceLink(intent.resourceLinkId) : undefined;
  if (!link || link.contextId !== context.id) {
    throw new Error(`No resource link "${intent.resourceLinkId}" in context "${context.id}".`);
  }
  if (link.clientId && link.clientId !== tool.clientId) {
    throw new Error(`Resource link "${link.id}" belongs to tool "${link.clientId}".`);
  }
  return { intent, tool, context, member, link };
}

/**
 * The placement a deep linking launch of a tool comes from. Tools registered
 * as Canvas registers them have only the placements Canvas kept: none for
 * deep linking means no deep linking launch at all. Other tools have none.
 */
function deepLinkingPlacement(
  tool: ToolRecord,
  asked: string | undefined,
): ToolPlacement | undefined {
  if (!tool.placements) {
    if (asked) throw new Error(`Tool "${tool.clientId}" has no placements.`);
    return undefined;
  }
  const offered = tool.placements.filter((p) => p.messageType === 'LtiDeepLinkingRequest');
  if (offered.length === 0) {
    throw new Error(
      `Tool "${tool.clientId}" has no deep linking placement (its registration kept ${
        tool.placements.map((p) => p.placement).join(', ') || 'none'
      }).`,
    );
  }
  const found = asked ? offered.find((p) => p.placement === asked) : offered[0];
  if (!found) {
    throw new Error(`Tool "${tool.clientId}" has no deep linking placement "${asked}".`);
  }
  return found;
}

/** The third-party initiated login request a browser is sent to (LTI Core 5.1.1). */
export function loginInitiationUrl(core: EmulatorCore, opts: LoginInitiationOptions): string {
  const tool = core.tools.require(opts.toolClientId);
  const messageType: MessageType = opts.messageType ?? 'LtiResourceLinkRequest';
  if (messageType !== 'LtiResourceLinkRequest' && messageType !== 'LtiDeepLinkingRequest') {
    throw new Error(`Unsupported message type "${String(messageType)}".`);
  }
  const isDeepLinking = messageType === 'LtiDeepLinkingRequest';
  if (isDeepLinking && opts.resourceLinkId) {
    throw new Error('A deep linking request has no resource link.');
  }
  if (!isDeepLinking && !opts.resourceLinkId) {
    throw new Error('A resource link launch needs a resourceLinkId.');
  }
  const link = opts.resourceLinkId ? core.store.resourceLink(opts.resourceLinkId) : undefined;
  if (opts.resourceLinkId && !link)
    throw new Error(`Unknown resource link "${opts.resourceLinkId}".`);
  const contextId = opts.contextId ?? link?.contextId;
  if (!contextId) throw new Error('A deep linking request needs a contextId.');
  // A tool Canvas registered is launched for deep linking from one of the placements it kept.
  const placement = isDeepLinking ? deepLinkingPlacement(tool, opts.placement) : undefined;
  if (!isDeepLinking && opts.placement) {
    throw new Error('A placement names where a deep linking request comes from.');
  }
  const intent: LaunchIntent = {
    clientId: tool.clientId,
    userId: opts.userId,
    contextId,
    messageType,
    deploymentId: opts.deploymentId ?? tool.deploymentIds[0]!,
    targetLinkUri:
      opts.targetLinkUri ??
      (isDeepLinking
        ? (placement?.targetLinkUri ?? tool.deepLinkingUrl ?? tool.launchUrl)
        : (link?.url ?? tool.launchUrl)),
  };
  if (placement) intent.placement = placement.placement;
  if (isDeepLinking && opts.deepLinkingSettings) {
    intent.deepLinkingSettings = { ...opts.deepLinkingSettings };
  }
  if (link) intent.resourceLinkId = link.id;
  if (opts.storageTarget) intent.storageTarget = opts.storageTarget;
  resolveLaunch(core, intent);
  const url = new URL(tool.loginUrl);
  url.searchParams.set('iss', core.issuer);
  url.searchParams.set('login_hint', core.hints.loginHint(intent.userId));
  url.searchParams.set('target_link_uri', intent.targetLinkUri);
  url.searchParams.set('lti_message_hint', core.hints.messageHint(intent));
  url.searchParams.set('client_id', tool.clientId);
  url.searchParams.set('lti_deployment_id', intent.deploymentId);
  if (intent.storageTarget) url.searchParams.set('lti_storage_target', intent.storageTarget);
  return url.toString();
}

function substitutions(launch: ResolvedLaunch): Record<string, string | undefined> {
  const { member, context, link } = launch;
  return {
    '$User.id': member.userId,
    '$Person.name.full': member.name,
    '$Person.name.given': member.givenName,
    '$Person.name.family': member.familyName,
    '$Person.email.primary': member.email,
    '$Person.sourcedId': member.lisPersonSourcedId,
    '$Membership.role': member.roles.join(','),
    '$Context.id': context.id,
    '$Context.label': context.label,
    '$Context.title': context.title,
    '$CourseSection.sourcedId': context.lisCourseSourcedId,
    '$ResourceLink.id': link?.id,
    '$ResourceLink.title': link?.title,
  };
}

export const SUBSTITUTION_VARIABLES = [
  'User.id',
  'Person.name.full',
  'Person.name.given',
  'Person.name.family',
  'Person.email.primary',
  'Person.sourcedId',
  'Membership.role',
  'Context.id',
  'Context.label',
  'Context.title',
  'CourseSection.sourcedId',
  'ResourceLink.id',
  'ResourceLink.title',
];

/**
 * Tool-level custom parameters, then the message type's, then the link's;
 * known $variables substituted, others left as they are (LTI Core 5.4.6).
 */
function customClaim(launch: ResolvedLaunch): Record<string, string> | undefined {
  const merged = {
    ...launch.tool.custom,
    ...(launch.tool.messageCustom?.[launch.intent.messageType] ?? {}),
    ...(launch.link?.custom ?? {}),
  };
  const vars = substitutions(launch);
  const entries = Object.entries(merged).map(([name, value]) => [name, vars[value] ?? value]);
  return entries.length > 0 ? Object.fromEntries(entries) : undefined;
}

/** The id_token claims of a launch (LTI Core 5.3-5.4, AGS 3.1, NRPS 3.6, Deep Linking 4.4). */
export function idTokenClaims(
  core: EmulatorCore,
  launch: ResolvedLaunch,
  nonce: string,
  deepLinkingData?: string,
): Record<string, unknown> {
  const { intent, tool, context, member, link } = launch;
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = dropUndefined({
    iss: core.issuer,
    aud: tool.clientId,
    azp: tool.clientId,
    sub: member.userId,
    iat: now,
    exp: now + core.settings.idTokenTtlSeconds,
    nonce,
    name: member.name,
    given_name: member.givenName,
    family_name: member.familyName,
    email: member.email,
  });
  claims[CLAIM.messageType] = intent.messageType;
  claims[CLAIM.version] = LTI_VERSION;
  claims[CLAIM.deploymentId] = intent.deploymentId;
  claims[CLAIM.targetLinkUri] = intent.targetLinkUri;
  if (link) {
    claims[CLAIM.resourceLink] = dropUndefined({
      id: link.id,
      title: link.title,
      description: link.description,
    });
  }
  claims[CLAIM.roles] = [...member.roles];
  // The users a mentor may see (LTI core role-scope mentor claim); Canvas sends the students an observer observes in this course.
  if (member.mentees && member.mentees.length > 0) {
    claims[CLAIM.roleScopeMentor] = [...member.mentees];
  }
  claims[CLAIM.context] = dropUndefined({
    id: context.id,
    label: context.label,
    title: context.title,
    type: context.type,
  });
  claims[CLAIM.toolPlatform] = {
    guid: core.platformGuid,
    name: PRODUCT.name,
    product_family_code: PRODUCT.productFamilyCode,
    version: PRODUCT.version,
  };
  const returnUrl = new URL(core.urls.launchReturn);
  returnUrl.searchParams.set('context_id', context.id);
  claims[CLAIM.launchPresentation] = {
    document_target: 'iframe',
    return_url: returnUrl.toString(),
    locale: 'en-US',
  };
  if (member.lisPersonSourcedId || context.lisCourseSourcedId) {
    claims[CLAIM.lis] = dropUndefined({
      person_sourcedid: member.lisPersonSourcedId,
      course_offering_sourcedid: context.lisCourseSourcedId,
    });
  }
  const custom = customClaim(launch);
  if (custom) claims[CLAIM.custom] = custom;
  const agsScopes = tool.scopes.filter((s) => AGS_SCOPES.includes(s));
  if (agsScopes.length > 0) {
    // AGS: lineitem only when the link has exactly one line item (that this tool can see).
    const bound = (link ? core.store.lineItemsBoundTo(link.id) : []).filter(
      (i) => i.clientId === undefined || i.clientId === tool.clientId,
    );
    claims[CLAIM.agsEndpoint] = dropUndefined({
      scope: agsScopes,
      lineitems: core.urls.lineItems(context.id),
      lineitem: bound.length === 1 ? bound[0]!.id : undefined,
    });
  }
  if (tool.scopes.includes(SCOPE.contextMembershipReadonly)) {
    claims[CLAIM.nrpsService] = {
      context_memberships_url: core.urls.memberships(context.id),
      service_versions: ['2.0'],
    };
  }
  if (intent.messageType === 'LtiDeepLinkingRequest') {
    claims[CLAIM.deepLinkingSettings] = deepLinkingSettings(core, intent, deepLinkingData);
  }
  return claims;
}

/**
 * The deep_linking_settings of a deep linking launch (Deep Linking 2.0,
 * 4.4.1): from a placement of a tool Canvas registered, Canvas's for that
 * placement (no `data`: the return URL carries the request); otherwise the
 * platform's, with the launch's own settings over them (null leaves one
 * out).
 */
export function deepLinkingSettings(
  core: EmulatorCore,
  intent: LaunchIntent,
  data: string | undefined,
): Record<string, unknown> {
  if (intent.placement) {
    const returnUrl = new URL(core.urls.deepLinkReturn);
    returnUrl.searchParams.set('placement', intent.placement);
    if (data) returnUrl.searchParams.set('session', data);
    return canvasDeepLinkingSettings(intent.placement, returnUrl.toString());
  }
  const settings: Record<string, unknown> = {
    deep_link_return_url: core.urls.deepLinkReturn,
    accept_types: ['ltiResourceLink'],
    accept_presentation_document_targets: ['iframe', 'window'],
    accept_multiple: true,
    accept_lineitem: true,
    auto_create: true,
    data,
    ...(intent.deepLinkingSettings ?? {}),
  };
  return Object.fromEntries(
    Object.entries(settings).filter(([, v]) => v !== undefined && v !== null),
  );
}
