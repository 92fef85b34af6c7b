import { escapeHtml } from '../shared/html.js';

/**
 * A complete page that reloads itself every `refreshSeconds` (unless a form
 * field has the focus, so typing is not lost; without scripts, a meta
 * refresh). `body` must already be escaped HTML.
 */
export function htmlPage(title: string, body: string, refreshSeconds: number): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<noscript><meta http-equiv="refresh" content="${refreshSeconds}"></noscript>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1rem}
td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
code{background:#f4f4f4;padding:0 .2rem}
.state-created{color:#555}.state-in_progress{color:#a60}.state-completed{color:#070}.state-failed{color:#a00}
form label{margin-right:1rem}
</style>
</head>
<body>
${body}
<script>
setInterval(function () {
  if (!document.querySelector('form:focus-within')) location.reload();
}, ${refreshSeconds * 1000});
</script>
</body>
</html>
`;
}
