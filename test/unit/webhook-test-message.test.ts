import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  WebhooksApi,
  WebhooksApiError,
  describeTestOutcome as describeOutcome,
} from '../../src/console/webhooks-api.js';
import type { Poster } from '../../src/hub/webhooks/http-poster.js';
import { sendTestMessage } from '../../src/hub/webhooks/test-message.js';
import type { Webhook } from '../../src/hub/webhooks/webhook.js';
import { FakeClock } from '../helpers/fake-clock.js';

const hook: Webhook = {
  id: 'wh_1',
  description: 'd',
  url: 'https://x.example/h',
  type: 'iottly',
  headers: { Authorization: 'Bearer real' },
};

/** A poster that never answers by itself: only its abort signal ends it. */
const hangingPoster: Poster = (_request, signal) =>
  new Promise((_resolve, reject) =>
    signal.addEventListener('abort', () => reject(new Error('aborted'))),
  );

describe('webhook test message', () => {
  it('sends the real headers and a body marked as a test, and answers the status', async () => {
    const clock = new FakeClock();
    let sent: Parameters<Poster>[0] | undefined;
    const outcome = await sendTestMessage({
      webhook: hook,
      post: async (request) => ((sent = request), 418),
      clock,
      timeoutMs: 1_000,
      signal: new AbortController().signal,
    });
    assert.deepEqual(outcome, { status: 418 });
    assert.deepEqual(sent?.headers, { Authorization: 'Bearer real' });
    const { msg } = JSON.parse(sent?.body ?? '') as { msg: Record<string, unknown> };
    assert.equal(msg['test'], true);
    assert.equal(msg['message_type'], 'webhook_test');
    assert.equal(msg['timestamp'], clock.date().toISOString());
  });

  it('ends at its timeout, and at once when the hub stops', async () => {
    const clock = new FakeClock();
    const timingOut = sendTestMessage({
      webhook: hook,
      post: hangingPoster,
      clock,
      timeoutMs: 1_000,
      signal: new AbortController().signal,
    });
    clock.advance(1_000);
    assert.deepEqual(await timingOut, {
      status: null,
      failure: 'timeout',
      message: 'no answer within 1000 ms',
    });

    const stopping = new AbortController();
    const stopped = sendTestMessage({
      webhook: hook,
      post: hangingPoster,
      clock,
      timeoutMs: 1_000,
      signal: stopping.signal,
    });
    stopping.abort();
    assert.deepEqual(await stopped, { status: null, failure: 'unreachable', message: 'aborted' });
  });
});

describe('console: webhooks API client', () => {
  function api(answer: { status: number; body: unknown }) {
    const calls: Array<{ url: string; init: { method: string; headers: Record<string, string> } }> =
      [];
    const client = new WebhooksApi({
      baseUrl: 'http://hub',
      fetch: async (url, init) => {
        calls.push({ url, init });
        return { status: answer.status, json: async () => answer.body };
      },
      sessionAuthorization: async () => ({ Authorization: 'Bearer session-token' }),
    });
    return { client, calls };
  }

  it('lists with the session token and writes with the key given for that request', async () => {
    const listing = api({ status: 200, body: [] });
    await listing.client.list();
    assert.equal(listing.calls[0]?.init.headers['Authorization'], 'Bearer session-token');

    const test = api({ status: 200, body: { status: 202 } });
    assert.deepEqual(await test.client.sendTest('wh/1', 'the-key'), { status: 202 });
    assert.equal(test.calls[0]?.url, 'http://hub/v1/webhooks/wh%2F1/test');
    assert.equal(test.calls[0]?.init.headers['Authorization'], 'Bearer the-key');
  });

  it("throws the hub's own code and message for a refusal", async () => {
    const message = 'a hub keeps at most 5 webhooks; delete one first';
    const { client } = api({ status: 409, body: { error: { code: 'webhook_limit', message } } });
    await assert.rejects(
      client.create({ description: 'd' }, 'k'),
      (err: unknown) =>
        err instanceof WebhooksApiError && err.code === 'webhook_limit' && err.message === message,
    );
    const { client: odd } = api({ status: 502, body: null });
    await assert.rejects(odd.remove('wh_1', 'k'), /the hub answered 502/);
  });

  it('words a test outcome for people', () => {
    assert.equal(describeOutcome({ status: 503 }), 'receiver answered HTTP 503');
    assert.equal(
      describeOutcome({ status: null, failure: 'timeout', message: 'no answer within 10000 ms' }),
      'timeout: no answer within 10000 ms',
    );
  });
});
