/**
 * The pages of a launch that cannot count on cookies: the login page that
 * keeps the state and nonce in the LMS's platform storage before it goes on
 * to the LMS, the launch page that reads the state back and posts the launch
 * again, and the refusal that offers to open gradebridge in a new window.
 * Their scripts are inline, allowed by a nonce-based Content-Security-Policy.
 */
import { randomBytes } from 'node:crypto';
import { html, Html, layout } from './pages.js';

/** A page with inline scripts: its CSP nonce and the header value that allows them. */
export interface ScriptedPage {
  body: string;
  contentSecurityPolicy: string;
}

function policy(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "form-action 'self'",
    "base-uri 'none'",
  ].join('; ');
}

/** JSON that is safe inside a <script> element (no way out of it, no HTML parsing surprises). */
function scriptJson(value: unknown): Html {
  return new Html(
    JSON.stringify(value)
      .replace(/</g, '\\u003c')
      .replace(/>/g, '\\u003e')
      .replace(/&/g, '\\u0026')
      .replace(/\u2028/g, '\\u2028')
      .replace(/\u2029/g, '\\u2029'),
  );
}

/**
 * The tool's side of LTI client-side postMessages (lti.capabilities,
 * lti.put_data, lti.get_data), run by the login page ("login" mode) and the
 * launch page ("launch" mode). Messages go to the frame the LMS named, with
 * the LMS's OIDC authorization origin as their target origin; an answer
 * counts only when it comes from that origin and carries the message_id of
 * a message this page sent and is still waiting for. Whatever happens, the
 * page goes on: the login to the LMS, the launch back to gradebridge with
 * what it read (gradebridge decides).
 */
const STORAGE_CLIENT = `(function () {
  'use strict';
  var config = JSON.parse(document.getElementById('lti-storage-config').textContent);
  var status = document.getElementById('lti-storage-status');
  var waiting = {};

  function say(text) {
    if (status) status.textContent = text;
  }
  function newMessageId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join('');
  }
  window.addEventListener('message', function (event) {
    if (event.origin !== config.origin) return;
    var data = event.data;
    if (typeof data === 'string') {
      try { data = JSON.parse(data); } catch (e) { return; }
    }
    if (!data || typeof data !== 'object' || typeof data.message_id !== 'string') return;
    var entry = Object.prototype.hasOwnProperty.call(waiting, data.message_id) ? waiting[data.message_id] : null;
    if (!entry || data.subject !== entry.subject + '.response') return;
    delete waiting[data.message_id];
    entry.done(data);
  });
  /** A frame of the LMS page: '_parent' is the page itself (or the opener), else its child frame of that name. */
  function platformFrame(name) {
    var host = window.parent !== window ? window.parent : window.opener;
    if (!host) return null;
    if (name === '_parent') return host;
    try { return host.frames[name] || null; } catch (e) { return null; }
  }
  /** Sends a message until it is answered (a frame still loading misses the first), or null after timeoutMs. */
  function ask(target, subject, fields, timeoutMs) {
    return new Promise(function (resolve) {
      var id = newMessageId();
      var message = { subject: subject, message_id: id };
      Object.keys(fields).forEach(function (k) { message[k] = fields[k]; });
      var repeat, timer;
      function post() {
        try { target.postMessage(message, config.origin); } catch (e) { /* gone or not allowed: the timeout answers */ }
      }
      waiting[id] = {
        subject: subject,
        done: function (data) { clearInterval(repeat); clearTimeout(timer); resolve(data); }
      };
      post();
      repeat = setInterval(post, 500);
      timer = setTimeout(function () { delete waiting[id]; clearInterval(repeat); resolve(null); }, timeoutMs);
    });
  }
  function errorCode(answer) {
    return answer.error && typeof answer.error.code === 'string' ? answer.error.code : 'error';
  }
  /** The frame that stores data, from lti.capabilities; or { error }. */
  function storageFrame() {
    var target = platformFrame(config.target);
    if (!target) return Promise.resolve({ error: 'no_frame' });
    return ask(target, 'lti.capabilities', {}, 3000).then(function (answer) {
      if (!answer) return { error: 'timeout' };
      if (answer.error) return { error: 'unsupported' };
      var list = Array.isArray(answer.supported_messages) ? answer.supported_messages : [];
      function find(subject) {
        for (var i = 0; i < list.length; i++) if (list[i] && list[i].subject === subject) return list[i];
        return null;
      }
      var put = find('lti.put_data');
      var get = find('lti.get_data');
      if (!put || !get) return { error: 'unsupported' };
      var name = typeof put.frame === 'string' && put.frame ? put.frame : null;
      var frame = name ? platformFrame(name) : target;
      return frame ? { frame: frame } : { error: 'no_frame' };
    });
  }
  function login() {
    return storageFrame().then(function (found) {
      if (found.error) return found.error;
      return Promise.all(config.put.map(function (item) {
        return ask(found.frame, 'lti.put_data', { key: item.key, value: item.value }, 3000);
      })).then(function (answers) {
        for (var i = 0; i < answers.length; i++) {
          if (!answers[i]) return 'timeout';
          if (answers[i].error) return errorCode(answers[i]);
          if (answers[i].key !== config.put[i].key) return 'error';
        }
        return 'stored';
      });
    }).then(function () {
      say('Signing you in through your LMS…');
      window.location.replace(config.next);
    });
  }
  function launch() {
    var form = document.getElementById('lti-storage-form');
    function fail(code) { form.elements.storage_error.value = code; }
    return storageFrame().then(function (found) {
      if (found.error) return fail(found.error);
      return ask(found.frame, 'lti.get_data', { key: config.key }, 3000).then(function (answer) {
        if (!answer) return fail('timeout');
        if (answer.error) return fail(errorCode(answer));
        if (answer.key !== config.key) return fail('error');
        var value = typeof answer.value === 'string' ? answer.value : '';
        form.elements.storage_state.value = value;
        if (value !== config.state) return;
        // Used once: the keys are of no further use.
        return Promise.all(config.remove.map(function (key) {
          return ask(found.frame, 'lti.put_data', { key: key, value: '' }, 1000);
        }));
      });
    }).then(function () {
      say('Opening gradebridge…');
      form.submit();
    });
  }
  (config.mode === 'login' ? login() : launch())['catch'](function () {
    if (config.mode === 'login') window.location.replace(config.next);
    else {
      var form = document.getElementById('lti-storage-form');
      form.elements.storage_error.value = 'error';
      form.submit();
    }
  });
})();`;

