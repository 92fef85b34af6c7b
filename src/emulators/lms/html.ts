import { escapeHtml, unescapeHtml } from '../shared/html.js';

/** A complete page; `body` must already be escaped HTML. */
export function htmlPage(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1rem}
td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
code{background:#f4f4f4;padding:0 .2rem}
.error{color:#a00}
.note{color:#555}
iframe.tool{display:block;width:100%;height:80vh;border:1px solid #ccc}
</style>
</head>
<body>
${body}
</body>
</html>
`;
}

export function errorPage(status: number, code: string, message: string): string {
  return htmlPage(
    `Error ${status}`,
    `<h1>Error ${status}</h1>
<p class="error"><strong>${escapeHtml(code)}</strong>: ${escapeHtml(message)}</p>`,
  );
}

/**
 * The page a platform answers an authentication request with: a form that the
 * browser posts to the tool at once. Without scripts, the button does it.
 */
export function autoPostForm(action: string, fields: Record<string, string>): string {
  const inputs = Object.entries(fields)
    .map(
      ([name, value]) =>
        `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`,
    )
    .join('\n');
  return htmlPage(
    'Launching…',
    `<form id="lti-launch" method="post" action="${escapeHtml(action)}" enctype="application/x-www-form-urlencoded">
${inputs}
<noscript><button type="submit">Continue</button></noscript>
</form>
<script>document.getElementById('lti-launch').submit();</script>`,
  );
}

export interface ParsedForm {
  action: string;
  method: string;
  fields: Record<string, string>;
}

function attribute(tag: string, name: string): string | undefined {
  const match = new RegExp(`\\s${name}="([^"]*)"`, 'i').exec(tag);
  return match ? unescapeHtml(match[1]!) : undefined;
}

/** Reads the first form of a page, as a script-less browser would submit it. */
export function parseAutoPostForm(html: string): ParsedForm {
  const form = /<form\b[^>]*>/i.exec(html);
  if (!form) throw new Error('The page holds no form.');
  const end = html.indexOf('</form>', form.index);
  const inner = html.slice(form.index, end === -1 ? undefined : end);
  const fields: Record<string, string> = {};
  for (const input of inner.match(/<input\b[^>]*>/gi) ?? []) {
    const name = attribute(input, 'name');
    if (name !== undefined) fields[name] = attribute(input, 'value') ?? '';
  }
  return {
    action: attribute(form[0], 'action') ?? '',
    method: (attribute(form[0], 'method') ?? 'get').toUpperCase(),
    fields,
  };
}
