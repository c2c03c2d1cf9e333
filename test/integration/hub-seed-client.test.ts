import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import { spawnAgent, statusIs } from '../helpers/agent-process.js';
import type { Owner } from '../helpers/owner.js';
import {
  DEVICE_ID,
  DEVICE_TOKEN,
  OTHER_DEVICE_ID,
  OTHER_DEVICE_TOKEN,
  connectClient,
  connectDevice,
  startHub,
  type Frame,
  type Peer,
  type TestHub,
} from '../helpers/ws.js';

/**
 * A stream client written only from the platform docs knows `command_output` and
 * `command_done`, not the hub's `error` frame: every `command` must end with exactly one
 * `command_done` for it, whatever went wrong, at the hub or on the device.
 */

/**
 * Sends a command as such a client does, waits for its `command_done`, and returns every frame
 * with its request_id, those sent after the done included: the answer to a later request on
 * the same socket comes after anything the hub sent for this one.
 */
async function seedCommand(
  client: Peer,
  requestId: string,
  payload: Record<string, unknown>,
  timeoutMs = 5_000,
): Promise<Frame[]> {
  client.send({ type: 'command', request_id: requestId, payload });
  const ours = (f: Frame) => f.request_id === requestId;
  const frames: Frame[] = [];
  for (;;) {
    const frame = await client.inbox.next(ours, timeoutMs);
    frames.push(frame);
    if (frame.type === 'command_done') break;
  }
  await afterEverythingFor(client, requestId, frames);
  return frames;
}

/** Collects into `frames` whatever the hub has sent for `requestId` up to a later probe's answer. */
async function afterEverythingFor(client: Peer, requestId: string, frames: Frame[]) {
  const probe = `probe-${requestId}`;
  client.send({ type: 'unsubscribe', request_id: probe, payload: { subscription_id: 'none' } });
  await client.inbox.next((f) => f.request_id === probe);
  while (client.inbox.unread.some((f) => f.request_id === requestId))
    frames.push(await client.inbox.next((f) => f.request_id === requestId));
}

/** A fake device takes the next command the hub forwards and ends it with exit code 0. */
async function finishNextCommand(device: Peer): Promise<void> {
  const forwarded = await device.inbox.nextOfType('command');
  device.send({
    type: 'command_done',
    request_id: forwarded.request_id,
    payload: { exit_code: 0 },
  });
}

/** The command's one `command_done`, after its `error`, carrying the error's code. */
function assertFailedOnce(frames: Frame[], code: string): Frame {
  const dones = frames.filter((f) => f.type === 'command_done');
  assert.equal(dones.length, 1, `one command_done: ${JSON.stringify(frames)}`);
  const errors = frames.filter((f) => f.type === 'error');
  assert.deepEqual(
    errors.map((f) => f.payload.code),
    [code],
    'the error frame is kept, once',
  );
  assert.equal(frames.at(-1)?.type, 'command_done', 'the done comes last');
  const done = dones[0] as Frame;
  assert.equal(done.payload.exit_code, null);
  assert.deepEqual(done.payload.error, errors[0]?.payload);
  return done;
}

/** A hub and a seed client on it, both the test's own. */
async function seedClientAtHub(t: Owner): Promise<{ hub: TestHub; client: Peer }> {
  const hub = await startHub(t, { requestGraceMs: 0 });
  return { hub, client: await connectClient(hub.wsUrl) };
}

/**
 * A hub, a real agent on it (one command at a time, reboot denied) and a seed client, all the
 * test's own: a command a failed test left running cannot make the next one busy.
 */
async function seedClientWithAgent(t: Owner): Promise<Peer> {
  const hub = await startHub(t);
  const agent = spawnAgent(t, ['run'], {
    IOTTLY_SERVER_URL: `${hub.wsUrl}/v1/device`,
    IOTTLY_DEVICE_ID: DEVICE_ID,
    IOTTLY_AUTH_TOKEN: DEVICE_TOKEN,
    IOTTLY_COMMANDS_DENY: '["^reboot"]',
    IOTTLY_COMMANDS_MAX_CONCURRENT: '1',
  });
  await agent.waitForLog(statusIs('online'));
  return connectClient(hub.wsUrl);
}

