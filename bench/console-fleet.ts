/// <reference lib="dom" />
// The callbacks given to page.evaluate run in the page.
/**
 * `npm run bench -- --only console-fleet`: the console with a fleet of 10,000 devices (a hub on
 * mosquitto fed retained presences, one real agent: test/helpers/fleet-console.ts) in Debian's
 * chromium. The page's own timings (src/console/timing.ts, `performance.now()` around the
 * synchronous script) give the first render (parse, check and draw the list after sign-in), a
 * search by id (median of several, each one input event) and a refresh (median of later polls
 * of `GET /v1/devices`), each beside a floor timed the same way in the same page: JSON.parse of
 * the same body, and a bare filter of the same ids. `IOTTLY_FLEET_SCREENSHOT=docs/fleet-console.png`
 * also saves the page.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { DEVICE_SEARCH_MEASURE, DEVICES_REFRESH_MEASURE } from '../src/console/timing.js';
import { launchChromium, openConsole } from '../test/helpers/browser.js';
import {
  FLEET_SIZE,
  fleetDeviceId,
  searchDevices,
  startConsoleFleet,
  timings,
  timingsReach,
  watchTimings,
} from '../test/helpers/fleet-console.js';
import { DEVICE } from '../test/helpers/mqtt-agent-rig.js';
import type { Owner } from '../test/helpers/owner.js';
import { API_KEY } from '../test/helpers/ws.js';
import { reportRows } from './lib/results.js';

const SEARCHES = ['fleet-04242', 'FLEET-0424', '99', 'fleet-0', 'dev', 'no-such-device', 'e-077'];
const REFRESHES = 3;

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
};

/** Milliseconds of JSON.parse of the list body in the page (median of a few). */
function parseFloor(page: Page): Promise<number> {
  return page.evaluate(async (key) => {
    const body = await (await fetch(`/v1/devices?api_key=${encodeURIComponent(key)}`)).text();
    const runs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      JSON.parse(body);
      runs.push(performance.now() - started);
    }
    return runs.sort((a, b) => a - b)[2] ?? 0;
  }, API_KEY);
}

/** Milliseconds of a bare case-insensitive substring filter of the same ids, per query. */
function filterFloor(page: Page): Promise<number[]> {
  return page.evaluate(
    async ([key, queries]) => {
      const list = await (await fetch(`/v1/devices?api_key=${encodeURIComponent(key)}`)).json();
      const ids = (list as { device_id: string }[]).map((d) => d.device_id);
      return queries.map((q) => {
        const started = performance.now();
        const needle = q.toLowerCase();
        ids.filter((id) => id.toLowerCase().includes(needle));
        return performance.now() - started;
      });
    },
    [API_KEY, SEARCHES] as const,
  );
}

/** Everything started here is stopped in `finally`, last started first. */
const stops: (() => void | Promise<void>)[] = [];
const owner: Owner = { after: (fn) => stops.push(fn) };

try {
  const fleet = await startConsoleFleet(owner);
  const browser = await launchChromium();
  stops.push(() => browser.close());
  const { page } = await openConsole(browser, fleet.hub.url);
  await watchTimings(page);
  await page.locator('#sign-in').waitFor({ state: 'visible' });
  await page.fill('#sign-in input', API_KEY);
  await page.press('#sign-in input', 'Enter');
  await page.locator(`#device-counts[data-total="${FLEET_SIZE}"]`).waitFor({ state: 'attached' });
  const [first = NaN] = await timings(page, DEVICES_REFRESH_MEASURE);

  for (const query of SEARCHES) {
    await searchDevices(page, query);
    await searchDevices(page, '');
  }
  // Every other one is the search, the others clear it.
  const searches = (await timings(page, DEVICE_SEARCH_MEASURE)).filter((_, i) => i % 2 === 0);

  // Refreshes with a device selected that sends nothing, so no chart draws in between.
  await page.click(`.device[data-device-id="${fleetDeviceId(1)}"]`);
  const before = (await timings(page, DEVICES_REFRESH_MEASURE)).length;
  await timingsReach(page, DEVICES_REFRESH_MEASURE, before + REFRESHES);
  const refreshes = (await timings(page, DEVICES_REFRESH_MEASURE)).slice(before);
  const parse = await parseFloor(page);
  const bareFilters = await filterFloor(page);

  const screenshot = process.env['IOTTLY_FLEET_SCREENSHOT'];
  if (screenshot) {
    await page.click(`.device[data-device-id="${DEVICE}"]`);
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
  const list = (values: number[]): string => values.map((v) => v.toFixed(1)).join(', ');
  console.log(`fleet of ${FLEET_SIZE} devices (${JSON.stringify(fleet.counts)})`);
  console.log(`first render (after sign-in):    script ${ms(first)}`);
  console.log(
    `refresh (median of ${REFRESHES} polls):    script ${ms(median(refreshes))}  [${list(refreshes)}]`,
  );
  console.log(`  floor, JSON.parse of the list: script ${ms(parse)}`);
  console.log(
    `search (median of ${SEARCHES.length}):           script ${ms(median(searches))}  [${list(searches)}]`,
  );
  console.log(
    `  floor, bare filter of the ids: script ${ms(median(bareFilters))}  [${list(bareFilters)}]`,
  );
  reportRows([
    {
      figure: `console, first render of ${FLEET_SIZE} devices after sign-in, page script`,
      unit: 'ms',
      better: 'lower',
      ours: first,
      floor: parse,
      floorName: 'JSON.parse of the same list in the page',
    },
    {
      figure: `console, refresh of ${FLEET_SIZE} devices (one poll, median), page script`,
      unit: 'ms',
      better: 'lower',
      ours: median(refreshes),
      floor: parse,
      floorName: 'JSON.parse of the same list in the page',
    },
    {
      figure: `console, search by id over ${FLEET_SIZE} devices (median), page script`,
      unit: 'ms',
      better: 'lower',
      ours: median(searches),
      floor: median(bareFilters),
      floorName: 'bare filter of the same ids in the page',
    },
  ]);
} finally {
  for (const stop of stops.reverse()) await stop();
}
