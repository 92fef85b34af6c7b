import { parseAutoPostForm } from '../../src/emulators/lms/index.js';

export interface Page {
  url: string;
  status: number;
  html: string;
  headers: Headers;
}

/**
 * A script-less browser for LTI flows over loopback: keeps cookies per host,
 * follows redirects, and submits the auto-posting forms platforms and tools
 * answer with (as a browser's script would).
 */
export class Browser {
  private readonly jar = new Map<string, Map<string, string>>();

  private cookieHeader(url: URL): string | undefined {
    const cookies = this.jar.get(url.host);
    return cookies && cookies.size > 0
      ? [...cookies].map(([k, v]) => `${k}=${v}`).join('; ')
      : undefined;
  }

  private keep(url: URL, res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const cookies = this.jar.get(url.host) ?? new Map<string, string>();
      const expired = /max-age=0|expires=thu, 01 jan 1970/i.test(line);
      if (expired) cookies.delete(pair!.slice(0, eq));
      else cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1));
      this.jar.set(url.host, cookies);
    }
  }

  private async request(
    url: string,
    init: { method: string; form?: Record<string, string> },
  ): Promise<Response> {
    const target = new URL(url);
    const headers: Record<string, string> = {};
    const cookie = this.cookieHeader(target);
    if (cookie) headers.Cookie = cookie;
    let body: string | undefined;
    if (init.form) {
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const res = await fetch(target, { method: init.method, headers, body, redirect: 'manual' });
    this.keep(target, res);
    return res;
  }

  /** Requests a URL and follows redirects; auto-posting forms are submitted too when `submitForms` is set. */
  async open(
    url: string,
    options: { method?: string; form?: Record<string, string>; submitForms?: boolean } = {},
  ): Promise<Page> {
    let current = url;
    let method = options.method ?? 'GET';
    let form = options.form;
    for (let hops = 0; hops < 20; hops++) {
      const res = await this.request(current, { method, form });
      if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
        current = new URL(res.headers.get('location')!, current).toString();
        method = 'GET';
        form = undefined;
        continue;
      }
      const html = await res.text();
      if (
        options.submitForms &&
        res.status === 200 &&
        /<form\b[^>]*method="post"/i.test(html) &&
        /\.submit\(\)/.test(html)
      ) {
        const parsed = parseAutoPostForm(html);
        current = new URL(parsed.action, current).toString();
        method = 'POST';
        form = parsed.fields;
        continue;
      }
      return { url: current, status: res.status, html, headers: res.headers };
    }
    throw new Error(`too many redirects from ${url}`);
  }

  /**
   * Submits a form of the current page (the first posting to that action).
   * Actions resolve against the page's `<base href>`; the teacher app's
   * forms post to /lti/s/{session}/app/…, which `/lti/app/…` also names.
   */
  async submit(
    page: Page,
    action: string,
    fields: Record<string, string> = {},
    submitForms = true,
  ): Promise<Page> {
    const base = new URL(/<base href="([^"]*)"/.exec(page.html)?.[1] ?? page.url, page.url);
    const wanted = new URL(action, page.url).pathname;
    const appPath = (p: string) => p.replace(/^\/lti\/s\/[^/]+\/app(?=\/|$)/, '/lti/app');
    let body: string | null = null;
    let target = '';
    for (const f of page.html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)) {
      const attr = /action="([^"]*)"/.exec(f[1]!)?.[1];
      if (attr === undefined) continue;
      const resolved = new URL(attr.replace(/&amp;/g, '&'), base);
      if (
        attr === action ||
        resolved.pathname === wanted ||
        appPath(resolved.pathname) === wanted
      ) {
        body = f[2]!;
        target = resolved.toString();
        break;
      }
    }
    if (body === null) throw new Error(`no form posting to ${action} on ${page.url}`);
    const values: Record<string, string> = {};
    for (const input of body.match(/<input\b[^>]*>/gi) ?? []) {
      const name = /name="([^"]*)"/.exec(input)?.[1];
      const value = /value="([^"]*)"/.exec(input)?.[1] ?? '';
      if (name)
        values[name] = value
          .replace(/&amp;/g, '&')
          .replace(/&quot;/g, '"')
          .replace(/&#39;/g, "'")
          .replace(/&lt;/g, '<')
          .replace(/&gt;/g, '>');
    }
    return this.open(target, {
      method: 'POST',
      form: { ...values, ...fields },
      submitForms,
    });
  }
}