describe('a seed client at the hub: one command_done for every command', () => {
  it('ends a command for an unknown device', async (t) => {
    const { client } = await seedClientAtHub(t);
    const frames = await seedCommand(client, 'ghost', { device_id: 'ghost', command: 'x' });
    assertFailedOnce(frames, ErrorCode.unknownDevice);
  });

  it('ends a command for an offline device', async (t) => {
    const { client } = await seedClientAtHub(t);
    const frames = await seedCommand(client, 'off', { device_id: OTHER_DEVICE_ID, command: 'x' });
    assertFailedOnce(frames, ErrorCode.deviceOffline);
  });

  it('ends a command frame the hub finds invalid', async (t) => {
    const { client } = await seedClientAtHub(t);
    const frames = await seedCommand(client, 'bad', { command: 'x' });
    assertFailedOnce(frames, ErrorCode.invalidPayload);
  });

  it('ends a command that ends normally with its own command_done only', async (t) => {
    const { hub, client } = await seedClientAtHub(t);
    const device = await connectDevice(hub.wsUrl);
    const pending = seedCommand(client, 'ok', { device_id: DEVICE_ID, command: 'true' });
    await finishNextCommand(device);
    const frames = await pending;
    assert.deepEqual(frames, [
      { type: 'command_done', request_id: 'ok', payload: { exit_code: 0 } },
    ]);
  });

  it('adds the command_done to an error the device sends, and relays nothing after it', async (t) => {
    const { hub, client } = await seedClientAtHub(t);
    const device = await connectDevice(hub.wsUrl);
    const pending = seedCommand(client, 'agent-err', { device_id: DEVICE_ID, command: 'x' });
    const forwarded = await device.inbox.nextOfType('command');
    const error = { code: ErrorCode.commandFailed, message: 'no such program' };
    device.send({ type: 'error', request_id: forwarded.request_id, payload: error });
    // A done the device sends after its error finds no open request: it is not relayed.
    device.send({
      type: 'command_done',
      request_id: forwarded.request_id,
      payload: { exit_code: 1 },
    });
    const frames = await pending;
    const done = assertFailedOnce(frames, ErrorCode.commandFailed);
    assert.deepEqual(done.payload.error, error);
  });

  it('ends a command whose device disconnects', async (t) => {
    const { hub, client } = await seedClientAtHub(t);
    const device = await connectDevice(hub.wsUrl, OTHER_DEVICE_ID, OTHER_DEVICE_TOKEN);
    const pending = seedCommand(client, 'cut', { device_id: OTHER_DEVICE_ID, command: 'x' });
    await device.inbox.nextOfType('command');
    device.ws.terminate();
    assertFailedOnce(await pending, ErrorCode.deviceOffline);
  });

  it('answers a duplicate request_id with the error only: the running command keeps its own done', async (t) => {
    const { hub, client } = await seedClientAtHub(t);
    const device = await connectDevice(hub.wsUrl);
    const command = { device_id: DEVICE_ID, command: 'a' };
    client.send({ type: 'command', request_id: 'dup', payload: command });
    client.send({ type: 'command', request_id: 'dup', payload: command });
    const refusal = await client.inbox.next((f) => f.request_id === 'dup');
    assert.equal(refusal.payload.code, ErrorCode.duplicateRequest);
    await finishNextCommand(device);
    const frames = [await client.inbox.next((f) => f.request_id === 'dup')];
    await afterEverythingFor(client, 'dup', frames);
    assert.deepEqual(
      frames.map((f) => [f.type, f.payload.exit_code]),
      [['command_done', 0]],
      'one command_done for "dup": the running one',
    );
  });

  it('refuses a command nested past the bound, and leaves its request_id free', async (t) => {
    const { hub, client } = await seedClientAtHub(t);
    const device = await connectDevice(hub.wsUrl);
    // Deep enough to overflow JSON.stringify had the hub forwarded it. Nesting is bounded at
    // parse, before the request_id is read, so the answer is an invalid_json error without
    // one (and no command_done: the request cannot be named). The route leak this used to
    // cause is covered where sending throws (hub-command-routing.test.ts).
    const deep = `${'{"a":'.repeat(5_000)}{}${'}'.repeat(5_000)}`;
    client.ws.send(
      `{"type":"command","request_id":"deep","payload":{"device_id":"${DEVICE_ID}","command":"x","env":${deep}}}`,
    );
    const refusal = await client.inbox.next(
      (f) => f.type === 'error' && f.payload.code === 'invalid_json',
    );
    assert.equal(refusal.request_id, undefined);
    const again = seedCommand(client, 'deep', { device_id: DEVICE_ID, command: 'true' });
    await finishNextCommand(device);
    assert.deepEqual(
      (await again).map((f) => f.type),
      ['command_done'],
      'forwarded, not refused as duplicate_request',
    );
  });
});

