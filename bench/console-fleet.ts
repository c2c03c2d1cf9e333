/// <reference lib="dom" />
// The callbacks given to page.evaluate run in the page.
/**
 * `npm run bench -- --only console-fleet`: the console with a fleet of 10,000 devices (a hub on
 * mosquitto fed retained presences, one real agent: test/helpers/fleet-console.ts) in Debian's
 * chromium. Chromium's own counters (Performance.getMetrics, thread time) give the page's script
 * time for the first render (sign-in to the list with its counts), a search by id (median of
 * several, each one input event) and a refresh (one poll of `GET /v1/devices`), each beside a
 * floor measured in the same page: fetching and parsing the same list, and filtering the same
 * ids with a bare loop. `IOTTLY_FLEET_SCREENSHOT=docs/fleet-console.png` also saves the page.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { launchChromium, openConsole } from '../test/helpers/browser.js';
import {
  FLEET_SIZE,
  pageTimeOf,
  performanceCounters,
  searchDevices,
  startConsoleFleet,
} from '../test/helpers/fleet-console.js';
import type { Owner } from '../test/helpers/owner.js';
import { API_KEY } from '../test/helpers/ws.js';
import { reportRows } from './lib/results.js';

const SEARCHES = ['fleet-04242', 'FLEET-0424', '99', 'fleet-0', 'dev', 'no-such-device', 'e-077'];

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
};

const countsShow = (page: Page, attribute: string, value: number) =>
  page.locator(`#device-counts[data-${attribute}="${value}"]`).waitFor({ state: 'attached' });

/** Everything started here is stopped in `finally`, last started first. */
const stops: (() => void | Promise<void>)[] = [];
const owner: Owner = { after: (fn) => stops.push(fn) };

try {
  const fleet = await startConsoleFleet(owner);
  const browser = await launchChromium();
  stops.push(() => browser.close());
  const { page } = await openConsole(browser, fleet.hub.url);
  const cdp = await performanceCounters(page);
  await page.locator('#sign-in').waitFor({ state: 'visible' });
  await page.fill('#sign-in input', API_KEY);
  const first = await pageTimeOf(cdp, async () => {
    await page.press('#sign-in input', 'Enter');
    await countsShow(page, 'total', FLEET_SIZE);
  });

  // Floor of the first render: the least any page pays to hold the list.
  const fetchAndParse = await pageTimeOf(cdp, () =>
    page.evaluate(async (key) => {
      const res = await fetch(`/v1/devices?api_key=${encodeURIComponent(key)}`);
      return (JSON.parse(await res.text()) as unknown[]).length;
    }, API_KEY),
  );

  const searches: number[] = [];
  const searchLayouts: number[] = [];
  for (const query of SEARCHES) {
    const { scriptMs, layoutMs } = await pageTimeOf(cdp, () => searchDevices(page, query));
    searches.push(scriptMs);
    searchLayouts.push(layoutMs);
    await searchDevices(page, '');
  }
  // Floor of a search: the same ids filtered by a bare loop in the same page.
  const ids = await page.evaluate(async (key) => {
    const res = await fetch(`/v1/devices?api_key=${encodeURIComponent(key)}`);
    return ((await res.json()) as { device_id: string }[]).map((d) => d.device_id);
  }, API_KEY);
  const bareFilters: number[] = [];
  for (const query of SEARCHES) {
    // In a task of the page's own, where the counters see it (not in the evaluate itself).
    const { scriptMs } = await pageTimeOf(cdp, () =>
      page.evaluate(
        ([all, q]) =>
          new Promise<number>((done) =>
            setTimeout(() => done(all.filter((id) => id.toLowerCase().includes(q)).length)),
          ),
        [ids, query.toLowerCase()] as const,
      ),
    );
    bareFilters.push(scriptMs);
  }

  const refresh = await pageTimeOf(cdp, async () => {
    await page.waitForEvent('requestfinished', (req) => req.url().endsWith('/v1/devices'));
    // The body is in: it is parsed and the list drawn in the next tasks, two frames at most.
    await page.evaluate(
      () => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))),
    );
  });

  const screenshot = process.env['IOTTLY_FLEET_SCREENSHOT'];
  if (screenshot) {
    await page.waitForFunction(
      () =>
        Number(
          document.querySelector<HTMLElement>('.chart[data-stream="cpu"]')?.dataset['points'],
        ) >= 10,
      undefined,
      { timeout: 30_000 },
    );
    const path = resolve(screenshot);
    mkdirSync(dirname(path), { recursive: true });
    await page.screenshot({ path });
    console.log(`screenshot: ${path}`);
  }

  const ms = (n: number): string => `${n.toFixed(1)} ms`;
  console.log(`fleet of ${FLEET_SIZE} devices (${JSON.stringify(fleet.counts)})`);
  console.log(
    `first render (sign-in → list):  script ${ms(first.scriptMs)}, style+layout ${ms(first.layoutMs)}`,
  );
  console.log(`  floor, fetch + JSON.parse:    script ${ms(fetchAndParse.scriptMs)}`);
  console.log(
    `search (median of ${SEARCHES.length}):          script ${ms(median(searches))}, style+layout ${ms(median(searchLayouts))}  [${searches.map((s) => s.toFixed(1)).join(', ')}]`,
  );
  console.log(`  floor, bare filter of ids:    script ${ms(median(bareFilters))}`);
  console.log(
    `refresh (one poll):             script ${ms(refresh.scriptMs)}, style+layout ${ms(refresh.layoutMs)}`,
  );
  reportRows([
    {
      figure: `console, first render of ${FLEET_SIZE} devices (sign-in to list), page script`,
      unit: 'ms',
      better: 'lower',
      ours: first.scriptMs,
      floor: fetchAndParse.scriptMs,
      floorName: 'fetch + JSON.parse of the same list in the page',
      note: `style+layout ${first.layoutMs.toFixed(1)} ms`,
    },
    {
      figure: `console, search by id over ${FLEET_SIZE} devices (median), page script`,
      unit: 'ms',
      better: 'lower',
      ours: median(searches),
      floor: median(bareFilters),
      floorName: 'bare filter of the same ids in the page',
      note: `style+layout ${median(searchLayouts).toFixed(1)} ms`,
    },
    {
      figure: `console, list refresh of ${FLEET_SIZE} devices (one poll), page script`,
      unit: 'ms',
      better: 'lower',
      ours: refresh.scriptMs,
      floor: fetchAndParse.scriptMs,
      floorName: 'fetch + JSON.parse of the same list in the page',
      note: `style+layout ${refresh.layoutMs.toFixed(1)} ms`,
    },
  ]);
} finally {
  for (const stop of stops.reverse()) await stop();
}
