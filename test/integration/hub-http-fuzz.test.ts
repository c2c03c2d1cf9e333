import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Owner } from '../helpers/owner.js';
import { tempDir } from '../helpers/temp-dir.js';
import { API_KEY, startHub, type TestHub } from '../helpers/ws.js';
import { seededRandom } from '../helpers/seeded-random.js';

/**
 * Random requests at the hub's HTTP side (REST, the console's files and the WebSocket upgrade):
 * random methods, paths built from the real routes plus random and broken percent-encodings,
 * query strings, credentials and bodies. Whatever comes in, the answer is never a 5xx and the
 * hub keeps answering. The seed is printed in every failure so a run can be replayed
 * (`HUB_FUZZ_SEED=… node --import tsx --test test/integration/hub-http-fuzz.test.ts`).
 */
const REQUESTS = 400;
const PARALLEL = 4;

interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

function generator(random: () => number, sessionToken: string) {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const int = (max: number) => Math.floor(random() * max);
  const hex = () => int(256).toString(16).toUpperCase().padStart(2, '0');

  // Each route with the methods it serves: most requests use one of them, so they get past
  // the method check into the handler; the rest take any method.
  const routes: Array<[string, string[]]> = [
    ['/v1/webhooks', ['GET', 'POST']],
    ['/v1/webhooks/', ['DELETE']],
    ['/v1/webhooks/wh_1', ['DELETE']],
    ['/v1/webhooks/wh_1/test', ['POST']],
    ['/v1/devices', ['GET']],
    ['/v1/session', ['GET', 'POST']],
    ['/v1/stream', ['GET']],
    ['/v1/device', ['GET']],
    ['/healthz', ['GET']],
    ['/', ['GET']],
    ['/index.html', ['GET']],
    ['/console.js', ['GET']],
    ['/v1', ['GET']],
  ];
  // Percent-encodings, broken ones above all (truncated, overlong, surrogates, not hex).
  const encodings = [
    () => '%E0%A4%A',
    () => '%',
    () => '%Z',
    () => `%${hex()}`,
    () => `%${hex()}%${hex()}`,
    () => '%C0%80',
    () => '%ED%A0%80',
    () => '%F4%90%80%80',
    () => '%00',
    () => '%2F',
  ];
  const others = [
    () => '..',
    () => '/',
    () => '//',
    () => '/../',
    () => '\\',
    () => '#frag',
    () => `?api_key=${pick([API_KEY, '%', '%E0%A4%A', ''])}`,
    () => `?session=${pick(['%', 'ist_1.a.b', '%FF', ''])}`,
    () => `&${pick(['a', 'api_key', 'session'])}=%${hex()}`,
    // Printable ASCII and Latin-1: what an HTTP request line can carry.
    () => String.fromCharCode(0x21 + int(0x5e)),
    () => String.fromCharCode(0xa1 + int(0x5e)),
    () => 'x'.repeat(int(3000)),
  ];
  const methods = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'FOO'];
  const jsonish = (depth: number): unknown => {
    if (depth > 3) return pick([null, 1, 'x', true]);
    return pick([
      () => ({ description: 'd', url: 'https://h.example/x', type: pick(['user', 'iottly']) }),
      () => ({ headers: { [pick(['X-A', 'Host', '%'])]: pick(['v', 1, null]) } }),
      () => [jsonish(depth + 1), jsonish(depth + 1)],
      () => ({ k: jsonish(depth + 1) }),
      () => pick(['', 'x', '\u0000', '\ud800']),
      () => random() * 1e308,
    ])();
  };
  const bodies = [
    () => Buffer.from(JSON.stringify(jsonish(0))),
    () => Buffer.from(Array.from({ length: int(512) }, () => int(256))),
    () => Buffer.from('{'),
    () => Buffer.from('[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[['),
    () => Buffer.alloc(70 * 1024, 0x20),
  ];
  const credentials = [
    () => ({}),
    () => ({ Authorization: `Bearer ${API_KEY}` }),
    () => ({ Authorization: `Bearer ${API_KEY}` }),
    () => ({ Authorization: `Bearer ${API_KEY}` }),
    () => ({ Authorization: `Bearer ${API_KEY}` }),
    () => ({ Authorization: `Bearer ${sessionToken}` }),
    () => ({ Authorization: 'Bearer wrong' }),
    () => ({ Authorization: `Bearer ist_${int(1e9)}.${'a'.repeat(22)}.${'b'.repeat(43)}` }),
    () => ({ Authorization: pick(['Basic x', 'Bearer', 'Bearer a b', '']) }),
  ];

  return (): FuzzRequest => {
    const [route, served] = pick(routes);
    let path = route;
    for (let n = 1 + int(3); n > 0; n--) path += pick(random() < 0.5 ? encodings : others)();
    const method = random() < 0.7 ? pick(served) : pick(methods);
    const headers: Record<string, string> = { ...pick(credentials)() };
    if (random() < 0.15) {
      headers['Connection'] = 'Upgrade';
      headers['Upgrade'] = 'websocket';
      headers['Sec-WebSocket-Version'] = '13';
      if (random() < 0.5) headers['Sec-WebSocket-Key'] = 'dGhlIHNhbXBsZSBub25jZQ==';
    }
    const body = method === 'GET' || method === 'HEAD' ? undefined : pick(bodies)();
    return { method, path, headers, body };
  };
}