describe('a seed client and a real agent: refusals on the device end with command_done', () => {
  it('command_denied by the policy', async (t) => {
    const client = await seedClientWithAgent(t);
    const frames = await seedCommand(client, 'deny', { device_id: DEVICE_ID, command: 'reboot' });
    assertFailedOnce(frames, ErrorCode.commandDenied);
  });

  it('command_failed for a cwd that does not exist', async (t) => {
    const client = await seedClientWithAgent(t);
    const frames = await seedCommand(client, 'cwd', {
      device_id: DEVICE_ID,
      command: 'true',
      cwd: '/no/such/dir',
    });
    assertFailedOnce(frames, ErrorCode.commandFailed);
  });

  it('invalid_payload for a command the agent cannot read', async (t) => {
    const client = await seedClientWithAgent(t);
    const frames = await seedCommand(client, 'num', { device_id: DEVICE_ID, command: 42 });
    assertFailedOnce(frames, ErrorCode.invalidPayload);
  });

  it('busy while another command runs, which then ends with its own done', async (t) => {
    const client = await seedClientWithAgent(t);
    client.send({
      type: 'command',
      request_id: 'long',
      payload: {
        device_id: DEVICE_ID,
        command: 'echo started; exec sleep 30',
        stream_output: true,
      },
    });
    await client.inbox.next((f) => f.request_id === 'long' && f.type === 'command_output');
    const frames = await seedCommand(client, 'second', { device_id: DEVICE_ID, command: 'true' });
    assertFailedOnce(frames, ErrorCode.busy);
    client.send({ type: 'command_cancel', request_id: 'cancel', payload: { request_id: 'long' } });
    const long = [
      await client.inbox.next((f) => f.request_id === 'long' && f.type === 'command_done'),
    ];
    await afterEverythingFor(client, 'long', long);
    assert.deepEqual(
      long.map((f) => [f.type, f.payload.cancelled]),
      [['command_done', true]],
    );
  });

  it('subscribe: unknown_stream for streams the agent does not offer, unavailable for some', async (t) => {
    const client = await seedClientWithAgent(t);
    client.send({
      type: 'subscribe',
      request_id: 'gpu',
      payload: { device_id: DEVICE_ID, streams: ['gpu'] },
    });
    const refused = await client.inbox.next((f) => f.request_id === 'gpu');
    assert.equal(refused.type, 'error');
    assert.equal(refused.payload.code, ErrorCode.unknownStream);
    assert.match(String(refused.payload.message), /"gpu".*offers: .*"cpu"/);
    client.send({
      type: 'subscribe',
      request_id: 'some',
      payload: { device_id: DEVICE_ID, streams: ['cpu', 'gpu'] },
    });
    const subscribed = await client.inbox.next((f) => f.request_id === 'some');
    assert.equal(subscribed.type, 'subscribed');
    assert.deepEqual(subscribed.payload.unavailable, ['gpu']);
  });

  it('a normal command: exactly one command_done, exit_code 0', async (t) => {
    const client = await seedClientWithAgent(t);
    const frames = await seedCommand(client, 'fine', { device_id: DEVICE_ID, command: 'true' });
    const dones = frames.filter((f) => f.type === 'command_done');
    assert.equal(dones.length, 1);
    assert.equal(dones[0]?.payload.exit_code, 0);
    assert.equal(
      frames.some((f) => f.type === 'error'),
      false,
    );
  });
});
