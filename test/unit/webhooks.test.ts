import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { PostQueue, type PostPolicy } from '../../src/hub/webhooks/post-queue.js';
import type { Poster, WebhookRequest } from '../../src/hub/webhooks/http-poster.js';
import { webhookMessage, wants } from '../../src/hub/webhooks/webhook-message.js';
import { isLoopback, validateWebhookSpec, type Webhook } from '../../src/hub/webhooks/webhook.js';
import { Webhooks } from '../../src/hub/webhooks/webhooks.js';
import { parseWebhooksFile } from '../../src/hub/webhooks/webhooks-file.js';
import { FakeClock } from '../helpers/fake-clock.js';

const logger = pino({ level: 'silent' });
const hook: Webhook = { id: 'wh_1', description: 'd', url: 'https://x.example/h', type: 'user' };
const policy: PostPolicy = {
  maxPending: 3,
  maxPendingBytes: 1024,
  maxAttempts: 3,
  timeoutMs: 1_000,
  backoff: { initialDelayMs: 100, maxDelayMs: 400 },
};

/** A poster whose answers the test gives one by one. */
function scriptedPoster(): {
  post: Poster;
  calls: Array<{
    request: WebhookRequest;
    signal: AbortSignal;
    answer: (status: number | Error) => void;
  }>;
} {
  const calls: Array<{
    request: WebhookRequest;
    signal: AbortSignal;
    answer: (s: number | Error) => void;
  }> = [];
  const post: Poster = (request, signal) =>
    new Promise((resolve, reject) => {
      calls.push({ request, signal, answer: (s) => (s instanceof Error ? reject(s) : resolve(s)) });
      signal.addEventListener('abort', () => reject(new Error('aborted')));
    });
  return { post, calls };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A full collection, without running the test process with --expose-gc. */
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

describe('PostQueue', () => {
  function queue(post: Poster, clock = new FakeClock()) {
    return {
      clock,
      q: new PostQueue({ webhook: hook, policy, post, clock, random: () => 1, logger }),
    };
  }

  it('sends one at a time, in order', async () => {
    const { post, calls } = scriptedPoster();
    const { q } = queue(post);
    q.push('a');
    q.push('b');
    await tick();
    assert.deepEqual(
      calls.map((c) => c.request.body),
      ['a'],
    );
    calls[0]?.answer(200);
    await tick();
    assert.deepEqual(
      calls.map((c) => c.request.body),
      ['a', 'b'],
    );
    calls[1]?.answer(204);
    await tick();
    assert.deepEqual(q.stats(), { pending: 0, accepted: 2, failed: 0, dropped: 0 });
  });

  it('retries 5xx, network errors and timeouts with back-off, then gives up', async () => {
    const { post, calls } = scriptedPoster();
    const { q, clock } = queue(post);
    q.push('a');
    await tick();
    calls[0]?.answer(503);
    await tick();
    clock.advance(99);
    await tick();
    assert.equal(calls.length, 1, 'waits the back-off');
    clock.advance(1);
    await tick();
    assert.equal(calls.length, 2);
    calls[1]?.answer(new Error('ECONNREFUSED'));
    await tick();
    clock.advance(200);
    await tick();
    assert.equal(calls.length, 3);
    clock.advance(1_000); // the third attempt times out
    await tick();
    assert.equal(calls[2]?.signal.aborted, true);
    await tick();
    assert.deepEqual(q.stats(), { pending: 0, accepted: 0, failed: 1, dropped: 0 });
  });

  it('does not retry a 4xx', async () => {
    const { post, calls } = scriptedPoster();
    const { q } = queue(post);
    q.push('a');
    await tick();
    calls[0]?.answer(400);
    await tick();
    assert.equal(q.stats().failed, 1);
    assert.equal(calls.length, 1);
  });

  it('drops the oldest waiting bodies beyond maxPending, never the one in flight', async () => {
    const { post, calls } = scriptedPoster();
    const { q } = queue(post);
    for (const body of ['a', 'b', 'c', 'd', 'e']) q.push(body);
    await tick();
    assert.equal(q.stats().dropped, 1);
    calls[0]?.answer(200);
    for (let i = 1; i < 4; i++) {
      await tick();
      calls[i]?.answer(200);
    }
    await tick();
    assert.deepEqual(
      calls.map((c) => c.request.body),
      ['a', 'c', 'd', 'e'],
    );
  });

  it('drops the oldest waiting bodies beyond maxPendingBytes, keeping the newest', async () => {
    const { post, calls } = scriptedPoster();
    const { q } = queue(post);
    q.push('in flight');
    await tick();
    q.push('x'.repeat(600));
    q.push('é'.repeat(300)); // 600 bytes of UTF-8: both together pass 1024
    assert.deepEqual(
      { pending: q.stats().pending, bytes: q.pendingBytes, dropped: q.stats().dropped },
      { pending: 1, bytes: 600, dropped: 1 },
    );
    q.push('y'.repeat(2000)); // alone past the bound: kept, the one before it dropped
    assert.deepEqual(
      { pending: q.stats().pending, bytes: q.pendingBytes, dropped: q.stats().dropped },
      { pending: 1, bytes: 2000, dropped: 2 },
    );
    calls[0]?.answer(200);
    await tick();
    assert.equal(calls[1]?.request.body, 'y'.repeat(2000));
    assert.equal(q.pendingBytes, 0);
  });

  it('lets a dropped body go at once while a post hangs on a dead receiver', async () => {
    // Dropped bodies stayed in the queue's array until the loop took its next post: with a
    // receiver that never answers, every body pushed meanwhile was kept, past maxPending.
    const { post } = scriptedPoster();
    const q = new PostQueue({
      webhook: hook,
      policy: { ...policy, maxPendingBytes: 1 << 30 }, // only the count bounds it here
      post,
      clock: new FakeClock(),
      random: () => 1,
      logger,
    });
    q.push('in flight');
    await tick();
    collectGarbage();
    const before = process.memoryUsage().heapUsed;
    const bodies = 2_000;
    for (let i = 0; i < bodies; i++) q.push(Buffer.alloc(10_000, `${i} `).toString('latin1')); // flat strings, 20 MB in all
    collectGarbage();
    const grown = process.memoryUsage().heapUsed - before;
    assert.equal(q.stats().pending, 3);
    assert.equal(q.stats().dropped, bodies - 3);
    assert.ok(grown < 4 * 1024 * 1024, `the heap grew ${grown} bytes for 3 waiting bodies`);
    await q.stop();
  });

  it('stop() aborts the request in flight and ends the loop', async () => {
    const { post, calls } = scriptedPoster();
    const { q } = queue(post);
    q.push('a');
    await tick();
    await q.stop();
    assert.equal(calls[0]?.signal.aborted, true);
  });
});

describe('webhook definitions', () => {
  it('accepts https anywhere and http only to loopback', () => {
    for (const url of [
      'https://x.example/h',
      'http://127.0.0.1:9/h',
      'http://localhost/h',
      'http://[::1]:8/h',
    ]) {
      assert.equal(validateWebhookSpec({ description: 'd', url, type: 'user' }).ok, true, url);
    }
    for (const url of ['http://x.example/h', 'ftp://x', 'not a url', 'http://10.0.0.1/']) {
      assert.equal(validateWebhookSpec({ description: 'd', url, type: 'user' }).ok, false, url);
    }
    assert.equal(isLoopback('127.8.9.1'), true);
    assert.equal(isLoopback('128.0.0.1'), false);
  });

  it('refuses a header value with a line break', () => {
    const r = validateWebhookSpec({
      description: 'd',
      url: hook.url,
      type: 'user',
      headers: { 'X-A': 'a\r\nB: c' },
    });
    assert.equal(r.ok, false);
  });

  it('keeps at most 5 and gives each an id', () => {
    let n = 0;
    const hooks = new Webhooks({
      policy,
      post: async () => 200,
      clock: new FakeClock(),
      random: () => 0.5,
      ids: (p) => `${p}_${++n}`,
      logger,
    });
    for (let i = 0; i < 5; i++) hooks.add({ description: `${i}`, url: hook.url, type: 'iottly' });
    assert.deepEqual(
      hooks.list().map((w) => w.id),
      ['wh_1', 'wh_2', 'wh_3', 'wh_4', 'wh_5'],
    );
    assert.throws(() => hooks.add({ description: '6', url: hook.url, type: 'iottly' }), {
      code: 'webhook_limit',
    });
    assert.throws(() => hooks.add({ url: hook.url }), { code: 'invalid_webhook' });
  });

  it('reads a webhooks file and names the bad entry', () => {
    assert.equal(
      parseWebhooksFile(JSON.stringify([{ description: 'd', url: hook.url, type: 'user' }]), 'f')
        .length,
      1,
    );
    assert.throws(() => parseWebhooksFile('{}', 'f'), /f: expected a JSON array/);
    assert.throws(
      () => parseWebhooksFile('[{"description":"d"}]', 'f'),
      /f: webhooks\[0\]\.url: required/,
    );
    const six = JSON.stringify(
      Array.from({ length: 6 }, () => ({ description: 'd', url: hook.url, type: 'user' })),
    );
    assert.throws(() => parseWebhooksFile(six, 'f'), /at most 5 webhooks, got 6/);
  });
});

describe('webhook messages', () => {
  const frame = (type: string, raw: Record<string, unknown>) => ({
    type,
    payload: raw.payload as Record<string, unknown>,
    raw: { type, ...raw },
  });

  it('turns an app message into a user msg with the app payload', () => {
    const msg = webhookMessage(
      'dev1',
      frame('user', { channel: 'sensors', ts: 'T1', payload: { app: 'a', payload: { t: 21.5 } } }),
      'T2',
    );
    assert.deepEqual(msg, {
      from: 'dev1',
      timestamp: 'T2',
      devicetimestamp: 'T1',
      type: 'user',
      channel: 'sensors',
      message_type: 'user',
      payload: { t: 21.5 },
      app: 'a',
    });
    assert.equal(wants({ ...hook, channel: 'sensors' }, msg), true);
    assert.equal(wants({ ...hook, channel: 'other' }, msg), false);
    assert.equal(wants({ ...hook, type: 'iottly' }, msg), false);
  });

  it("turns the agent's own messages into iottly msgs", () => {
    const msg = webhookMessage(
      'dev1',
      frame('status', { channel: 'status', payload: { up: 1 } }),
      'T2',
    );
    assert.equal(msg.type, 'iottly');
    assert.equal(msg.devicetimestamp, null);
    assert.deepEqual(msg.payload, { up: 1 });
  });
});
