import Router from '@koa/router';
import { requireScope, requireToolInContext, type EmulatorState } from './access-tokens.js';
import type { EmulatorCore } from './core.js';
import { badRequest, notFound } from './errors.js';
import { requireAcceptable } from './media-types.js';
import { dropUndefined } from './objects.js';
import { paginate } from './paging.js';
import type { MemberRecord } from './types.js';
import { MEDIA_TYPE, SCOPE } from './vocabulary.js';

function memberJson(m: MemberRecord): Record<string, unknown> {
  return dropUndefined({
    status: m.status,
    name: m.name,
    given_name: m.givenName,
    family_name: m.familyName,
    email: m.email,
    user_id: m.userId,
    lis_person_sourcedid: m.lisPersonSourcedId,
    roles: m.roles,
  });
}

/**
 * The role filter takes a full role URI or, as NRPS allows for context roles,
 * a simple name such as Learner (matched against the part after '#').
 */
function hasRole(member: MemberRecord, role: string): boolean {
  return member.roles.some((r) => r === role || r.slice(r.lastIndexOf('#') + 1) === role);
}

/** NRPS 2.0 context membership service. */
export function nrpsRoutes(core: EmulatorCore): Router<EmulatorState> {
  const { store, urls } = core;
  const router = new Router<EmulatorState>();
  router.get(
    '/api/lti/contexts/:contextId/memberships',
    requireScope(core.accessTokens, [SCOPE.contextMembershipReadonly]),
    (ctx) => {
      requireAcceptable(ctx, MEDIA_TYPE.membershipContainer);
      const context = store.context(ctx.params.contextId!);
      if (!context) throw notFound(`Unknown context "${ctx.params.contextId}".`);
      requireToolInContext(ctx, (clientId) => store.toolAvailable(context.id, clientId));
      const { role, rlid } = ctx.query;
      if (role !== undefined && typeof role !== 'string')
        throw badRequest('role may be given once.');
      if (rlid !== undefined) {
        // Every member may open every link of the course, so a resource link
        // membership is the course membership, once the link is known.
        const link = typeof rlid === 'string' ? store.resourceLink(rlid) : undefined;
        if (!link || link.contextId !== context.id) {
          throw notFound(`No resource link "${String(rlid)}" in this context.`);
        }
      }
      const members = store
        .membersOf(context.id)
        .filter((m) => role === undefined || hasRole(m, role));
      const page = paginate(ctx, urls.base, members, core.settings.pageSize);
      ctx.type = MEDIA_TYPE.membershipContainer;
      ctx.body = {
        id: `${urls.base}${ctx.url}`,
        context: dropUndefined({ id: context.id, label: context.label, title: context.title }),
        members: page.map(memberJson),
      };
    },
  );
  return router;
}
