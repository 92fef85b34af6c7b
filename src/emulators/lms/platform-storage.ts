/**
 * The platform's side of LTI client-side postMessages with platform storage
 * (1EdTech lti-cs-pm, lti-pm-s, lti-cs-oidc), as Canvas answers them: a tool
 * in the page's iframe sends `lti.capabilities`, `lti.put_data` and
 * `lti.get_data` to the frame the launch named in `lti_storage_target`
 * (Canvas: the sibling frame `post_message_forwarding`, served from its OIDC
 * authorization origin; or `_parent`, the page itself), and gets
 * `<subject>.response` with the same message_id, posted to the tool's origin.
 *
 * Data is kept in localStorage per tool origin. Like Canvas, a page accepts
 * at most 500 keys and 4096 characters (keys and values) per tool; an empty
 * value deletes a key. Errors: bad_request, unsupported_subject,
 * wrong_origin (a window that is not a registered tool's), storage_exhaustion.
 */
import Router from '@koa/router';
import type { EmulatorState } from './access-tokens.js';
import type { EmulatorCore } from './core.js';
import { htmlPage } from './html.js';

/** How a launch page offers platform storage: Canvas's sibling frame, the page itself, or not at all. */
export type PlatformStorageMode = 'post_message_forwarding' | '_parent' | 'none';

export const PLATFORM_STORAGE_MODES: readonly PlatformStorageMode[] = [
  'post_message_forwarding',
  '_parent',
  'none',
];

/** The frame name Canvas gives its storage frame, and the path it is served at. */
export const FORWARDING_FRAME = 'post_message_forwarding';
export const FORWARDING_PATH = '/post_message_forwarding';
export const STORAGE_SCRIPT_PATH = '/platform-storage.js';

