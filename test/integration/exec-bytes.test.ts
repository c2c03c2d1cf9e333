import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import type { Hub } from '../../src/hub/hub.js';
import {
  ByteFd,
  ByteKind,
  binaryData,
  decodeByteFrame,
  encodeByteFrame,
  type ByteFrame,
} from '../../src/protocol/byte-frame.js';
import { CLI_PATH, spawnAgent, statusIs, type AgentProcess } from '../helpers/agent-process.js';
import { rebuild } from '../helpers/commands-harness.js';
import { startFakeHub } from '../helpers/fake-hub.js';
import type { Owner } from '../helpers/owner.js';
import {
  API_KEY,
  DEVICE_ID,
  DEVICE_TOKEN,
  connectClient,
  connectDevice,
  startHub,
  waitFor,
  type Frame,
  type Peer,
  type TestHub,
} from '../helpers/ws.js';

/**
 * Raw bytes end to end (issue 15): `iottly-agent exec` and byte stream clients through the
 * reference hub to the agent spawned as a process, the seed's JSON clients beside them, and the
 * fall-backs to JSON when one side does not speak bytes.
 */
const MiB = 1024 * 1024;

function runAgent(owner: Owner, wsUrl: string): AgentProcess {
  return spawnAgent(owner, ['run'], {
    IOTTLY_SERVER_URL: `${wsUrl}/v1/device`,
    IOTTLY_DEVICE_ID: DEVICE_ID,
    IOTTLY_AUTH_TOKEN: DEVICE_TOKEN,
    IOTTLY_LOG_LEVEL: 'info',
    IOTTLY_COMMANDS_MAX_OUTPUT_BYTES: String(256 * MiB),
  });
}

/** Send-queue bounds of the shared hub, small so that a client that does not read meets them. */
const HIGH_WATER = 256 * 1024;
const QUEUE_LIMIT = 4 * MiB;

async function rig(t: Owner): Promise<{ hub: TestHub; agent: AgentProcess }> {
  const hub = await startHub(t, {
    peerHighWaterBytes: HIGH_WATER,
    peerQueueLimitBytes: QUEUE_LIMIT,
  });
  const agent = runAgent(t, hub.wsUrl);
  await agent.waitForLog(statusIs('online'));
  return { hub, agent };
}

interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdoutSha: string;
  stdoutBytes: number;
  stdout: Buffer;
  stderr: string;
}

