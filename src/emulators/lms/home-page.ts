import Router from '@koa/router';
import { escapeHtml as e, namedValuesTable } from '../shared/html.js';
import type { EmulatorContext, EmulatorState } from './access-tokens.js';
import type { EmulatorCore } from './core.js';
import { htmlError } from './errors.js';
import { htmlPage } from './html.js';
import { registrationStart } from './dynamic-registration.js';
import { loginInitiationUrl } from './launch.js';
import { isHttpUrl } from './tool-registry.js';
import type { ContextRecord, MemberRecord, ToolRecord } from './types.js';
import type { MessageType } from './vocabulary.js';

const shortRole = (role: string) => role.slice(role.lastIndexOf('#') + 1);
const isInstructor = (m: MemberRecord) =>
  m.roles.some((r) => ['Instructor', 'Administrator', 'ContentDeveloper'].includes(shortRole(r)));
const displayName = (m: MemberRecord) => m.name ?? m.userId;

function link(href: string, text: string): string {
  return `<a href="${e(href)}">${e(text)}</a>`;
}

function toolsSection(core: EmulatorCore): string {
  const rows = core.tools
    .list()
    .map(
      (t) =>
        `<tr><td>${e(t.name)}</td><td><code>${e(t.clientId)}</code></td><td>${t.deploymentIds
          .map((d) => `<code>${e(d)}</code>`)
          .join('<br>')}</td><td>${e(t.loginUrl)}</td><td>${e(t.launchUrl)}</td></tr>`,
    )
    .join('');
  return `<h2>Tools</h2>
${rows ? `<table><tr><th>Name</th><th>Client id</th><th>Deployments</th><th>Login URL</th><th>Launch URL</th></tr>${rows}</table>` : '<p>No tool registered yet.</p>'}
<form method="get" action="/admin/register-tool">
<label>Register a tool by Dynamic Registration, from its registration URL:
<input type="url" name="url" size="50" required></label>
<button type="submit">Register</button>
</form>`;
}

function contextSection(core: EmulatorCore, context: ContextRecord, tools: ToolRecord[]): string {
  const { store, urls } = core;
  const members = store.membersOf(context.id);
  const active = members.filter((m) => m.status === 'Active');
  const memberRows = members
    .map((m) => {
      const deepLinks =
        m.status === 'Active' && isInstructor(m)
          ? tools
              // A tool Canvas registered offers deep linking only where it kept a placement for it.
              .filter(
                (t) =>
                  !t.placements ||
                  t.placements.some((p) => p.messageType === 'LtiDeepLinkingRequest'),
              )
              .map((t) =>
                link(
                  urls.embeddedLaunch({
                    client_id: t.clientId,
                    user_id: m.userId,
                    context_id: context.id,
                    message_type: 'LtiDeepLinkingRequest',
                  }),
                  `Add content (deep linking) with ${t.name}`,
                ),
              )
              .join('<br>')
          : '';
      return `<tr><td>${e(displayName(m))}</td><td><code>${e(m.userId)}</code></td><td>${e(
        m.email ?? '',
      )}</td><td>${e(m.roles.map(shortRole).join(', '))}</td><td>${e(m.status)}</td><td>${deepLinks}</td></tr>`;
    })
    .join('');
  const linkRows = store
    .resourceLinksOf(context.id)
    .map((l) => {
      // In the course page's iframe, as an LMS shows a tool; or in a window of its own.
      const launchers = tools
        .filter((t) => !l.clientId || l.clientId === t.clientId)
        .flatMap((t) =>
          active.map((m) => {
            const params = { client_id: t.clientId, user_id: m.userId, resource_link_id: l.id };
            const who = `${displayName(m)}${tools.length > 1 ? ` (${t.name})` : ''}`;
            return `${link(urls.embeddedLaunch(params), `Launch as ${who}`)} (${link(
              urls.launch(params),
              `in a new window`,
            )})`;
          }),
        )
        .join('<br>');
      const items = store
        .lineItemsBoundTo(l.id)
        .map((i) => `${e(i.label)} (${i.scoreMaximum})`)
        .join('<br>');
      return `<tr><td>${e(l.title ?? '')}</td><td><code>${e(l.id)}</code></td><td>${items}</td><td>${launchers}</td></tr>`;
    })
    .join('');
  const itemRows = store
    .lineItemsOf(context.id)
    .map((i) => {
      const results = store
        .resultsOf(i.id)
        .map((r) => `${e(r.userId)}: ${r.resultScore ?? '–'}/${r.resultMaximum ?? '–'}`)
        .join('<br>');
      return `<tr><td>${e(i.label)}</td><td>${i.scoreMaximum}</td><td>${e(i.tag ?? '')}</td><td>${results}</td></tr>`;
    })
    .join('');
  return `<h2>${e(context.title ?? context.id)} <small>(<code>${e(context.id)}</code>)</small></h2>
<h3>Members</h3>
<table><tr><th>Name</th><th>User id</th><th>Email</th><th>Roles</th><th>Status</th><th></th></tr>${memberRows}</table>
<h3>Resource links</h3>
${linkRows ? `<table><tr><th>Title</th><th>Id</th><th>Line items</th><th></th></tr>${linkRows}</table>` : '<p>None yet.</p>'}
<h3>Gradebook</h3>
${itemRows ? `<table><tr><th>Line item</th><th>Maximum</th><th>Tag</th><th>Results</th></tr>${itemRows}</table>` : '<p>No line items.</p>'}`;
}

