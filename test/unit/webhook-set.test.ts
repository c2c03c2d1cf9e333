import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { fetchPoster } from '../../src/hub/webhooks/http-poster.js';
import type { PostPolicy } from '../../src/hub/webhooks/post-queue.js';
import type { Webhook } from '../../src/hub/webhooks/webhook.js';
import {
  MAX_WEBHOOK_SET_BYTES,
  parseWebhookSet,
  webhookSetPayload,
} from '../../src/hub/webhooks/webhook-set.js';
import { Webhooks } from '../../src/hub/webhooks/webhooks.js';
import { systemClock } from '../../src/time/clock.js';
import { startReceiver, type Responder } from '../helpers/http-receiver.js';
import type { Owner } from '../helpers/owner.js';
import { waitFor } from '../helpers/ws.js';

/**
 * The fleet's webhook set (docs/protocol.md, "MQTT 5 transport"): what a hub publishes after a
 * local change (`onChange`, `webhookSetPayload`), and how another hub takes it in
 * (`parseWebhookSet`, `replaceAll`), with real post queues posting to real HTTP receivers.
 */
const logger = pino({ level: 'silent' });

/** Short timeouts and back-off for the real queues; a hung first attempt is retried soon. */
const policy: PostPolicy = {
  maxPending: 100,
  maxPendingBytes: 1024 * 1024,
  maxAttempts: 5,
  timeoutMs: 2_000,
  backoff: { initialDelayMs: 50, maxDelayMs: 200 },
};

function webhooks(owner: Owner, prefix = 'a'): Webhooks {
  let n = 0;
  const hooks = new Webhooks({
    policy,
    post: fetchPoster,
    clock: systemClock,
    random: Math.random,
    ids: (p) => `${p}_${prefix}${++n}`,
    logger,
  });
  owner.after(() => hooks.stop());
  return hooks;
}

function spec(url: string, extra: Partial<Webhook> = {}) {
  return { description: 'd', url, type: 'user' as const, ...extra };
}

/** An app message from dev1; every `type: 'user'` webhook without a channel takes it. */
function appMessage(n: number) {
  const payload = { app: 'app1', payload: { n } };
  return { type: 'user', payload, raw: { type: 'user', payload } };
}

const bodyN = (body: unknown): unknown =>
  (body as { msg: { payload: { n: number } } }).msg.payload.n;

async function receiver(owner: Owner, respond?: Responder) {
  return startReceiver(owner, respond);
}

describe('webhook set payload', () => {
  const hook: Webhook = {
    id: 'wh_x1',
    description: 'billing',
    url: 'https://rx.example/in?token=s3cret',
    type: 'iottly',
    channel: 'status',
    payload_only: true,
    headers: { Authorization: 'Bearer real-secret' },
  };

  it('carries ids and real header values, and reads back the same list', () => {
    const text = webhookSetPayload([hook, { id: 'wh_x2', ...spec('https://b.example/') }]);
    assert.deepEqual(JSON.parse(text), {
      webhooks: [hook, { id: 'wh_x2', description: 'd', url: 'https://b.example/', type: 'user' }],
    });
    assert.deepEqual(parseWebhookSet(text), [
      hook,
      { id: 'wh_x2', description: 'd', url: 'https://b.example/', type: 'user' },
    ]);
    assert.deepEqual(parseWebhookSet(webhookSetPayload([])), []);
  });

  it('refuses what is not a webhook set, naming what is wrong', () => {
    const set = (webhooks: unknown): string => JSON.stringify({ webhooks });
    const refusals: Array<[string, RegExp, string]> = [
      ['', /webhook set: not valid JSON/, 'invalid_webhook'],
      ['[]', /expected an object \{ "webhooks": \[\.\.\.\] \}/, 'invalid_webhook'],
      ['{}', /webhook set: webhooks: expected an array of webhooks/, 'invalid_webhook'],
      [
        set(Array.from({ length: 6 }, (_, i) => ({ ...hook, id: `wh_${i}` }))),
        /webhooks: at most 5 webhooks, got 6/,
        'webhook_limit',
      ],
      [
        set([hook, { ...hook, url: 'http://example.com/' }]),
        /webhooks\[1\]\.url: expected https/,
        'invalid_webhook',
      ],
      [set([{ ...hook, id: undefined }]), /webhooks\[0\]\.id: expected string/, 'invalid_webhook'],
      [
        set([{ ...hook, id: 'wh/../x' }]),
        /webhooks\[0\]\.id: expected string matching/,
        'invalid_webhook',
      ],
      [set([hook, hook]), /webhooks\[1\]\.id: "wh_x1" given twice/, 'invalid_webhook'],
      [
        set([{ ...hook, headers: { 'X-A': 'a\r\nB: c' } }]),
        /webhooks\[0\]\.headers\.X-A: expected a one-line string/,
        'invalid_webhook',
      ],
    ];
    for (const [text, message, code] of refusals) {
      assert.throws(() => parseWebhookSet(text), { code, message }, text.slice(0, 60));
    }
  });

  it('is bounded in bytes and in depth before it is parsed', () => {
    const big = JSON.stringify({ webhooks: [], pad: 'x'.repeat(MAX_WEBHOOK_SET_BYTES) });
    assert.throws(() => parseWebhookSet(big), {
      code: 'invalid_webhook',
      message: `webhook set: larger than ${MAX_WEBHOOK_SET_BYTES} bytes`,
    });
    const deep = `{"webhooks":[],"x":${'['.repeat(20)}${']'.repeat(20)}}`;
    assert.throws(() => parseWebhookSet(deep), {
      code: 'invalid_webhook',
      message: /webhook set: nested deeper than 8 levels/,
    });
  });

  it('fits the largest set a hub accepts', () => {
    const header = '\ud800'.repeat(4096); // a lone surrogate: 6 bytes once written as JSON
    const largest: Webhook[] = Array.from({ length: 5 }, (_, i) => ({
      id: `wh_${i}`,
      description: 'd'.repeat(200),
      url: `https://x.example/${'p'.repeat(2000)}`,
      type: 'user',
      headers: Object.fromEntries(
        Array.from({ length: 5 }, (_, h) => [`${'h'.repeat(127)}${h}`, header]),
      ),
    }));
    assert.equal(parseWebhookSet(webhookSetPayload(largest)).length, 5);
  });
});

