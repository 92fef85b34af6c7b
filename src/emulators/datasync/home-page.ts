import Router from '@koa/router';
import { escapeHtml as e, namedValuesTable } from '../shared/html.js';
import type { EmulatorState } from './access-tokens.js';
import { CONTROL_PREFIX } from './control-routes.js';
import type { EmulatorCore } from './core.js';
import { summarizeAll } from './exchange-summary.js';
import { API_PREFIX } from './exchange-routes.js';
import { htmlPage } from './html.js';
import { scheduleJson } from './schedule-store.js';
import { TOKEN_PATH } from './token-endpoint.js';
import { QUERY_TYPES } from './vocabulary.js';

const REFRESH_SECONDS = 2;

const cell = (value: unknown) => `<td>${e(String(value ?? ''))}</td>`;
const table = (head: string[], rows: string[]) =>
  `<table><tr>${head.map((h) => `<th>${e(h)}</th>`).join('')}</tr>${rows.join('')}</table>`;

/**
 * The grades application the exchange is for (its course_app_id): a producer
 * sees only its own application's exchanges. The registered clients'
 * applications are offered, the first one chosen, so an exchange asked for
 * here reaches the producer connected to this emulator.
 */
function courseAppField(core: EmulatorCore): string {
  const apps = [
    ...new Set(
      core.clients
        .list()
        .map((c) => c.courseAppId)
        .filter((id): id is string => id !== null),
    ),
  ];
  const options = [
    ...apps.map((id) => `<option value="${e(id)}">${e(id)}</option>`),
    '<option value="">none (seen by clients without a course app)</option>',
  ];
  return `<label>Course app <select name="courseAppId">${options.join('')}</select></label>`;
}

function exchangesSection(core: EmulatorCore): string {
  const rows = summarizeAll(core)
    .reverse()
    .map(
      (x) =>
        `<tr><td><code>${e(x.id)}</code></td>${cell(x.scope)}${cell(x.type)}${cell(
          x.courseAppId ?? '',
        )}<td class="state-${e(x.state)}"><strong>${e(x.state)}</strong></td>${cell(
          x.chunks,
        )}${cell(x.duplicateChunks)}${cell(x.rejectedPosts)}${cell(x.bytes)}${cell(
          x.maxDataContentLength,
        )}${cell(x.scores)}${cell(x.summaries)}${cell(x.errors.join(', '))}${cell(
          x.source,
        )}${cell(x.updatedAt)}</tr>`,
    );
  return `<h2>Exchanges</h2>
${
  rows.length > 0
    ? table(
        [
          'Id',
          'Scope',
          'Type',
          'Course app',
          'State',
          'Chunks',
          'Duplicates',
          'Refused posts',
          'Bytes',
          'Max chunk',
          'Scores received',
          'Summaries received',
          'Errors',
          'Created by',
          'Updated',
        ],
        rows,
      )
    : '<p>No exchange yet.</p>'
}
<form method="post" action="/_emulator/exchanges">
<strong>Ask for grades:</strong>
<label>Course source id <input name="courseSourceId" required></label>
${courseAppField(core)}
<label>Type <select name="type">${QUERY_TYPES.map((t) => `<option>${e(t)}</option>`).join('')}</select></label>
<label>max_data_content_length <input name="maxDataContentLength" type="number" min="1" value="65536"></label>
<button type="submit">Create exchange</button>
</form>`;
}

function statsSection(core: EmulatorCore): string {
  const stats = core.meter.snapshot();
  const limit = core.limiter.current;
  const rows = [
    ['Requests', stats.requests],
    ['Throttled', stats.throttled],
    ['Most requests in one second', stats.maxPerSecond],
    ['Duplicate chunks', stats.duplicateChunks],
    ['Answered by a fault', stats.faulted],
    [
      'Rate limit',
      limit.requestsPerSecond === null
        ? 'none'
        : `${limit.requestsPerSecond}/s, answered ${limit.status}${limit.retryAfter ? ' with Retry-After' : ''}`,
    ],
    ['Faults waiting', core.faults.pending().length],
    ['Largest page (default page_size)', core.settings.maxPageSize],
  ].map(([name, value]) => `<tr><th>${e(String(name))}</th>${cell(value)}</tr>`);
  const paths = Object.entries(stats.byPath)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 15)
    .map(([path, n]) => `<tr><td><code>${e(path)}</code></td>${cell(n)}</tr>`);
  return `<h2>Traffic</h2>
<table>${rows.join('')}</table>
${paths.length > 0 ? table(['Path', 'Requests'], paths) : ''}`;
}

function noticesSection(core: EmulatorCore): string {
  const rows = core.notices.deliveries
    .slice(-10)
    .reverse()
    .map(
      (d) =>
        `<tr>${cell(d.event.created_at)}<td><code>${e(d.event.data.exchange_id)}</code></td>${cell(
          d.url,
        )}${cell(d.status)}${cell(d.attempts)}${cell(d.error ?? '')}</tr>`,
    );
  return rows.length > 0
    ? `<h2>Notices</h2>${table(['Sent', 'Exchange', 'To', 'Status', 'Attempts', 'Error'], rows)}`
    : '';
}

function schedulesSection(core: EmulatorCore): string {
  const rows = core.schedules
    .all()
    .map(scheduleJson)
    .map(
      (s) =>
        `<tr><td><code>${e(s.id)}</code></td>${cell(s.type)}${cell(s.enabled)}${cell(
          s.hour,
        )}${cell(s.days)}${cell(s.last_executed_at ?? 'never')}</tr>`,
    );
  return rows.length > 0
    ? `<h2>Schedules</h2>${table(['Id', 'Type', 'Enabled', 'Hour', 'Days', 'Last run'], rows)}`
    : '';
}

function homePage(core: EmulatorCore): string {
  const endpoints = namedValuesTable([
    ['Token endpoint', `${core.url}${TOKEN_PATH}`],
    ['Grades Exchange API', `${core.url}${API_PREFIX}`],
    ['Control API', `${core.url}${CONTROL_PREFIX}/state`],
  ]);
  return htmlPage(
    'Data Sync emulator',
    `<h1>Data Sync Grades Exchange emulator</h1>
${endpoints}
${exchangesSection(core)}
${statsSection(core)}
${noticesSection(core)}
${schedulesSection(core)}`,
    REFRESH_SECONDS,
  );
}

/** The page a person watches during a demo: exchanges going through, and the traffic. */
export function homeRoutes(core: EmulatorCore): Router<EmulatorState> {
  const router = new Router<EmulatorState>();
  router.get('/', (ctx) => {
    ctx.type = 'text/html; charset=utf-8';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = homePage(core);
  });
  return router;
}
