import { createHash } from 'node:crypto';

/**
 * The teacher app's stylesheet, its one small script and the favicon,
 * served from gradebridge itself (`/lti/assets/…`, `/favicon.svg`) so the
 * pages run under a strict Content-Security-Policy: no inline script or
 * style, nothing from another origin.
 */

const CSS = `
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2430;background:#f7f8fa;overflow-wrap:break-word}
main{max-width:1200px;margin:0 auto;padding:16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:20px 0 8px}h3{font-size:15px;margin:18px 0 6px}
a{color:#1d4ab0}
.muted{color:#4f5966}.card{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:12px 14px;margin:12px 0}
table{border-collapse:collapse;background:#fff}th,td{border:1px solid #dde1e7;padding:6px 8px;text-align:left;font-size:14px;vertical-align:top}
th{background:#eef1f5}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.wide{width:100%}
button,a.button{font:inherit;background:#2456c7;color:#fff;border:0;border-radius:6px;padding:7px 14px;cursor:pointer;text-decoration:none;display:inline-block}
button.secondary{background:#4f5966}button[disabled]{opacity:.6;cursor:progress}
input,select,textarea{font:inherit;padding:5px 8px;max-width:100%}
textarea{width:100%;max-width:40em}
.ok{color:#1b6e34}.bad{color:#b3261e}.warn{color:#7a5200}
.notice{background:#eef6ee;border-color:#b7dbbf}.error{background:#fdeceb;border-color:#f1b8b3}
.actions{display:flex;flex-wrap:wrap;gap:8px;align-items:center}.actions form{margin:0}
caption{text-align:left;font-weight:600;padding:4px 0}
.scroll{overflow-x:auto;max-width:100%;position:relative}
details{margin:6px 0}summary{cursor:pointer;color:#4f5966}pre{white-space:pre-wrap;font-size:12px}
.decisions{display:flex;flex-wrap:wrap;gap:16px}.decisions form{flex:1 1 260px}
.sr{position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0,0,0,0);white-space:nowrap;border:0}
#outcome:empty{display:none}
.outcome{border-radius:8px;padding:10px 14px;margin:12px 0;border:1px solid #c9d3e3;background:#eef3fb}
.outcome.ok{border-color:#b7dbbf;background:#eef6ee;color:inherit}.outcome.bad{border-color:#f1b8b3;background:#fdeceb;color:inherit}
.outcome.warn{border-color:#e6cf8f;background:#fdf6e3;color:inherit}
.outcome p{margin:4px 0}
.find{display:flex;flex-wrap:wrap;gap:8px 14px;align-items:end;margin:8px 0}
.find label{display:flex;flex-direction:column;font-size:14px}.find label.check{flex-direction:row;gap:6px;align-items:center}
.pages{display:flex;flex-wrap:wrap;gap:10px;align-items:center;margin:8px 0}
.grid{overflow:auto;max-height:75vh;max-width:100%;border:1px solid #dde1e7;border-radius:6px;background:#fff}
.grid:focus{outline:2px solid #2456c7}
.grid table{border:0}
.grid thead th{position:sticky;top:0;z-index:2;background:#eef1f5}
.grid tbody th{position:sticky;left:0;z-index:1;background:#fff;min-width:9em;max-width:16em}
.grid thead th:first-child{left:0;z-index:3}
.grid tbody th,.grid thead th:first-child{box-shadow:inset -2px 0 0 #c9d0da}
.grid thead th{box-shadow:inset 0 -2px 0 #c9d0da}.grid thead th:first-child{box-shadow:inset -2px -2px 0 #c9d0da}
.grid th.col{min-width:6.5em;max-width:12em;font-weight:600}
.grid td{white-space:nowrap;text-align:right;font-variant-numeric:tabular-nums}
.m{font-style:normal;display:inline-block;min-width:1.3em;margin-left:3px;font-weight:700;text-align:center;border-radius:4px;padding:0 2px;font-size:13px}
.m.sent{color:#1b6e34}.m.pending{color:#6b4e00;background:#fdf1c7}.m.changed{color:#5b2a86;background:#efe4fa}
.m.failed{color:#fff;background:#b3261e}.m.approved{color:#0b5563;background:#d9f1f5}.m.moved{color:#8a3b00;background:#ffe3cc}
td details.why{display:inline-block;margin:0;white-space:normal}
td details.why summary{color:inherit;list-style:none;display:inline}
td details.why summary::-webkit-details-marker{display:none}
td details.why[open]{display:block;min-width:14em;max-width:20em;text-align:left}
.reason{display:block;font-size:13px;color:#8c1d18;margin-top:2px}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;padding:0;margin:6px 0;list-style:none;font-size:14px}
.landing li{margin:6px 0}
.panels{display:grid;gap:0 12px;grid-template-columns:repeat(auto-fit,minmax(300px,1fr))}
.panels>.card{margin:6px 0}.panels>.card.span{grid-column:1/-1}
.card>h2:first-child{margin-top:0}
@media (max-width:600px){main{padding:10px}h1{font-size:19px}.card{padding:10px}}
`;

