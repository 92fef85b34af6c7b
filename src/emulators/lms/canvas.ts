import crypto from 'node:crypto';
import { bearerToken } from '../shared/bearer-tokens.js';
import type { EmulatorContext } from './access-tokens.js';
import { HttpError } from './errors.js';
import { isHttpUrl } from './tool-registry.js';
import type { ToolPlacement } from './types.js';
import { SERVICE_SCOPES, TOOL_CONFIGURATION, type MessageType } from './vocabulary.js';

/**
 * Dynamic Registration and deep linking as Canvas does them (canvas-lms:
 * app/models/lti/ims/registration.rb, app/models/lti/resource_placement.rb,
 * lib/schemas/lti/ims/lti_tool_configuration.rb,
 * lib/lti/messages/deep_linking_request.rb, doc/api/registration.md):
 *
 * - its configuration and registration need the registration token;
 * - a message's placements must be names Canvas knows (its own, the same
 *   prefixed with https://canvas.instructure.com/lti/, or the IMS names
 *   ContentArea and RichTextEditor, which it maps to link_selection and
 *   editor_button), or the registration is refused;
 * - a message without placements is dropped (the tool keeps its
 *   target_link_uri for resource links), as is a placement that does not
 *   take the message's type; each placement is kept once;
 * - the answer is the registration with the client_id; the deployment id is
 *   not in it (the tool is deployed once the administrator has reviewed it),
 *   or, as some versions answer, at its top level;
 * - a deep linking launch comes from a placement, with that placement's
 *   settings; there is no `data` claim and no accept_lineitem.
 */

export const CANVAS_EXTENSION = 'https://canvas.instructure.com/lti/';

export const CANVAS_PLACEMENTS_BY_MESSAGE_TYPE: Record<MessageType, readonly string[]> = {
  LtiResourceLinkRequest: [
    'account_navigation',
    'assignment_edit',
    'assignment_group_menu',
    'assignment_index_menu',
    'assignment_menu',
    'assignment_selection',
    'assignment_view',
    'collaboration',
    'conference_selection',
    'course_assignments_menu',
    'course_home_sub_navigation',
    'course_navigation',
    'course_settings_sub_navigation',
    'discussion_topic_index_menu',
    'discussion_topic_menu',
    'file_index_menu',
    'file_menu',
    'global_navigation',
    'homework_submission',
    'link_selection',
    'migration_selection',
    'module_group_menu',
    'module_index_menu',
    'module_index_menu_modal',
    'module_menu_modal',
    'module_menu',
    'post_grades',
    'quiz_index_menu',
    'quiz_menu',
    'resource_selection',
    'similarity_detection',
    'student_context_card',
    'submission_type_selection',
    'tool_configuration',
    'user_navigation',
    'wiki_index_menu',
    'wiki_page_menu',
  ],
  LtiDeepLinkingRequest: [
    'assignment_selection',
    'collaboration',
    'conference_selection',
    'course_assignments_menu',
    'editor_button',
    'homework_submission',
    'link_selection',
    'migration_selection',
    'module_index_menu_modal',
    'module_menu_modal',
    'resource_selection',
    'submission_type_selection',
  ],
};

const ALL_PLACEMENTS = [...new Set(Object.values(CANVAS_PLACEMENTS_BY_MESSAGE_TYPE).flat())];

/** What Canvas sends in deep_linking_settings, by placement. */
export const CANVAS_DEEP_LINKING: Record<
  string,
  {
    accept_multiple: boolean;
    accept_types: string[];
    auto_create: boolean;
    document_targets: string[];
    media_types: string[];
  }
