const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

/** Undoes escapeHtml (and only its five entities). */
export function unescapeHtml(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|#39);/g, (entity) => {
    const found = Object.entries(ESCAPES).find(([, e]) => e === entity);
    return found ? found[0] : entity;
  });
}

/** A two-column table: each name in a header cell, its value as code. */
export function namedValuesTable(rows: ReadonlyArray<readonly [string, string]>): string {
  const cells = rows
    .map(
      ([name, value]) =>
        `<tr><th>${escapeHtml(name)}</th><td><code>${escapeHtml(value)}</code></td></tr>`,
    )
    .join('');
  return `<table>${cells}</table>`;
}
