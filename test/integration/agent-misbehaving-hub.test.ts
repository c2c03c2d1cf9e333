import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { spawnAgent, statusIs, type AgentProcess } from '../helpers/agent-process.js';
import { startFakeHub, type FakeHub } from '../helpers/fake-hub.js';
import type { Owner } from '../helpers/owner.js';

/** The agent as a process against a hand-driven hub that sends garbage or goes silent. */
function agentFor(owner: Owner, hub: FakeHub, extra: Record<string, string> = {}): AgentProcess {
  return spawnAgent(owner, ['run'], {
    IOTTLY_SERVER_URL: hub.url,
    IOTTLY_DEVICE_ID: 'dev1',
    IOTTLY_AUTH_TOKEN: 'tok',
    IOTTLY_RECONNECT_INITIAL_DELAY_MS: '200',
    IOTTLY_RECONNECT_MAX_DELAY_MS: '1000',
    IOTTLY_LOG_LEVEL: 'debug',
    ...extra,
  });
}

describe('agent against a misbehaving hub', () => {
  it('answers every garbage frame with an error frame and stays connected', async (t) => {
    const hub = await startFakeHub(t);
    const agent = agentFor(t, hub);
    const conn = await hub.nextConnection();
    await agent.waitForLog(statusIs('online'));

    const garbage: Array<[string | Buffer, string, string | undefined]> = [
      ['this is not json', 'invalid_json', undefined],
      ['[]', 'missing_type', undefined],
      ['{"payload":{}}', 'missing_type', undefined],
      ['{"type":"launch_missiles","request_id":"g1"}', 'unknown_type', 'g1'],
      ['{"type":"welcome","request_id":"g2","payload":{"device_id":5}}', 'invalid_payload', 'g2'],
      ['{"type":"__proto__","request_id":"g3"}', 'unknown_type', 'g3'],
      // A binary frame on a link whose welcome did not say "bytes" (docs/protocol.md, raw bytes).
      [Buffer.from([0xde, 0xad, 0xbe, 0xef]), 'invalid_frame', undefined],
      // Refused before it is decoded (issue 13): its request_id is never read.
      [
        `{"type":"command","request_id":"g4","payload":{"argv":["true"],"x":${'['.repeat(5000)}${']'.repeat(5000)}}}`,
        'invalid_json',
        undefined,
      ],
    ];
    for (const [frame, code, requestId] of garbage) {
      const before = conn.frames.length;
      conn.socket.send(frame, { binary: Buffer.isBuffer(frame) });
      const reply = await conn.nextFrame(
        (f, i = conn.frames.indexOf(f)) => i >= before && f.type === 'error',
      );
      const payload = reply.payload as { code: string; message: string };
      assert.equal(payload.code, code, `reply to ${String(frame)}`);
      assert.ok(payload.message.length > 0);
      assert.equal(reply.request_id, requestId);
      assert.equal(reply.channel, 'errors');
      assert.match(String(reply.ts), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }

    // An error frame from the hub is logged, never answered (no error ping-pong).
    const before = conn.frames.length;
    conn.socket.send('{"type":"error","payload":{"code":"x","message":"y"}}');
    conn.socket.send('{"type":"error","payload":{"code":1}}');
    await agent.waitForLog((l) => l.msg === 'hub reported an error: y');
    conn.socket.ping();
    await once(conn.socket, 'pong');
    assert.equal(conn.frames.length, before, 'no reply to error frames');

    assert.equal(hub.connections.length, 1, 'never reconnected');
    assert.equal(agent.child.exitCode, null, 'agent alive');
  });

  it('terminates a link that goes silent and reconnects within interval + timeout', async (t) => {
    const hub = await startFakeHub(t, { autoPong: false });
    const agent = agentFor(t, hub, {
      IOTTLY_HEARTBEAT_INTERVAL_MS: '300',
      IOTTLY_HEARTBEAT_TIMEOUT_MS: '300',
    });
    await hub.nextConnection();
    await agent.waitForLog(statusIs('online'));
    const silentSince = Date.now();
    // The hub neither closes nor answers pings: a half-open link.
    const lost = await agent.waitForLog((l) => l.code === 'heartbeat_timeout', 10_000);
    const detectedAfter = Date.now() - silentSince;
    assert.ok(lost);
    // Due after 600 ms; the defaults would take 40 s. 5 s tells them apart on a loaded machine.
    assert.ok(detectedAfter < 5_000, `detected after ${detectedAfter} ms`);
    await hub.nextConnection(10_000);
    assert.equal(hub.connections.length, 2);
  });

  it('exits 0 on SIGTERM after closing the link with 1000', async (t) => {
    const hub = await startFakeHub(t);
    const agent = agentFor(t, hub);
    const conn = await hub.nextConnection();
    await agent.waitForLog(statusIs('online'));
    const closed = once(conn.socket, 'close');
    const started = Date.now();
    const { code } = await agent.kill('SIGTERM');
    const [closeCode] = (await closed) as [number];
    assert.equal(code, 0);
    assert.equal(closeCode, 1000);
    assert.ok(Date.now() - started < 10_000, 'a prompt exit, not a hang');
  });

  it('exits 0 on SIGTERM while it is backing off', async (t) => {
    const agent = spawnAgent(t, ['run'], {
      IOTTLY_SERVER_URL: 'ws://127.0.0.1:9/v1/device',
      IOTTLY_DEVICE_ID: 'dev1',
      IOTTLY_AUTH_TOKEN: 'tok',
    });
    await agent.waitForLog(statusIs('backoff'));
    const { code } = await agent.kill('SIGTERM');
    assert.equal(code, 0);
  });
});