describe('Webhooks.onChange', () => {
  it('tells the whole new set, real header values included, after a local add and remove', (t) => {
    const hooks = webhooks(t);
    const told: Webhook[][] = [];
    const unsubscribe = hooks.onChange((list) => told.push(list));
    const headers = { Authorization: 'Bearer real-secret' };
    hooks.add(spec('https://a.example/', { headers }));
    hooks.add(spec('https://b.example/'));
    assert.throws(() => hooks.add({ url: 'https://c.example/' }), { code: 'invalid_webhook' });
    assert.equal(hooks.remove('wh_nobody'), false);
    assert.equal(hooks.remove('wh_a1'), true);
    assert.deepEqual(
      told.map((list) => list.map((w) => w.id)),
      [['wh_a1'], ['wh_a1', 'wh_a2'], ['wh_a2']],
      'one call per change that succeeded',
    );
    assert.deepEqual(told[0]?.[0]?.headers, headers);
    // What the listener got is what another hub takes in.
    assert.deepEqual(parseWebhookSet(webhookSetPayload(told[1] ?? [])), told[1]);

    unsubscribe();
    hooks.add(spec('https://c.example/'));
    assert.equal(told.length, 3, 'no call after unsubscribing');
  });

  it('keeps a change whose listener throws, and still tells the other listeners', (t) => {
    const hooks = webhooks(t);
    const told: string[][] = [];
    hooks.onChange(() => {
      throw new Error('broker gone');
    });
    hooks.onChange((list) => told.push(list.map((w) => w.id)));
    const added = hooks.add(spec('https://a.example/'));
    assert.deepEqual(hooks.list(), [added]);
    assert.deepEqual(told, [['wh_a1']]);
  });
});

