import type { AppDeps } from '../deps.js';
import type { Surface } from '../http/surface.js';
import { favicon } from '../lti/assets.js';
import { html, layout } from '../lti/pages.js';

/**
 * `/`: a short page for a person who opens gradebridge's address (a teacher
 * reaches gradebridge from their course in the LMS, not here), with links to
 * the API documentation and, while the demo runs, its LMS and Data Sync
 * emulators; and the favicon.
 */
export function landingPage(demo: AppDeps['demo']): string {
  return layout(
    'Grade integration',
    html`<h1>gradebridge</h1>
      <p>
        gradebridge moves grades between an LMS, a school's student information system (SIS) and
        Data Sync. Teachers open it from their course in the LMS; there is nothing to sign in to
        here.
      </p>
      <ul class="landing">
        <li><a href="/docs">API documentation</a>: every endpoint, with examples.</li>
        ${
          demo?.lmsUrl
            ? html`<li>
                <a href="${demo.lmsUrl}/">The demo LMS</a>: launch gradebridge as the teacher or a
                learner of the demo course.
              </li>`
            : ''
        }
        ${
          demo?.dataSyncUrl
            ? html`<li>
                <a href="${demo.dataSyncUrl}/">The demo Data Sync</a>: ask for the demo course's
                grades and watch them arrive.
              </li>`
            : ''
        }
        <li><a href="/lti">The addresses an LMS administrator enters</a> (JSON).</li>
      </ul>`,
  );
}

export function landingRoutes(surface: Surface, deps: AppDeps): Surface {
  return surface
    .route({
      method: 'get',
      path: '/',
      operationId: 'landing',
      summary: 'A short page about gradebridge, with links to the docs and the demo',
      responses: { 200: { description: 'HTML' } },
      handler: (ctx) => {
        ctx.type = 'text/html; charset=utf-8';
        ctx.body = landingPage(deps.demo);
      },
    })
    .route({
      method: 'get',
      path: '/favicon.svg',
      operationId: 'favicon',
      summary: 'The icon browsers show for gradebridge',
      responses: { 200: { description: 'SVG' } },
      handler: (ctx) => {
        ctx.set('Cache-Control', 'public, max-age=86400');
        ctx.type = favicon.type;
        ctx.body = favicon.body;
      },
    })
    .route({
      method: 'get',
      path: '/favicon.ico',
      operationId: 'faviconIco',
      summary: 'Where browsers look for the icon by default: the SVG icon',
      responses: { 301: { description: 'To /favicon.svg' } },
      handler: (ctx) => {
        ctx.status = 301;
        ctx.redirect('/favicon.svg');
      },
    });
}