function scripted(title: string, body: (nonce: string) => Html): ScriptedPage {
  const nonce = randomBytes(18).toString('base64');
  return { body: layout(title, body(nonce)), contentSecurityPolicy: policy(nonce) };
}

/**
 * The answer to a login initiation that named a storage frame: keeps the
 * state and the nonce in the LMS's platform storage, then goes on to the
 * LMS's authorization endpoint (`next`).
 */
export function storageLoginPage(p: {
  next: string;
  target: string;
  origin: string;
  put: Array<{ key: string; value: string }>;
}): ScriptedPage {
  return scripted(
    'Signing in',
    (nonce) =>
      html`<h1>Opening gradebridge</h1>
        <p id="lti-storage-status" role="status">Getting ready to sign you in…</p>
        <noscript>
          <p>Scripts are off in this browser: <a href="${p.next}">continue to sign in</a>.</p>
        </noscript>
        <script type="application/json" id="lti-storage-config">
          ${scriptJson({ mode: 'login', target: p.target, origin: p.origin, put: p.put, next: p.next })}
        </script>
        <script nonce="${nonce}">
          ${new Html(STORAGE_CLIENT)};
        </script>`,
  );
}

/**
 * The answer to a launch that brought no state cookie, when its login kept
 * the state in the platform's storage: reads the state back and posts the
 * launch again with what it read and the one-time confirmation.
 */
export function storageLaunchPage(p: {
  action: string;
  fields: Record<string, string>;
  target: string;
  origin: string;
  state: string;
  key: string;
  remove: string[];
  restart: string | null;
}): ScriptedPage {
  return scripted(
    'Opening gradebridge',
    (nonce) =>
      html`<h1>Opening gradebridge</h1>
        <p id="lti-storage-status" role="status">Checking this launch with your LMS…</p>
        <form id="lti-storage-form" method="post" action="${p.action}">
          ${Object.entries(p.fields).map(
            ([name, value]) => html`<input type="hidden" name="${name}" value="${value}" />`,
          )}
          <input type="hidden" name="storage_state" value="" />
          <input type="hidden" name="storage_error" value="" />
        </form>
        <noscript>
          <p>
            Scripts are off in this browser, so gradebridge cannot check this launch inside the LMS
            page.
            ${
              p.restart
                ? html`<a href="${p.restart}" target="_blank" rel="noopener"
                    >Open in a new window</a
                  >`
                : html`Open it from your course in a new window.`
            }
          </p>
        </noscript>
        <script type="application/json" id="lti-storage-config">
          ${scriptJson({
            mode: 'launch',
            target: p.target,
            origin: p.origin,
            state: p.state,
            key: p.key,
            remove: p.remove,
          })}
        </script>
        <script nonce="${nonce}">
          ${new Html(STORAGE_CLIENT)};
        </script>`,
  );
}

/**
 * A launch refused because the browser kept nothing for gradebridge in the
 * LMS page (its cookie blocked, no platform storage): in plain words, with
 * "Open in a new window", which runs the login again there, and the
 * technical reason behind a disclosure.
 */
export function restartPage(
  status: number,
  reason: string,
  requestId: string,
  restart: string | null,
): string {
  return layout(
    'Open in a new window',
    html`<h1>gradebridge cannot open inside this page</h1>
      <div class="card error">
        <p>
          <strong>Your browser did not let gradebridge sign you in here.</strong> Inside a course
          page, browsers that block third-party cookies (Safari and Firefox do by default) keep
          nothing for gradebridge, and this launch had no other way to prove it started in this
          browser.
        </p>
        ${
          restart
            ? html`<p>
                  <a class="button" href="${restart}" target="_blank" rel="noopener"
                    >Open in a new window</a
                  >
                </p>
                <p class="muted">
                  gradebridge opens in a window of its own and signs you in there. Close it when you
                  are done.
                </p>`
            : html`<p>Open gradebridge from your course again, in a new window or tab.</p>`
        }
        <details>
          <summary>Details</summary>
          <p>${reason}</p>
          <p class="muted">HTTP ${status}, reference <code>${requestId}</code>.</p>
        </details>
      </div>`,
  );
}