function homePage(core: EmulatorCore): string {
  const { urls } = core;
  const tools = core.tools.list();
  const endpoints = namedValuesTable([
    ['Issuer', core.issuer],
    [
      'OpenID configuration',
      core.settings.registrationMode === 'spec'
        ? urls.openidConfiguration
        : `${urls.canvasOpenidConfiguration} (as Canvas: with a registration token)`,
    ],
    ['Authorization (OIDC auth)', urls.authorization],
    ['Token', urls.token],
    ['Keyset (JWKS)', urls.keyset],
    [
      'Registration',
      core.settings.registrationMode === 'spec' ? urls.registration : urls.canvasRegistration,
    ],
  ]);
  const contexts = core.store
    .contextList()
    .map((c) => contextSection(core, c, tools))
    .join('\n');
  const storage =
    core.settings.platformStorage === 'none'
      ? 'Launches show the tool in an iframe without platform storage: inside it the tool has only its cookies.'
      : `Launches show the tool in an iframe, as Canvas does, with platform storage for its login state (lti_storage_target=${core.settings.platformStorage}).`;
  return htmlPage(
    'LMS emulator',
    `<main>
<h1>LMS emulator</h1>
<p class="note">${e(storage)}</p>
${endpoints}
${toolsSection(core)}
${contexts || '<p>No courses.</p>'}
</main>`,
  );
}

function queryParam(ctx: EmulatorContext, name: string): string | undefined {
  const value = ctx.query[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The human side: the course list, launches from it, and the launch return page. */
export function homeRoutes(core: EmulatorCore): Router<EmulatorState> {
  const router = new Router<EmulatorState>();
  router.get('/', (ctx) => {
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = homePage(core);
  });

  // Hints expire, so the page links here and the redirect carries fresh ones.
  router.get('/launch', (ctx) => {
    const toolClientId = queryParam(ctx, 'client_id');
    const userId = queryParam(ctx, 'user_id');
    if (!toolClientId || !userId) {
      throw htmlError(400, 'invalid_request', 'client_id and user_id are required.');
    }
    try {
      ctx.redirect(
        loginInitiationUrl(core, {
          toolClientId,
          userId,
          contextId: queryParam(ctx, 'context_id'),
          resourceLinkId: queryParam(ctx, 'resource_link_id'),
          messageType: queryParam(ctx, 'message_type') as MessageType | undefined,
          placement: queryParam(ctx, 'placement'),
        }),
      );
    } catch (err) {
      throw htmlError(400, 'invalid_request', (err as Error).message);
    }
  });

  router.get('/launch/return', (ctx) => {
    const lines = ['lti_msg', 'lti_errormsg', 'lti_log', 'lti_errorlog']
      .map((name) => [name, queryParam(ctx, name)] as const)
      .filter(([, value]) => value !== undefined)
      .map(([name, value]) => `<p><strong>${e(name)}</strong>: ${e(value!)}</p>`)
      .join('\n');
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = htmlPage(
      'Back from the tool',
      `<h1>Back from the tool</h1>\n${lines}\n<p>${link(core.urls.home, 'Back to the course list')}</p>`,
    );
  });

  // The admin's browser goes to the tool's registration page, as in Moodle or Canvas.
  router.get('/admin/register-tool', (ctx) => {
    const url = queryParam(ctx, 'url');
    if (!isHttpUrl(url)) {
      throw htmlError(400, 'invalid_request', 'url must be an absolute http(s) URL.');
    }
    const target = new URL(url);
    const token = core.registrationTokens.issue();
    target.searchParams.set('openid_configuration', registrationStart(core, token));
    target.searchParams.set('registration_token', token);
    ctx.redirect(target.toString());
  });
  return router;
}
