/// <reference lib="dom" />
// The callbacks given to page.evaluate and waitForFunction run in the page.
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

/**
 * Debian's chromium driven by playwright-core, for the console's browser tests. No browser is
 * downloaded: `.ci/run` installs the `chromium` package. Background networking is off, so the
 * browser talks to nothing but the hub under test.
 */
export const CHROMIUM_PATH = process.env['IOTTLY_CHROMIUM'] ?? '/usr/bin/chromium';
export const SCREENSHOT_DIR = fileURLToPath(new URL('../../test-output/browser/', import.meta.url));
/** Longest any single wait in a browser test may take. */
export const BROWSER_WAIT_MS = 15_000;

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-default-apps',
  '--disable-domain-reliability',
  '--disable-sync',
  '--disable-breakpad',
  '--metrics-recording-only',
  '--no-first-run',
  '--no-default-browser-check',
  '--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication',
];

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: CHROMIUM_ARGS,
    timeout: BROWSER_WAIT_MS,
  });
}

export interface ConsolePage {
  page: Page;
  /** Console errors and uncaught exceptions the page reported. */
  problems: string[];
  screenshot(name: string): Promise<string>;
}

export async function openConsole(browser: Browser, url: string): Promise<ConsolePage> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  page.setDefaultTimeout(BROWSER_WAIT_MS);
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (err) => problems.push(`uncaught: ${err.message}`));
  await page.goto(url);
  return {
    page,
    problems,
    async screenshot(name) {
      mkdirSync(SCREENSHOT_DIR, { recursive: true });
      const path = join(SCREENSHOT_DIR, name);
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.screenshot({ path });
      return path;
    },
  };
}

/** A TCP port that was free a moment ago, for a hub that must come back on the same one. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
