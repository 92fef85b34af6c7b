import Router from '@koa/router';
import { escapeHtml as e } from '../shared/html.js';
import type { EmulatorContext, EmulatorState } from './access-tokens.js';
import type { EmulatorCore } from './core.js';
import { htmlError } from './errors.js';
import { htmlPage } from './html.js';
import { loginInitiationUrl } from './launch.js';
import {
  FORWARDING_FRAME,
  FORWARDING_PATH,
  PLATFORM_STORAGE_MODES,
  storageHandler,
  type PlatformStorageMode,
} from './platform-storage.js';
import type { MessageType } from './vocabulary.js';

/** The tool frame's name and sandbox, as Canvas gives them. */
export const TOOL_FRAME = 'tool_content';
const SANDBOX =
  'allow-scripts allow-forms allow-same-origin allow-popups allow-popups-to-escape-sandbox allow-downloads allow-modals allow-top-navigation-by-user-activation';

function queryParam(ctx: EmulatorContext, name: string): string | undefined {
  const value = ctx.query[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * A course page with the tool in an iframe, as an LMS shows a tool: the
 * login initiation is the frame's first page, with `lti_storage_target`
 * naming the page's storage frame (a hidden sibling frame, as Canvas does, or
 * the page itself); with storage off, the tool has only its cookies, which a
 * browser blocking third-party cookies keeps from it.
 */
function embeddedPage(core: EmulatorCore, ctx: EmulatorContext): string {
  const toolClientId = queryParam(ctx, 'client_id');
  const userId = queryParam(ctx, 'user_id');
  if (!toolClientId || !userId) {
    throw htmlError(400, 'invalid_request', 'client_id and user_id are required.');
  }
  const asked = queryParam(ctx, 'storage');
  if (asked !== undefined && !PLATFORM_STORAGE_MODES.includes(asked as PlatformStorageMode)) {
    throw htmlError(
      400,
      'invalid_request',
      `storage must be one of ${PLATFORM_STORAGE_MODES.join(', ')}.`,
    );
  }
  const mode = (asked as PlatformStorageMode | undefined) ?? core.settings.platformStorage;
  let loginUrl: string;
  try {
    loginUrl = loginInitiationUrl(core, {
      toolClientId,
      userId,
      contextId: queryParam(ctx, 'context_id'),
      resourceLinkId: queryParam(ctx, 'resource_link_id'),
      messageType: queryParam(ctx, 'message_type') as MessageType | undefined,
      placement: queryParam(ctx, 'placement'),
      ...(mode === 'none' ? {} : { storageTarget: mode }),
    });
  } catch (err) {
    throw htmlError(400, 'invalid_request', (err as Error).message);
  }
  const tool = core.tools.require(toolClientId);
  const linkId = queryParam(ctx, 'resource_link_id');
  const contextId =
    queryParam(ctx, 'context_id') ??
    (linkId ? core.store.resourceLink(linkId)?.contextId : undefined);
  const context = contextId ? core.store.context(contextId) : undefined;
  const member = context ? core.store.member(context.id, userId) : undefined;
  const storageNote =
    mode === 'none'
      ? 'This page offers the tool no platform storage: inside this frame it has only its cookies.'
      : `The tool can keep its login state in this page's platform storage (lti_storage_target=${mode}).`;
  return htmlPage(
    `${tool.name} · ${context?.title ?? 'Course'}`,
    `<header>
<p><a href="${e(core.urls.home)}">LMS emulator</a> › ${e(context?.title ?? context?.id ?? 'Course')}</p>
<p>Signed in as ${e(member?.name ?? userId)}.</p>
</header>
<main>
<h1>${e(tool.name)}</h1>
<p class="note">${e(storageNote)}</p>
${mode === 'post_message_forwarding' ? `<iframe name="${FORWARDING_FRAME}" src="${FORWARDING_PATH}" title="Platform storage" hidden></iframe>` : ''}
<iframe name="${TOOL_FRAME}" class="tool" title="${e(tool.name)}" src="${e(loginUrl)}" sandbox="${SANDBOX}" allow="clipboard-write"></iframe>
</main>
${mode === '_parent' ? storageHandler(core, null) : ''}`,
  );
}

/** The launch a person starts from the home page: the tool inside the course page. */
export function embeddedLaunchRoutes(core: EmulatorCore): Router<EmulatorState> {
  const router = new Router<EmulatorState>();
  router.get('/launch/embedded', (ctx) => {
    ctx.type = 'text/html; charset=utf-8';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = embeddedPage(core, ctx);
  });
  return router;
}