> = {
  assignment_selection: {
    accept_multiple: false,
    accept_types: ['ltiResourceLink'],
    auto_create: false,
    document_targets: ['iframe', 'window'],
    media_types: ['application/vnd.ims.lti.v1.ltilink'],
  },
  collaboration: {
    accept_multiple: false,
    accept_types: ['ltiResourceLink'],
    auto_create: true,
    document_targets: ['iframe'],
    media_types: ['application/vnd.ims.lti.v1.ltilink'],
  },
  conference_selection: {
    accept_multiple: false,
    accept_types: ['link', 'html'],
    auto_create: true,
    document_targets: ['iframe', 'window'],
    media_types: ['text/html', '*/*'],
  },
  course_assignments_menu: {
    accept_multiple: true,
    accept_types: ['ltiResourceLink'],
    auto_create: false,
    document_targets: ['iframe', 'window'],
    media_types: ['application/vnd.ims.lti.v1.ltilink'],
  },
  editor_button: {
    accept_multiple: true,
    accept_types: ['link', 'file', 'html', 'ltiResourceLink', 'image'],
    auto_create: false,
    document_targets: ['embed', 'iframe', 'window'],
    media_types: ['image/*', 'text/html', 'application/vnd.ims.lti.v1.ltilink', '*/*'],
  },
  homework_submission: {
    accept_multiple: false,
    accept_types: ['file', 'ltiResourceLink'],
    auto_create: false,
    document_targets: ['iframe'],
    media_types: ['*/*'],
  },
  link_selection: {
    accept_multiple: true,
    accept_types: ['ltiResourceLink'],
    auto_create: false,
    document_targets: ['iframe', 'window'],
    media_types: ['application/vnd.ims.lti.v1.ltilink'],
  },
  migration_selection: {
    accept_multiple: false,
    accept_types: ['file'],
    auto_create: false,
    document_targets: ['iframe'],
    media_types: [
      'application/vnd.ims.imsccv1p1',
      'application/vnd.ims.imsccv1p2',
      'application/vnd.ims.imsccv1p3',
      'application/zip',
      'application/xml',
    ],
  },
  module_index_menu_modal: {
    accept_multiple: true,
    accept_types: ['ltiResourceLink'],
    auto_create: true,
    document_targets: ['iframe', 'window'],
    media_types: ['application/vnd.ims.lti.v1.ltilink'],
  },
  module_menu_modal: {
    accept_multiple: true,
    accept_types: ['ltiResourceLink'],
    auto_create: true,
    document_targets: ['iframe', 'window'],
    media_types: ['application/vnd.ims.lti.v1.ltilink'],
  },
  submission_type_selection: {
    accept_multiple: false,
    accept_types: ['ltiResourceLink'],
    auto_create: false,
    document_targets: ['iframe', 'window'],
    media_types: ['application/vnd.ims.lti.v1.ltilink'],
  },
};

/** The deep_linking_settings of a Canvas deep linking launch from `placement`, returning to `returnUrl`. */
export function canvasDeepLinkingSettings(
  placement: string,
  returnUrl: string,
): Record<string, unknown> {
  const d = CANVAS_DEEP_LINKING[placement];
  if (!d) throw new Error(`Canvas sends no deep linking request from "${placement}".`);
  return {
    deep_link_return_url: returnUrl,
    accept_types: [...d.accept_types],
    accept_presentation_document_targets: [...d.document_targets],
    accept_media_types: d.media_types.join(','),
    auto_create: d.auto_create,
    accept_multiple: d.accept_multiple,
  };
}

/** Canvas's name for a placement the registration names, or null when Canvas does not know it. */
function canvasPlacementName(placement: unknown): string | null {
  if (typeof placement !== 'string') return null;
  const name =
    placement === 'ContentArea'
      ? 'link_selection'
      : placement === 'RichTextEditor'
        ? 'editor_button'
        : placement.startsWith(CANVAS_EXTENSION)
          ? placement.slice(CANVAS_EXTENSION.length)
          : placement;
  return ALL_PLACEMENTS.includes(name) ? name : null;
}

/** Canvas's deployment ids: the tool's id in its account, a colon, 40 hex digits. */
let deploymentSequence = 0;
export const newCanvasDeploymentId = () =>
  `${++deploymentSequence}:${crypto.randomBytes(20).toString('hex')}`;

export const CANVAS_PRODUCT = { productFamilyCode: 'canvas', version: 'cloud' } as const;

/** Canvas answers a refused registration 422 with its errors. */
const refused = (errors: string[]) =>
  new HttpError(422, 'invalid_client_metadata', errors.join('; '));

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringArray = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((x) => typeof x === 'string');

const DOMAIN =
  /^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])\.)*([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])(:[0-9]{1,5})?$/;

export interface CanvasRegistration {
  name: string;
  loginUrl: string;
  launchUrl: string;
  keysetUrl: string;
  redirectUris: string[];
  scopes: string[];
  custom: Record<string, string>;
  placements: ToolPlacement[];
  /** The registration as Canvas keeps it, echoed in its answer. */
  echo: Record<string, unknown>;
}

/**
 * Validates a registration as Canvas does (Lti::IMS::Registration and its
 * tool configuration schema) and works out the placements it keeps.
 */
