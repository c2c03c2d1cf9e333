import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { API_KEY, connect, expectRefused, startHub, type TestHub } from '../helpers/ws.js';

/** `POST /v1/session`, session tokens on /v1/stream and /v1/devices, and the console's files. */
async function openSession(url: string, key = API_KEY): Promise<Response> {
  return fetch(`${url}/v1/session`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}` },
  });
}

describe('hub sessions', () => {
  const clock = new FakeClock(Date.now());
  let t: TestHub;
  before(async () => (t = await startHub({ clock, sessionTtlMs: 60_000, consoleDir: null })));
  after(() => t.stop());

  it('trades the API key for a token that opens /v1/stream and /v1/devices', async () => {
    const res = await openSession(t.url);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const body = (await res.json()) as { token: string; expires_at: string; expires_in_s: number };
    assert.match(body.token, /^ist_/);
    assert.equal(body.expires_in_s, 60);
    assert.equal(Date.parse(body.expires_at), clock.date().getTime() + 60_000);

    const client = await connect(`${t.wsUrl}/v1/stream?session=${body.token}`);
    client.send({ type: 'unsubscribe', request_id: 'u', payload: { subscription_id: 'nope' } });
    assert.equal((await client.inbox.nextOfType('error')).payload['code'], 'unknown_subscription');
    client.ws.close();
    const devices = await fetch(`${t.url}/v1/devices`, {
      headers: { Authorization: `Bearer ${body.token}` },
    });
    assert.equal(devices.status, 200);
    const check = await fetch(`${t.url}/v1/session`, {
      headers: { Authorization: `Bearer ${body.token}` },
    });
    assert.deepEqual(await check.json(), { expires_at: body.expires_at, expires_in_s: 60 });
  });

  it('refuses a wrong key, a key in the URL and a token trying to open a session', async () => {
    assert.equal((await openSession(t.url, 'wrong')).status, 401);
    const inUrl = await fetch(`${t.url}/v1/session?api_key=${API_KEY}`, { method: 'POST' });
    assert.equal(inUrl.status, 401);
    const { token } = (await (await openSession(t.url)).json()) as { token: string };
    const chained = await openSession(t.url, token);
    assert.equal(chained.status, 401);
    assert.equal(
      ((await chained.json()) as { error: { code: string } }).error.code,
      'unauthorized',
    );
    const put = await fetch(`${t.url}/v1/session`, { method: 'PUT' });
    assert.equal(put.status, 405);
    assert.equal(put.headers.get('allow'), 'POST, GET, HEAD');
  });

  it('refuses an expired token at the upgrade and on REST with session_expired', async () => {
    const { token } = (await (await openSession(t.url)).json()) as { token: string };
    clock.advance(60_000);
    const refused = await expectRefused(`${t.wsUrl}/v1/stream?session=${token}`);
    assert.equal(refused.status, 401);
    assert.equal(JSON.parse(refused.body).error.code, ErrorCode.sessionExpired);
    for (const path of ['/v1/session', '/v1/devices']) {
      const res = await fetch(`${t.url}${path}`, { headers: { Authorization: `Bearer ${token}` } });
      assert.equal(res.status, 401, path);
      assert.equal(
        ((await res.json()) as { error: { code: string } }).error.code,
        'session_expired',
      );
    }
    const forged = await expectRefused(
      `${t.wsUrl}/v1/stream?session=ist_1.${'a'.repeat(22)}.${'b'.repeat(43)}`,
    );
    assert.equal(JSON.parse(forged.body).error.code, ErrorCode.unauthorized);
  });
});

describe('hub console files', () => {
  let dir: string;
  let t: TestHub;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iottly-console-'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>c</title>');
    writeFileSync(join(dir, 'console.js'), 'console.log(1)');
    writeFileSync(join(dir, 'notes.txt'), 'not served: no known type');
    t = await startHub({ consoleDir: dir });
  });
  after(async () => {
    await t.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the page at / with a strict policy, and its files, from memory', async () => {
    const page = await fetch(`${t.url}/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match(
      page.headers.get('content-security-policy') ?? '',
      /default-src 'none'.*script-src 'self'/,
    );
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(await page.text(), '<!doctype html><title>c</title>');
    rmSync(join(dir, 'console.js')); // read when the hub was made, not per request
    const script = await fetch(`${t.url}/console.js`);
    assert.equal(script.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal(await script.text(), 'console.log(1)');
    const head = await fetch(`${t.url}/index.html`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '31');
  });

  it('answers 404 for anything else, including paths that climb out', async () => {
    for (const path of [
      '/notes.txt',
      '/..%2Fpackage.json',
      '/../package.json',
      '/%2e%2e/x',
      '/a/console.js',
    ]) {
      const res = await fetch(`${t.url}${path}`);
      assert.equal(res.status, 404, path);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'not_found');
    }
    assert.equal((await fetch(`${t.url}/`, { method: 'POST' })).status, 405);
  });

  it('says how to build the console when it is missing', async () => {
    const bare = await startHub({ consoleDir: join(dir, 'nope') });
    try {
      const res = await fetch(`${bare.url}/`);
      assert.equal(res.status, 503);
      assert.match(
        ((await res.json()) as { error: { message: string } }).error.message,
        /npm run build/,
      );
    } finally {
      await bare.stop();
    }
  });

  it('finds the built console by default (npm test builds first)', async () => {
    const built = await startHub();
    try {
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
    } finally {
      await built.stop();
    }
  });
});