/** The status the hub answered, or 101 for an upgrade it accepted (the socket is then closed). */
function send(base: URL, r: FuzzRequest): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: base.hostname, port: base.port, method: r.method, path: r.path, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    for (const [name, value] of Object.entries(r.headers)) req.setHeader(name, value);
    // Node sends a DELETE's or TRACE's body without a length unless told: the hub would then
    // read the body as the next request, and Node's parser would answer before the hub could.
    if (r.body) req.setHeader('Content-Length', r.body.length);
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 101);
    });
    req.on('error', reject);
    req.end(r.body);
  });
}

/**
 * A hub of the test's own (the fuzz opens sessions), with a console folder of its own, so the
 * static files are served whether or not the console is built.
 */
async function startFuzzedHub(t: Owner): Promise<TestHub> {
  const consoleDir = tempDir('iottly-fuzz-console-', t);
  writeFileSync(join(consoleDir, 'index.html'), '<!doctype html><title>c</title>');
  writeFileSync(join(consoleDir, 'console.js'), 'export {};');
  return startHub(t, { consoleDir });
}

describe('hub HTTP under hostile requests', () => {
  it('answers random methods, paths, encodings, credentials and bodies without a 5xx', async (t) => {
    const hub = await startFuzzedHub(t);
    const seed = Number(process.env['HUB_FUZZ_SEED'] ?? Date.now() % 2 ** 31);
    const opened = await fetch(`${hub.url}/v1/session`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${API_KEY}` },
    });
    const { token } = (await opened.json()) as { token: string };
    const next = generator(seededRandom(seed), token);
    const requests = Array.from({ length: REQUESTS }, next);
    const base = new URL(hub.url);
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    let index = 0;
    const worker = async () => {
      while (index < requests.length) {
        const r = requests[index++] as FuzzRequest;
        let status: number;
        try {
          status = await send(base, r);
        } catch (err) {
          failures.push(`${r.method} ${r.path.slice(0, 200)}: ${(err as Error).message}`);
          continue;
        }
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status >= 500) failures.push(`${r.method} ${r.path.slice(0, 200)} → ${status}`);
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    assert.deepEqual(failures, [], `seed ${seed}: ${JSON.stringify([...statuses])}`);
    const health = await fetch(`${hub.url}/healthz`);
    assert.equal(health.status, 200, `seed ${seed}: the hub stopped answering`);
  });

  it('refuses a WebSocket upgrade that is not a GET with 405, without a body for HEAD', async (t) => {
    const { port } = new URL((await startFuzzedHub(t)).url);
    const raw = (method: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1', () =>
          socket.write(
            `${method} /v1/stream?api_key=${API_KEY} HTTP/1.1\r\nHost: hub\r\n` +
              'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n' +
              'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
          ),
        );
        let text = '';
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => (text += chunk));
        socket.on('close', () => resolve(text));
        socket.on('error', reject);
      });
    const head = await raw('HEAD');
    assert.match(head, /^HTTP\/1\.1 405 /);
    assert.ok(head.endsWith('\r\n\r\n'), `no body after the headers: ${JSON.stringify(head)}`);
    const post = await raw('POST');
    assert.match(post, /^HTTP\/1\.1 405 /);
    assert.match(post, /"code":"method_not_allowed"/);
  });
});
