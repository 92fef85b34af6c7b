import { AxeBuilder } from '@axe-core/playwright';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { projectRoot } from './server-process.js';

/**
 * Real-browser tests: playwright-core driving Debian's Chromium
 * (`apt-get install chromium`, which .ci/run does). On a machine without it
 * the suites say they were skipped and why; in CI a missing browser fails.
 */
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** Why browser suites cannot run here, or null when they can. */
export function chromiumSkipReason(): string | null {
  if (fs.existsSync(CHROMIUM)) return null;
  const reason = `Chromium is not installed at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;
  if (process.env.CI) throw new Error(`${reason}; CI must run the browser tests`);
  return reason;
}

/** Skips the suite (in its before hook) with the reason, when there is no browser. */
export function skipWithoutChromium(ctx: Mocha.Context, what: string): void {
  const reason = chromiumSkipReason();
  if (reason) {
    process.stderr.write(`    skipped: ${what} (${reason})\n`);
    ctx.skip();
  }
}

/**
 * The flags a closed machine needs: no background connections, no sandbox as
 * root. Site isolation is off: with cross-site frames in their own processes,
 * playwright-core sometimes lost track of a frame that went back and forth
 * between the LMS's and the tool's sites (an LTI login), and its locators
 * hung. Cookies and storage stay partitioned and blocked all the same.
 */
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
  '--disable-site-isolation-trials',
];

export interface BrowserSession {
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * A browser with a fresh profile of its own, as a person's (not an
 * incognito context). This Chromium blocks third-party cookies, as Safari
 * and Firefox do by default: a tool in a cross-site iframe gets none.
 */
export async function openBrowser(
  options: { width?: number; height?: number } = {},
): Promise<BrowserSession> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'gradebridge-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: options.width ?? 1280, height: options.height ?? 900 },
  });
  context.setDefaultTimeout(15_000);
  return {
    context,
    close: async () => {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** axe-core's violations on the page (or one frame of it), in a line each for the assertion message. */
export async function accessibilityViolations(
  page: Page,
  frameSelector?: string,
): Promise<string[]> {
  let builder = new AxeBuilder({ page });
  if (frameSelector) builder = builder.include(frameSelector);
  const result = await builder.analyze();
  return result.violations.map(
    (v) =>
      `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
  );
}

/** Whether the page scrolls sideways as a whole (a wide table must scroll in its own box). */
export async function scrollsSideways(page: Page): Promise<boolean> {
  return page.evaluate<boolean>(
    'document.documentElement.scrollWidth > document.documentElement.clientWidth + 1',
  );
}

/** Where failed browser tests leave a screenshot. */
export const SCREENSHOTS = path.join(projectRoot, 'test-results', 'screenshots');

/** Saves a screenshot of the page when the current test failed (mocha afterEach). */
export async function screenshotIfFailed(
  ctx: Mocha.Context,
  page: Page | undefined,
): Promise<void> {
  const test = ctx.currentTest;
  if (!page || !test || test.state !== 'failed') return;
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const name = test
    .fullTitle()
    .replace(/[^A-Za-z0-9]+/g, '-')
    .slice(0, 120);
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
  process.stderr.write(`    screenshot: ${path.relative(projectRoot, file)}\n`);
}