export function canvasRegistration(body: unknown): CanvasRegistration {
  if (!isObject(body)) throw refused(['The registration must be a JSON object.']);
  const errors: string[] = [];
  if (body.application_type !== 'web') errors.push("application_type Must be 'web'");
  const grants = isStringArray(body.grant_types) ? body.grant_types : [];
  if (!['client_credentials', 'implicit'].every((g) => grants.includes(g)))
    errors.push('grant_types Must include client_credentials, implicit');
  const responses = isStringArray(body.response_types) ? body.response_types : [];
  if (!responses.includes('id_token')) errors.push('response_types Must include id_token');
  if (body.token_endpoint_auth_method !== 'private_key_jwt')
    errors.push("token_endpoint_auth_method Must be 'private_key_jwt'");
  const redirectUris = isStringArray(body.redirect_uris) ? body.redirect_uris : [];
  if (redirectUris.length === 0 || !redirectUris.every(isHttpUrl))
    errors.push('redirect_uris Must only contain valid URIs');
  for (const field of ['initiate_login_uri', 'jwks_uri'] as const)
    if (!isHttpUrl(body[field])) errors.push(`${field} is invalid`);
  if (typeof body.client_name !== 'string' || body.client_name === '')
    errors.push("client_name can't be blank");
  if (typeof body.scope !== 'string') errors.push("scope can't be blank");
  const scopes = typeof body.scope === 'string' ? body.scope.split(' ').filter(Boolean) : [];
  const invalid = scopes.filter((s) => !SERVICE_SCOPES.includes(s));
  if (invalid.length > 0) errors.push(`scopes Invalid scopes: ${invalid.join(', ')}`);
  const config = body[TOOL_CONFIGURATION];
  const placements: ToolPlacement[] = [];
  if (!isObject(config)) errors.push("lti_tool_configuration can't be blank");
  else {
    if (typeof config.domain !== 'string' || !DOMAIN.test(config.domain))
      errors.push('lti_tool_configuration domain is invalid');
    if (!isStringArray(config.claims)) errors.push('lti_tool_configuration claims is required');
    if (config.target_link_uri !== undefined && !isHttpUrl(config.target_link_uri))
      errors.push('lti_tool_configuration target_link_uri is invalid');
    if (!Array.isArray(config.messages)) errors.push('lti_tool_configuration messages is required');
    else {
      for (const [i, message] of (config.messages as unknown[]).entries()) {
        if (
          !isObject(message) ||
          typeof message.type !== 'string' ||
          !Object.hasOwn(CANVAS_PLACEMENTS_BY_MESSAGE_TYPE, message.type)
        ) {
          errors.push(`lti_tool_configuration messages[${i}].type is invalid`);
          continue;
        }
        const type = message.type as MessageType;
        if (message.target_link_uri !== undefined && !isHttpUrl(message.target_link_uri))
          errors.push(`lti_tool_configuration messages[${i}].target_link_uri is invalid`);
        const named = message.placements;
        if (named === undefined || (Array.isArray(named) && named.length === 0)) continue;
        if (!Array.isArray(named)) {
          errors.push(`lti_tool_configuration messages[${i}].placements is invalid`);
          continue;
        }
        for (const p of named) {
          const name = canvasPlacementName(p);
          if (!name) {
            errors.push(
              `lti_tool_configuration messages[${i}].placements ${JSON.stringify(p)} is not a placement`,
            );
            continue;
          }
          if (!CANVAS_PLACEMENTS_BY_MESSAGE_TYPE[type].includes(name)) continue;
          if (placements.some((k) => k.placement === name)) continue;
          placements.push({
            placement: name,
            messageType: type,
            ...(typeof message.target_link_uri === 'string'
              ? { targetLinkUri: message.target_link_uri }
              : {}),
            ...(typeof message.label === 'string' ? { label: message.label } : {}),
          });
        }
      }
    }
  }
  if (errors.length > 0) throw refused(errors);
  const toolConfig = config as Record<string, unknown>;
  const custom = isObject(toolConfig.custom_parameters)
    ? (Object.fromEntries(
        Object.entries(toolConfig.custom_parameters).filter(([, v]) => typeof v === 'string'),
      ) as Record<string, string>)
    : {};
  return {
    name: body.client_name as string,
    loginUrl: body.initiate_login_uri as string,
    launchUrl:
      typeof toolConfig.target_link_uri === 'string'
        ? toolConfig.target_link_uri
        : redirectUris[0]!,
    keysetUrl: body.jwks_uri as string,
    redirectUris,
    scopes: [...new Set(scopes)],
    custom,
    placements,
    echo: {
      application_type: body.application_type,
      grant_types: grants,
      initiate_login_uri: body.initiate_login_uri,
      redirect_uris: redirectUris,
      response_types: responses,
      client_name: body.client_name,
      jwks_uri: body.jwks_uri,
      token_endpoint_auth_method: body.token_endpoint_auth_method,
      scope: scopes.join(' '),
      [TOOL_CONFIGURATION]: toolConfig,
    },
  };
}

/** Canvas takes its registration token as the bearer token, or in the configuration URL's query. */
export function canvasRegistrationToken(ctx: EmulatorContext, fromQuery: boolean): string {
  const auth = ctx.get('authorization');
  const token = auth
    ? bearerToken(auth)
    : fromQuery && typeof ctx.query.registration_token === 'string'
      ? ctx.query.registration_token
      : undefined;
  if (!token)
    throw new HttpError(401, 'invalid_token', 'The registration token is required.', {
      headers: { 'WWW-Authenticate': 'Bearer' },
    });
  return token;
}
