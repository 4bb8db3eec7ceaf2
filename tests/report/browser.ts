/**
 * Headless Chromium for the report render tests: launch it once per file, and
 * open a written report from file:// collecting every console error or
 * warning, page error and request other than the file itself. Needs Chromium
 * at /usr/bin/chromium (or $UAE_CHROMIUM); CI installs it, so a missing
 * browser fails the tests that need it.
 */
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.UAE_CHROMIUM ?? '/usr/bin/chromium';
export const MISSING_CHROMIUM = `Chromium not found at ${CHROMIUM}: the report render test needs it (apt-get install chromium, or set UAE_CHROMIUM)`;

/** The browser, or undefined when it is not installed (each test then fails with MISSING_CHROMIUM). */
export async function launchChromium(): Promise<Browser | undefined> {
  if (!existsSync(CHROMIUM)) return undefined;
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 20_000,
  });
}

export interface OpenedReport {
  page: Page;
  /** Console errors and warnings, page errors, failed and unexpected requests so far. */
  problems: string[];
  ok: boolean;
}

/** Opens `path` (a report.html) in a new 1280×900 page and waits for it to load. Close `page` when done. */
export async function openReport(browser: Browser | undefined, path: string): Promise<OpenedReport> {
  if (!existsSync(CHROMIUM)) throw new Error(MISSING_CHROMIUM);
  if (!browser) throw new Error('Chromium did not start');
  const url = pathToFileURL(path).href;
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
  page.on('request', (r) => {
    if (r.url() !== url && !r.url().startsWith('data:')) problems.push(`unexpected request: ${r.url()}`);
  });
  const response = await page.goto(url, { waitUntil: 'load', timeout: 15_000 });
  return { page, problems, ok: response?.ok() ?? true };
}