describe('Webhooks.replaceAll', () => {
  it('keeps the ids it is given and tells no listener (no echo)', (t) => {
    const hooks = webhooks(t);
    const told: Webhook[][] = [];
    hooks.onChange((list) => told.push(list));
    const remote: Webhook[] = [
      { id: 'wh_b7', ...spec('https://a.example/') },
      { id: 'wh_b9', ...spec('https://b.example/', { headers: { 'X-Key': 'k' } }) },
    ];
    hooks.replaceAll(remote);
    assert.deepEqual(hooks.list(), remote);
    assert.equal(told.length, 0);
    // A later local change tells the set with the remote ids in it, and a DELETE names them.
    assert.equal(hooks.remove('wh_b7'), true);
    assert.deepEqual(
      told.map((list) => list.map((w) => w.id)),
      [['wh_b9']],
    );
  });

  it('refuses a set it would not accept itself, naming what is wrong, and keeps its own', (t) => {
    const hooks = webhooks(t);
    const mine = hooks.add(spec('https://a.example/'));
    const six = Array.from({ length: 6 }, (_, i) => ({
      id: `wh_${i}`,
      ...spec('https://x.example/'),
    }));
    assert.throws(() => hooks.replaceAll(six), {
      code: 'webhook_limit',
      message: 'webhooks: at most 5 webhooks, got 6',
    });
    const bad = [{ id: 'wh_1', ...spec('ftp://x.example/') }];
    assert.throws(() => hooks.replaceAll(bad), {
      code: 'invalid_webhook',
      message: /^webhooks\[0\]\.url: expected https:\/\//,
    });
    const twice = [mine, mine];
    assert.throws(() => hooks.replaceAll(twice), {
      code: 'invalid_webhook',
      message: `webhooks[1].id: "${mine.id}" given twice`,
    });
    assert.deepEqual(hooks.list(), [mine]);
  });

  it('keeps the queues of kept webhooks with what is pending, stops removed ones, starts new ones', async (t) => {
    // kept: its first request hangs until the queue's timeout, so a second body waits behind it
    // while the set is replaced; both must still arrive.
    const kept = await receiver(t, (_request, index) => (index === 0 ? 'hang' : 200));
    // removed: its first request hangs forever; what waits behind it must never be posted.
    const removed = await receiver(t, () => 'hang');
    const added = await receiver(t);
    const hooks = webhooks(t);
    const keptHook = hooks.add(spec(kept.url));
    const removedHook = hooks.add(spec(removed.url));
    hooks.post('dev1', appMessage(1));
    hooks.post('dev1', appMessage(2));
    await kept.waitFor(1);
    await removed.waitFor(1);
    assert.deepEqual(hooks.stats(keptHook.id), { pending: 1, accepted: 0, failed: 0, dropped: 0 });

    const fromOtherHub = parseWebhookSet(
      webhookSetPayload([keptHook, { id: 'wh_b1', ...spec(added.url) }]),
    );
    hooks.replaceAll(fromOtherHub);
    assert.deepEqual(
      hooks.list().map((w) => w.id),
      [keptHook.id, 'wh_b1'],
    );
    assert.equal(hooks.stats(removedHook.id), undefined);
    assert.equal(hooks.stats(keptHook.id)?.pending, 1, 'the kept queue and its pending body');

    hooks.post('dev1', appMessage(3));
    // The hung body is retried after its timeout, then the one behind it, then the new one.
    const keptGot = await kept.waitFor(4, 15_000);
    assert.deepEqual(
      keptGot.map((r) => bodyN(r.body)),
      [1, 1, 2, 3],
    );
    const addedGot = await added.waitFor(1, 15_000);
    assert.deepEqual(
      addedGot.map((r) => bodyN(r.body)),
      [3],
    );
    await waitFor(() => hooks.stats(keptHook.id)?.accepted === 3, 5_000);
    // The removed webhook's queue was stopped: its second body was never posted.
    assert.equal(removed.requests.length, 1);
  });

  it('restarts the queue of a webhook whose definition changed under the same id', async (t) => {
    const before = await receiver(t);
    const after = await receiver(t);
    const hooks = webhooks(t);
    const hook = hooks.add(spec(before.url, { headers: { 'X-Key': 'old' } }));
    hooks.post('dev1', appMessage(1));
    await before.waitFor(1);
    await waitFor(() => hooks.stats(hook.id)?.accepted === 1, 5_000);

    hooks.replaceAll([{ ...hook, url: after.url, headers: { 'x-key': 'new' } }]);
    assert.deepEqual(hooks.stats(hook.id), { pending: 0, accepted: 0, failed: 0, dropped: 0 });
    hooks.post('dev1', appMessage(2));
    const [request] = await after.waitFor(1);
    assert.equal(request?.headers['x-key'], 'new');
    assert.equal(before.requests.length, 1);
  });

  it('keeps a queue when the same definition comes back with its keys in another order', async (t) => {
    const rx = await receiver(t);
    const hooks = webhooks(t);
    const hook = hooks.add(
      spec(rx.url, { headers: { 'X-A': 'a', 'X-B': 'b' }, payload_only: false }),
    );
    hooks.post('dev1', appMessage(1));
    await waitFor(() => hooks.stats(hook.id)?.accepted === 1, 5_000);
    // As another hub may write it: other key order, payload_only absent rather than false.
    const reordered = `{"webhooks":[{"headers":{"X-B":"b","X-A":"a"},"type":"user","url":"${rx.url}","description":"d","id":"${hook.id}"}]}`;
    hooks.replaceAll(parseWebhookSet(reordered));
    assert.equal(hooks.stats(hook.id)?.accepted, 1);
  });

  it('does nothing once the webhooks are stopped', async (t) => {
    const hooks = webhooks(t);
    await hooks.stop();
    hooks.replaceAll([{ id: 'wh_b1', ...spec('https://a.example/') }]);
    assert.deepEqual(hooks.list(), []);
  });
});
