import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { spawnAgent, statusIs } from '../helpers/agent-process.js';
import { startFakeHub } from '../helpers/fake-hub.js';

/**
 * The agent process tells each new link which requests it still holds (`open_requests`: its
 * running commands) and the last seq its spool gave out (`seq`), so the hub can fail the
 * requests it forwarded into a link the agent had already left.
 */
describe('agent hello: open_requests and seq', () => {
  it('lists the commands running across a reconnect, and its spool position', async (t) => {
    const hub = await startFakeHub(t);
    const agent = spawnAgent(t, ['run'], {
      IOTTLY_SERVER_URL: hub.url,
      IOTTLY_DEVICE_ID: 'dev1',
      IOTTLY_AUTH_TOKEN: 'tok',
      IOTTLY_RECONNECT_INITIAL_DELAY_MS: '100',
      IOTTLY_RECONNECT_MAX_DELAY_MS: '200',
      IOTTLY_TELEMETRY_STREAMS: '', // quiet: only the commands' replies are numbered
      IOTTLY_LOCAL_ENABLED: 'false',
    });
    const first = await hub.nextConnection();
    const firstHello = await first.nextFrame((f) => f.type === 'hello');
    assert.deepEqual((firstHello.payload as Record<string, unknown>).open_requests, []);
    assert.equal((firstHello.payload as Record<string, unknown>).seq, 0);
    await agent.waitForLog(statusIs('online'));

    const command = (id: string, line: string) =>
      first.socket.send(
        JSON.stringify({ type: 'command', request_id: id, payload: { command: line } }),
      );
    command('req_running', 'sleep 30');
    command('req_done', 'true');
    await first.nextFrame((f) => f.type === 'command_done' && f.request_id === 'req_done');
    const lastSeq = Math.max(...first.frames.map((f) => (typeof f.seq === 'number' ? f.seq : 0)));
    assert.ok(lastSeq >= 1, 'the finished command’s reply was numbered');

    const second = hub.nextConnection();
    first.socket.terminate();
    const secondHello = await (await second).nextFrame((f) => f.type === 'hello');
    const payload = secondHello.payload as Record<string, unknown>;
    assert.deepEqual(payload.open_requests, ['req_running']);
    assert.equal(payload.seq, lastSeq, 'the resend ends at the last seq given out');
  });
});