/** The handler, in the storage frame (and in a launch page that answers `_parent`). */
const STORAGE_SCRIPT = `(function () {
  'use strict';
  var config = JSON.parse(document.getElementById('lti-platform-storage-config').textContent);
  var KEY_LIMIT = 500;
  var CHAR_LIMIT = 4096;
  var PREFIX = 'lti|platform_storage|';
  var SUPPORTED = ['lti.capabilities', 'lti.put_data', 'lti.get_data'];
  // What each tool origin stored through this page, for the limits (Canvas counts per page too).
  var usage = {};
  var memory = {};

  function itemKey(origin, key) { return PREFIX + origin + '|' + key; }
  function read(origin, key) {
    var k = itemKey(origin, key);
    try { return window.localStorage.getItem(k); }
    catch (e) { return Object.prototype.hasOwnProperty.call(memory, k) ? memory[k] : null; }
  }
  function write(origin, key, value) {
    var k = itemKey(origin, key);
    try { window.localStorage.setItem(k, value); }
    catch (e) {
      if (e && e.name === 'QuotaExceededError') throw e;
      memory[k] = value;
    }
  }
  function remove(origin, key) {
    var k = itemKey(origin, key);
    try { window.localStorage.removeItem(k); } catch (e) { /* memory only */ }
    delete memory[k];
  }
  function usageOf(origin) {
    if (!Object.prototype.hasOwnProperty.call(usage, origin)) usage[origin] = { keys: {}, count: 0, chars: 0 };
    return usage[origin];
  }

  window.addEventListener('message', function (event) {
    var message = event.data;
    if (typeof message === 'string') {
      try { message = JSON.parse(message); } catch (e) { return; }
    }
    if (!message || typeof message !== 'object' || typeof message.subject !== 'string') return;
    // Answers are for tools; a window that cannot be answered is ignored.
    if (/\\.response$/.test(message.subject) || !event.source || event.origin === 'null') return;
    var subject = message.subject.replace(/^org\\.imsglobal\\./, '');
    function answer(fields) {
      var reply = { subject: message.subject + '.response' };
      if (message.message_id !== undefined) reply.message_id = message.message_id;
      Object.keys(fields).forEach(function (k) { reply[k] = fields[k]; });
      event.source.postMessage(reply, event.origin);
    }
    function fail(code, text) { answer({ error: { code: code, message: text } }); }

    if (config.toolOrigins.indexOf(event.origin) === -1)
      return fail('wrong_origin', 'This page answers only the tools it launched, not ' + event.origin + '.');
    if (SUPPORTED.indexOf(subject) === -1)
      return fail('unsupported_subject', 'Not supported here: ' + message.subject + '.');
    if (typeof message.message_id !== 'string' || message.message_id === '')
      return fail('bad_request', "Missing required 'message_id' field");
    if (subject === 'lti.capabilities') {
      var storage = config.frame ? { frame: config.frame } : {};
      return answer({
        supported_messages: [
          { subject: 'lti.capabilities' },
          Object.assign({ subject: 'lti.put_data' }, storage),
          Object.assign({ subject: 'lti.get_data' }, storage)
        ]
      });
    }
    var key = message.key;
    if (typeof key !== 'string' || key === '') return fail('bad_request', "Missing required 'key' field");
    if (subject === 'lti.get_data') return answer({ key: key, value: read(event.origin, key) });

    var value = message.value;
    if (value !== undefined && value !== null && typeof value !== 'string')
      return fail('bad_request', "The 'value' field must be a string");
    var use = usageOf(event.origin);
    var had = Object.prototype.hasOwnProperty.call(use.keys, key) ? use.keys[key] : null;
    if (!value) {
      remove(event.origin, key);
      if (had !== null) { use.count -= 1; use.chars -= had; delete use.keys[key]; }
      return answer({ key: key });
    }
    var size = key.length + value.length;
    if (use.count + (had === null ? 1 : 0) > KEY_LIMIT)
      return fail('storage_exhaustion', 'Reached the limit of ' + KEY_LIMIT + ' keys for this tool');
    if (use.chars - (had || 0) + size > CHAR_LIMIT)
      return fail('storage_exhaustion', 'Reached the limit of ' + CHAR_LIMIT + ' characters for this tool');
    try { write(event.origin, key, value); }
    catch (e) { return fail('storage_exhaustion', 'The browser has no room left for this data'); }
    if (had === null) use.count += 1;
    use.chars += size - (had || 0);
    use.keys[key] = size;
    answer({ key: key, value: value });
  });
})();
`;

/** The origins of every registered tool's URLs: the windows storage messages are accepted from. */
export function toolOrigins(core: EmulatorCore): string[] {
  const origins = new Set<string>();
  for (const tool of core.tools.list()) {
    for (const url of [tool.loginUrl, tool.launchUrl, tool.deepLinkingUrl, ...tool.redirectUris]) {
      if (url) origins.add(new URL(url).origin);
    }
  }
  return [...origins];
}

/**
 * The storage handler for a page: its settings (the tool origins it answers;
 * the frame it names for put_data and get_data, or none when it stores
 * itself) and the script.
 */
export function storageHandler(core: EmulatorCore, frame: string | null): string {
  const config = JSON.stringify({ toolOrigins: toolOrigins(core), frame }).replace(/</g, '\\u003c');
  return `<script type="application/json" id="lti-platform-storage-config">${config}</script>
<script src="${STORAGE_SCRIPT_PATH}"></script>`;
}

/** The storage frame (Canvas's `post_message_forwarding`) and the handler's script. */
export function platformStorageRoutes(core: EmulatorCore): Router<EmulatorState> {
  const router = new Router<EmulatorState>();
  router.get(STORAGE_SCRIPT_PATH, (ctx) => {
    ctx.type = 'application/javascript; charset=utf-8';
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = STORAGE_SCRIPT;
  });
  router.get(FORWARDING_PATH, (ctx) => {
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = htmlPage(
      'Platform storage',
      `<main><p>Platform storage for the tools this LMS launches.</p></main>
${storageHandler(core, FORWARDING_FRAME)}`,
    );
  });
  return router;
}