/** `iottly-agent exec` as a process, stdin fed from `input` (or closed at once). */
async function exec(hub: TestHub, argv: string[], input?: Buffer): Promise<ExecResult> {
  const child = spawn(process.execPath, [CLI_PATH, 'exec', DEVICE_ID, '--', ...argv], {
    env: { PATH: process.env.PATH ?? '', IOTTLY_HUB_URL: hub.url, IOTTLY_API_KEY: API_KEY },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const hash = createHash('sha256');
  let stdoutBytes = 0;
  const kept: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    stdoutBytes += chunk.length;
    if (stdoutBytes <= MiB) kept.push(chunk);
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit');
  if (input) {
    for (let at = 0; at < input.length; at += 256 * 1024) {
      if (!child.stdin.write(input.subarray(at, at + 256 * 1024))) await once(child.stdin, 'drain');
    }
  }
  child.stdin.end();
  const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
  return {
    code,
    signal,
    stdoutSha: hash.digest('hex'),
    stdoutBytes,
    stdout: Buffer.concat(kept),
    stderr,
  };
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** Binary frames a raw client receives, decoded. */
function byteFrames(peer: Peer): ByteFrame[] {
  const frames: ByteFrame[] = [];
  peer.ws.on('message', (data, isBinary) => {
    if (!isBinary) return;
    const r = decodeByteFrame(binaryData(data as Buffer));
    if (r.ok) frames.push({ ...r.frame, data: Buffer.from(r.frame.data) });
  });
  return frames;
}

const bytesOf = (frames: ByteFrame[], fd: number): Buffer =>
  Buffer.concat(frames.filter((f) => f.fd === fd && f.kind === ByteKind.data).map((f) => f.data));

async function commandDone(peer: Peer, requestId: string, timeoutMs = 10_000): Promise<Frame> {
  return peer.inbox.next((f) => f.request_id === requestId && f.type === 'command_done', timeoutMs);
}

describe('raw bytes and iottly-agent exec', () => {
  // One hub and agent for the tests that need both (starting an agent costs most of a test);
  // each test uses its own clients and commands.
  const cleanups: (() => unknown)[] = [];
  const suite: Owner = { after: (fn) => void cleanups.push(fn) };
  let shared: { hub: TestHub; agent: AgentProcess };
  before(async () => {
    shared = await rig(suite);
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('round-trips 50 MiB of random bytes through `exec -- cat` byte for byte, stdin piped', async () => {
    const { hub } = shared;
    const input = randomBytes(50 * MiB);
    const result = await exec(hub, ['cat'], input);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdoutBytes, input.length);
    assert.equal(result.stdoutSha, sha256(input));
  });

  it('exits with the remote status: 0, 1, 3, 128 + signal; stderr to stderr', async () => {
    const { hub } = shared;
    const [ok, one, three, killed, streams] = await Promise.all([
      exec(hub, ['true']),
      exec(hub, ['false']),
      exec(hub, ['sh', '-c', 'exit 3']),
      exec(hub, ['sh', '-c', 'kill -TERM $$']),
      exec(hub, ['sh', '-c', 'printf out; printf err >&2']),
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(one.code, 1, one.stderr);
    assert.equal(three.code, 3, three.stderr);
    assert.equal(killed.code, 128 + 15, killed.stderr);
    assert.equal(streams.code, 0);
    assert.equal(streams.stdout.toString(), 'out');
    assert.equal(streams.stderr, 'err');
  });

  it('exits 255 naming the reason when the hub cannot run it', async (t) => {
    const hub = await startHub(t);
    const offline = await exec(hub, ['true']);
    assert.equal(offline.code, 255);
    assert.match(offline.stderr, /device_offline/);
  });

  it('gives a seed JSON client command_output/command_done for the same command, and a byte client frames', async () => {
    const { hub } = shared;
    const [json, bytes] = await Promise.all([connectClient(hub.wsUrl), connectClient(hub.wsUrl)]);
    const frames = byteFrames(bytes);
    const script =
      "printf 'h\\303\\251llo '; printf '\\377\\376' >&2; printf 'w\\303'; printf '\\251rld'";
    const expectedOut = Buffer.from('héllo wérld');
    json.send({
      type: 'command',
      request_id: 'j1',
      payload: { device_id: DEVICE_ID, argv: ['sh', '-c', script], stream_output: true },
    });
    bytes.send({
      type: 'command',
      request_id: 'b1',
      payload: { device_id: DEVICE_ID, argv: ['sh', '-c', script], stream_output: true, stream: 7 },
    });
    const [jsonDone, bytesDone] = await Promise.all([
      commandDone(json, 'j1'),
      commandDone(bytes, 'b1'),
    ]);
    assert.equal(jsonDone.payload.exit_code, 0);
    assert.equal(bytesDone.payload.exit_code, 0);
    const outputs = json.inbox.unread.filter((f) => f.type === 'command_output') as Parameters<
      typeof rebuild
    >[0];
    assert.ok(outputs.length > 0);
    assert.deepEqual(rebuild(outputs, 'stdout'), expectedOut);
    assert.deepEqual(rebuild(outputs, 'stderr'), Buffer.from([0xff, 0xfe]));
    assert.ok(frames.every((f) => f.stream === 7));
    assert.deepEqual(bytesOf(frames, ByteFd.stdout), expectedOut);
    assert.deepEqual(bytesOf(frames, ByteFd.stderr), Buffer.from([0xff, 0xfe]));
    assert.equal(bytes.inbox.unread.filter((f) => f.type === 'command_output').length, 0);
  });

  it('turns JSON output of a device without bytes into frames, and stdin frames into command_input', async (t) => {
    const hub = await startHub(t);
    const device = await connectDevice(hub.wsUrl); // a hello without "bytes"
    const client = await connectClient(hub.wsUrl);
    const frames = byteFrames(client);
    client.send({
      type: 'command',
      request_id: 'c1',
      payload: { device_id: DEVICE_ID, argv: ['cat'], stdin: true, stream: 3 },
    });
    const forwarded = await device.inbox.nextOfType('command');
    assert.equal(forwarded.payload.stream, undefined, 'no stream number to a JSON device');
    const id = String(forwarded.request_id);
    client.ws.send(
      encodeByteFrame({ kind: 1, stream: 3, fd: 0, seq: 0, data: Buffer.from([0, 1, 2, 255]) }),
    );
    client.ws.send(encodeByteFrame({ kind: 2, stream: 3, fd: 0, seq: 0, data: new Uint8Array(0) }));
    const input = await device.inbox.next((f) => f.type === 'command_input' && !f.payload.eof);
    assert.deepEqual(
      Buffer.from(String(input.payload.data), 'base64'),
      Buffer.from([0, 1, 2, 255]),
    );
    await device.inbox.next((f) => f.type === 'command_input' && f.payload.eof === true);
    const consumed = await client.inbox.nextOfType('input_consumed');
    assert.equal(consumed.payload.bytes, 4);
    device.send({
      type: 'command_output',
      request_id: id,
      channel: 'commands',
      ts: new Date().toISOString(),
      payload: {
        chunk: Buffer.from([0, 1, 2, 255]).toString('base64'),
        encoding: 'base64',
        fd: 'stdout',
      },
    });
    device.send({
      type: 'command_done',
      request_id: id,
      channel: 'commands',
      ts: new Date().toISOString(),
      payload: { exit_code: 0 },
    });
    await commandDone(client, 'c1');
    assert.deepEqual(bytesOf(frames, ByteFd.stdout), Buffer.from([0, 1, 2, 255]));
    assert.ok(frames.every((f) => f.stream === 3));
  });

  it('answers in JSON when the hub did not say bytes, though the command names a stream', async (t) => {
    const fake = await startFakeHub(t);
    spawnAgent(t, ['run'], {
      IOTTLY_SERVER_URL: fake.url,
      IOTTLY_DEVICE_ID: DEVICE_ID,
      IOTTLY_AUTH_TOKEN: DEVICE_TOKEN,
    });
    const link = await fake.nextConnection();
    const hello = await link.nextFrame((f) => f.type === 'hello');
    assert.ok((hello.payload as { capabilities: string[] }).capabilities.includes('bytes'));
    await link.nextFrame((f) => f.type === 'status' || f.type === 'hello', 2_000).catch(() => {});
    link.socket.send(
      JSON.stringify({
        type: 'command',
        request_id: 'r1',
        payload: { argv: ['printf', 'plain'], stream_output: true, stream: 9 },
      }),
    );
    const output = await link.nextFrame((f) => f.type === 'command_output');
    assert.equal((output.payload as { chunk: string }).chunk, 'plain');
    await link.nextFrame((f) => f.type === 'command_done');
  });

  it('holds the device back for a byte client that does not read: the hub queue stays bounded', async () => {
    const { hub } = shared;
    const client = await connectClient(hub.wsUrl);
    client.ws.pause();
    client.send({
      type: 'command',
      request_id: 'flood',
      payload: {
        device_id: DEVICE_ID,
        argv: ['head', '-c', String(200 * MiB), '/dev/zero'],
        stream_output: true,
        stream: 1,
      },
    });
    const stats = (h: Hub) => h.peerStats();
    await waitFor(() => stats(hub.hub).some((s) => s.kind === 'device' && s.readingPaused), 10_000);
    let maxQueued = 0;
    for (let i = 0; i < 50; i++) {
      for (const s of stats(hub.hub))
        if (s.kind === 'client') maxQueued = Math.max(maxQueued, s.queuedBytes);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.ok(maxQueued <= QUEUE_LIMIT, `client queue ${maxQueued} over ${QUEUE_LIMIT}`);
    assert.ok(stats(hub.hub).some((s) => s.kind === 'device' && s.readingPaused));
    client.ws.terminate();
  });
});
