import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import { FakeClock } from '../helpers/fake-clock.js';
import type { Owner } from '../helpers/owner.js';
import { tempDir } from '../helpers/temp-dir.js';
import { API_KEY, connect, expectRefused, startHub, type TestHub } from '../helpers/ws.js';

/** `POST /v1/session`, session tokens on /v1/stream and /v1/devices, and the console's files. */
async function openSession(url: string, key = API_KEY): Promise<Response> {
  return fetch(`${url}/v1/session`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}` },
  });
}

/** A hub whose sessions last a minute on a clock of the test's own (the expiry test moves it). */
async function startSessionHub(t: Owner): Promise<{ hub: TestHub; clock: FakeClock }> {
  const clock = new FakeClock(Date.now());
  return { hub: await startHub(t, { clock, sessionTtlMs: 60_000, consoleDir: null }), clock };
}

describe('hub sessions', () => {
  it('trades the API key for a token that opens /v1/stream and /v1/devices', async (t) => {
    const { hub, clock } = await startSessionHub(t);
    const res = await openSession(hub.url);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const body = (await res.json()) as { token: string; expires_at: string; expires_in_s: number };
    assert.match(body.token, /^ist_/);
    assert.equal(body.expires_in_s, 60);
    assert.equal(Date.parse(body.expires_at), clock.date().getTime() + 60_000);

    const client = await connect(`${hub.wsUrl}/v1/stream?session=${body.token}`);
    client.send({ type: 'unsubscribe', request_id: 'u', payload: { subscription_id: 'nope' } });
    assert.equal((await client.inbox.nextOfType('error')).payload['code'], 'unknown_subscription');
    client.ws.close();
    const devices = await fetch(`${hub.url}/v1/devices`, {
      headers: { Authorization: `Bearer ${body.token}` },
    });
    assert.equal(devices.status, 200);
    const check = await fetch(`${hub.url}/v1/session`, {
      headers: { Authorization: `Bearer ${body.token}` },
    });
    assert.deepEqual(await check.json(), { expires_at: body.expires_at, expires_in_s: 60 });
  });

  it('refuses a wrong key, a key in the URL and a token trying to open a session', async (t) => {
    const { hub } = await startSessionHub(t);
    assert.equal((await openSession(hub.url, 'wrong')).status, 401);
    const inUrl = await fetch(`${hub.url}/v1/session?api_key=${API_KEY}`, { method: 'POST' });
    assert.equal(inUrl.status, 401);
    const { token } = (await (await openSession(hub.url)).json()) as { token: string };
    const chained = await openSession(hub.url, token);
    assert.equal(chained.status, 401);
    assert.equal(
      ((await chained.json()) as { error: { code: string } }).error.code,
      'unauthorized',
    );
    const put = await fetch(`${hub.url}/v1/session`, { method: 'PUT' });
    assert.equal(put.status, 405);
    assert.equal(put.headers.get('allow'), 'POST, GET, HEAD');
  });

  it('refuses an expired token at the upgrade and on REST with session_expired', async (t) => {
    const { hub, clock } = await startSessionHub(t);
    const { token } = (await (await openSession(hub.url)).json()) as { token: string };
    clock.advance(60_000);
    const refused = await expectRefused(`${hub.wsUrl}/v1/stream?session=${token}`);
    assert.equal(refused.status, 401);
    assert.equal(JSON.parse(refused.body).error.code, ErrorCode.sessionExpired);
    for (const path of ['/v1/session', '/v1/devices']) {
      const res = await fetch(`${hub.url}${path}`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      assert.equal(res.status, 401, path);
      assert.equal(
        ((await res.json()) as { error: { code: string } }).error.code,
        'session_expired',
      );
    }
    const forged = await expectRefused(
      `${hub.wsUrl}/v1/stream?session=ist_1.${'a'.repeat(22)}.${'b'.repeat(43)}`,
    );
    assert.equal(JSON.parse(forged.body).error.code, ErrorCode.unauthorized);
  });
});

describe('hub console files', () => {
  /** A hub serving a console folder of the test's own (the first test removes a file). */
  async function startConsoleHub(t: Owner): Promise<{ hub: TestHub; dir: string }> {
    const dir = tempDir('iottly-console-', t);
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>c</title>');
    writeFileSync(join(dir, 'console.js'), 'console.log(1)');
    writeFileSync(join(dir, 'notes.txt'), 'not served: no known type');
    return { hub: await startHub(t, { consoleDir: dir }), dir };
  }

  it('serves the page at / with a strict policy, and its files, from memory', async (t) => {
    const { hub, dir } = await startConsoleHub(t);
    const page = await fetch(`${hub.url}/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match(
      page.headers.get('content-security-policy') ?? '',
      /default-src 'none'.*script-src 'self'/,
    );
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(await page.text(), '<!doctype html><title>c</title>');
    rmSync(join(dir, 'console.js')); // read when the hub was made, not per request
    const script = await fetch(`${hub.url}/console.js`);
    assert.equal(script.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal(await script.text(), 'console.log(1)');
    const head = await fetch(`${hub.url}/index.html`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '31');
  });

  it('answers 404 for anything else, including paths that climb out', async (t) => {
    const { hub } = await startConsoleHub(t);
    for (const path of [
      '/notes.txt',
      '/..%2Fpackage.json',
      '/../package.json',
      '/%2e%2e/x',
      '/a/console.js',
    ]) {
      const res = await fetch(`${hub.url}${path}`);
      assert.equal(res.status, 404, path);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'not_found');
    }
    assert.equal((await fetch(`${hub.url}/`, { method: 'POST' })).status, 405);
  });

  it('says how to build the console when it is missing', async (t) => {
    const bare = await startHub(t, { consoleDir: join(tempDir('iottly-console-', t), 'nope') });
    const res = await fetch(`${bare.url}/`);
    assert.equal(res.status, 503);
    assert.match(
      ((await res.json()) as { error: { message: string } }).error.message,
      /npm run build/,
    );
  });

  it('finds the built console by default (npm test builds first)', async (t) => {
    const built = await startHub(t);
    const res = await fetch(`${built.url}/`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /<script type="module" src="console.js">/);
    const bundle = await fetch(`${built.url}/console.js`);
    assert.equal(bundle.status, 200);
    assert.ok(
      !/https?:\/\/(?!127\.0\.0\.1)[a-z]/i.test(
        await (await fetch(`${built.url}/index.html`)).text(),
      ),
      'no remote URLs in the page',
    );
  });
});
