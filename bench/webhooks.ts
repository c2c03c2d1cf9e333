/**
 * npm run bench:webhooks — webhook deliveries to a loopback HTTP receiver through the hub's
 * queue (one request in flight per webhook, as order requires), against a floor measured in
 * the same run: the same POSTs made one after another with bare fetch. Then the device path:
 * the cost of handing a message to 5 webhooks whose receiver never answers, against the floor
 * of the same path with no webhook.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { fetchPoster } from '../src/hub/webhooks/http-poster.js';
import { Webhooks } from '../src/hub/webhooks/webhooks.js';
import { DEFAULT_POST_POLICY } from '../src/hub/webhooks/post-queue.js';
import type { ParsedFrame } from '../src/protocol/parse.js';
import { systemClock } from '../src/time/clock.js';
import { reportRows } from './lib/results.js';

// Within one queue bound, so the hub path drops nothing and both sides send the same requests.
const REQUESTS = DEFAULT_POST_POLICY.maxPending;
const CALLS = 200_000;
const logger = pino({ level: 'silent' });

async function receiver(hang: boolean): Promise<{ url: string; close(): Promise<void> }> {
  const hanging: ServerResponse[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => (hang ? hanging.push(res) : res.writeHead(204).end()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const frame = (i: number): ParsedFrame => {
  const raw = {
    type: 'user',
    channel: 'sensors',
    ts: new Date().toISOString(),
    payload: { app: 'a', payload: { t: 21.5, i } },
  };
  return { type: 'user', payload: raw.payload, raw };
};

function webhooks(): Webhooks {
  let n = 0;
  return new Webhooks({
    policy: DEFAULT_POST_POLICY,
    post: fetchPoster,
    clock: systemClock,
    random: Math.random,
    ids: (p) => `${p}_${++n}`,
    logger,
  });
}

async function floor(url: string): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < REQUESTS; i++) {
    await fetchPoster(
      { url, headers: {}, body: JSON.stringify({ msg: frame(i).raw }) },
      new AbortController().signal,
    );
  }
  return REQUESTS / ((performance.now() - started) / 1000);
}

async function hubPath(url: string): Promise<number> {
  const hooks = webhooks();
  const hook = hooks.add({ description: 'bench', url, type: 'user' });
  const started = performance.now();
  for (let i = 0; i < REQUESTS; i++) hooks.post('dev1', frame(i));
  while ((hooks.stats(hook.id)?.accepted ?? 0) < REQUESTS)
    await new Promise((r) => setTimeout(r, 5));
  const rate = REQUESTS / ((performance.now() - started) / 1000);
  await hooks.stop();
  return rate;
}

async function devicePath(url: string | null): Promise<number> {
  const hooks = webhooks();
  if (url) for (let i = 0; i < 5; i++) hooks.add({ description: `h${i}`, url, type: 'user' });
  const frames = Array.from({ length: 1000 }, (_, i) => frame(i));
  const started = performance.now();
  for (let i = 0; i < CALLS; i++) hooks.post('dev1', frames[i % 1000] as ParsedFrame);
  const micros = ((performance.now() - started) * 1000) / CALLS;
  await hooks.stop();
  return micros;
}

const ok = await receiver(false);
const hang = await receiver(true);
try {
  await floor(ok.url); // warm-up
  // The floor is measured before and after the hub path, so drift favours neither.
  const floorBefore = await floor(ok.url);
  const hubRate = await hubPath(ok.url);
  const floorRate = (floorBefore + (await floor(ok.url))) / 2;
  console.log(`floor (sequential fetch POSTs):        ${Math.round(floorRate)} deliveries/s`);
  console.log(`hub (queue → fetch, order kept):       ${Math.round(hubRate)} deliveries/s`);
  console.log(`ratio hub/floor: ${(hubRate / floorRate).toFixed(2)}`);
  const none = await devicePath(null);
  const stuck = await devicePath(hang.url);
  console.log(`device path, no webhooks:              ${none.toFixed(2)} µs/message`);
  console.log(
    `device path, 5 webhooks never answering: ${stuck.toFixed(2)} µs/message (queues bounded at ${DEFAULT_POST_POLICY.maxPending})`,
  );
  console.log(`ratio 5 webhooks/none: ${(stuck / none).toFixed(2)}`);
  reportRows([
    {
      figure: 'hub webhook deliveries, ordered queue',
      unit: 'deliveries/s',
      better: 'higher',
      ours: hubRate,
      floor: floorRate,
      floorName: 'sequential fetch POSTs',
    },
    {
      figure: 'hub device path with 5 webhooks never answering',
      unit: 'µs/message',
      better: 'lower',
      ours: stuck,
      floor: none,
      floorName: 'the same path without webhooks',
    },
  ]);
} finally {
  await ok.close();
  await hang.close();
}