/** Progressive enhancement: action forms post in the background and the outcome shows in place, polled until it ends. */
const JS = `(function () {
  'use strict';
  var region = document.getElementById('outcome');
  if (!region || !window.fetch || !window.URLSearchParams) return;
  var timer = null;
  // What the page's script sends so the app answers with an outcome in JSON rather than a page.
  var ASK = { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest' };
  function show(o) {
    region.innerHTML = o.html;
    var first = region.querySelector('.outcome');
    if (first && o.focus) { first.setAttribute('tabindex', '-1'); first.focus(); }
  }
  function failed(status) {
    var text = status ? 'The server answered ' + status + '.' : 'The server could not be reached.';
    return { done: true, html: '<div class="outcome bad"><p><strong>That did not work.</strong> ' + text +
      ' Reload the page to see where things stand, then try again.</p></div>' };
  }
  function answer(response) {
    return response.json().then(function (body) { return body.outcome || failed(response.status); },
      function () { return failed(response.status); });
  }
  function refresh() {
    var content = document.getElementById('content');
    if (!content) return;
    fetch(window.location.href, { headers: { Accept: 'text/html' }, credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) {
        if (!text) return;
        var doc = new DOMParser().parseFromString(text, 'text/html');
        var fresh = doc.getElementById('content');
        if (fresh) content.innerHTML = fresh.innerHTML;
      })
      .catch(function () {});
  }
  function follow(o) {
    if (timer) { clearTimeout(timer); timer = null; }
    if (o.poll && !o.done) {
      timer = setTimeout(function () {
        fetch(o.poll, { headers: ASK, credentials: 'same-origin' })
          .then(answer, function () { return failed(0); })
          .then(function (next) {
            var changed = next.html !== region.innerHTML;
            if (changed) show(next);
            if (next.done) { if (next.refresh) refresh(); } else follow(next);
          });
      }, 1000);
    } else if (o.refresh) {
      refresh();
    }
  }
  document.addEventListener('submit', function (event) {
    var form = event.target;
    if (!form || !form.hasAttribute || !form.hasAttribute('data-live')) return;
    if (form.checkValidity && !form.checkValidity()) return;
    event.preventDefault();
    var buttons = form.querySelectorAll('button');
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true;
    var wait = form.getAttribute('data-wait');
    if (wait) {
      var card = document.createElement('div');
      card.className = 'outcome';
      var line = document.createElement('p');
      line.textContent = wait;
      card.appendChild(line);
      region.innerHTML = '';
      region.appendChild(card);
    }
    fetch(form.action, {
      method: 'POST',
      body: new URLSearchParams(new FormData(form)),
      headers: ASK,
      credentials: 'same-origin'
    })
      .then(answer, function () { return failed(0); })
      .then(function (o) {
        o.focus = true;
        show(o);
        follow(o);
      })
      .then(function () { for (var j = 0; j < buttons.length; j++) buttons[j].disabled = false; });
  });
  var pending = region.querySelector('[data-poll]');
  if (pending) follow({ poll: pending.getAttribute('data-poll'), done: false, refresh: true });
})();
`;

const FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#2456c7"/><path d="M8 17l5 5 11-12" fill="none" stroke="#fff" stroke-width="4" stroke-linecap="round" stroke-linejoin="round"/></svg>`;

const version = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 10);

export interface Asset {
  body: string;
  type: string;
}

export const ASSETS: Record<string, Asset> = {
  'app.css': { body: CSS.trim(), type: 'text/css; charset=utf-8' },
  'app.js': { body: JS, type: 'application/javascript; charset=utf-8' },
};

export const favicon: Asset = { body: FAVICON, type: 'image/svg+xml' };

/** The URL of an asset with its content's version, so it can be cached for long. */
export const assetUrl = (name: keyof typeof ASSETS & string) =>
  `/lti/assets/${name}?v=${version(ASSETS[name]!.body)}`;

/** The policy of the app's pages: their own stylesheet, script and fetches, forms to themselves. */
export const APP_CSP = [
  "default-src 'none'",
  "style-src 'self'",
  "script-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'self'",
].join('; ');
