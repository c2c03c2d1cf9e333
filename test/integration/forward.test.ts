import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { connect as netConnect, createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { CLI_PATH, spawnAgent, statusIs, type AgentProcess } from '../helpers/agent-process.js';
import type { Owner } from '../helpers/owner.js';
import {
  API_KEY,
  DEVICE_ID,
  DEVICE_TOKEN,
  OTHER_DEVICE_ID,
  OTHER_DEVICE_TOKEN,
  connectClient,
  startHub,
  waitFor,
  type Frame,
  type TestHub,
} from '../helpers/ws.js';

/**
 * Port forwarding end to end (issue 16): `iottly-agent forward` and bare stream clients through
 * the reference hub to agents spawned as processes, to TCP servers on this machine playing the
 * device's side. dev-1 forwards to loopback (the default allow list); dev-2 allows only
 * `localhost` by name and 127.0.0.2, with a one-second idle timeout; dev-3 leaves forwarding off.
 */
const MiB = 1024 * 1024;
const THIRD_DEVICE_ID = 'dev-3';
const THIRD_DEVICE_TOKEN = 'token-dev-3';

interface Rig {
  hub: TestHub;
  agent: AgentProcess;
  narrow: AgentProcess;
}

function runAgent(
  owner: Owner,
  wsUrl: string,
  id: string,
  token: string,
  env: Record<string, string>,
) {
  return spawnAgent(owner, ['run'], {
    IOTTLY_SERVER_URL: `${wsUrl}/v1/device`,
    IOTTLY_DEVICE_ID: id,
    IOTTLY_AUTH_TOKEN: token,
    IOTTLY_LOG_LEVEL: 'info',
    IOTTLY_TELEMETRY_STREAMS: '[]',
    ...env,
  });
}

/** A TCP server on this machine (the device's side), closed when the file ends. */
async function listen(owner: Owner, server: Server, host = '127.0.0.1'): Promise<number> {
  server.listen(0, host);
  await once(server, 'listening');
  owner.after(() => {
    server.close();
    (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
  });
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return address.port;
}

interface ForwardCli {
  child: ChildProcess;
  port: number;
  stderr(): string;
}

/** `iottly-agent forward DEVICE 0:HOST:PORT` as an operator runs it; stopped with SIGTERM. */
async function forwardCli(
  owner: Owner,
  hubUrl: string,
  device: string,
  target: string,
): Promise<ForwardCli> {
  const child = spawn(process.execPath, [CLI_PATH, 'forward', device, `0:${target}`], {
    env: { PATH: process.env.PATH ?? '', IOTTLY_HUB_URL: hubUrl, IOTTLY_API_KEY: API_KEY },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  owner.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  let err = '';
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const match = /^listening on 127\.0\.0\.1:(\d+), forwarding to /m.exec(out);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`forward exited ${code}: ${err}`)));
  });
  return { child, port, stderr: () => err };
}

/** Connects to the local port, sends `data`, half-closes, and resolves with all it got back. */
async function roundTrip(port: number, data: Buffer): Promise<Buffer> {
  const socket = netConnect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(socket, 'connect');
  socket.end(data);
  await once(socket, 'end');
  socket.destroy();
  return Buffer.concat(chunks);
}

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  assert.ok(match);
  return Number(match[1]) * 1024;
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

describe('port forwarding (iottly-agent forward)', () => {
  const stops: (() => void | Promise<void>)[] = [];
  const suite: Owner = { after: (fn) => void stops.push(fn) };
  after(async () => {
    for (const stop of stops.reverse()) await stop();
  });
  let rig: Rig;
  /** Echoes what it gets, and ends its side when the client ends its own. */
  let echoPort = 0;
  /** Reads until the client half-closes, then answers the sha256 of it all and closes. */
  let digestPort = 0;
  let httpPort = 0;

  before(async () => {
    const hub = await startHub(suite, {
      deviceTokens: new Map([
        [DEVICE_ID, DEVICE_TOKEN],
        [OTHER_DEVICE_ID, OTHER_DEVICE_TOKEN],
        [THIRD_DEVICE_ID, THIRD_DEVICE_TOKEN],
      ]),
    });
    const agent = runAgent(suite, hub.wsUrl, DEVICE_ID, DEVICE_TOKEN, {
      IOTTLY_FORWARD_ENABLED: 'true',
    });
    const narrow = runAgent(suite, hub.wsUrl, OTHER_DEVICE_ID, OTHER_DEVICE_TOKEN, {
      IOTTLY_FORWARD_ENABLED: 'true',
      IOTTLY_FORWARD_ALLOW: 'localhost:*,127.0.0.2:*',
      IOTTLY_FORWARD_IDLE_TIMEOUT_S: '1',
    });
    const off = runAgent(suite, hub.wsUrl, THIRD_DEVICE_ID, THIRD_DEVICE_TOKEN, {});
    echoPort = await listen(
      suite,
      createServer({ allowHalfOpen: true }, (s) => s.pipe(s)),
    );
    digestPort = await listen(
      suite,
      createServer({ allowHalfOpen: true }, (s) => {
        const hash = createHash('sha256');
        s.on('data', (chunk: Buffer) => hash.update(chunk));
        s.on('end', () => s.end(`${hash.digest('hex')}\n`));
      }),
    );
    httpPort = await listen(
      suite,
      createHttpServer((req, res) =>
        res.end(`hello from the device: ${req.url}\n`),
      ) as unknown as Server,
    );
    await Promise.all([agent, narrow, off].map((a) => a.waitForLog(statusIs('online'))));
    rig = { hub, agent, narrow };
  });

  it('carries curl to an HTTP server on the device side, and logs the tunnel with who asked', async (t) => {
    const cli = await forwardCli(t, rig.hub.url, DEVICE_ID, `localhost:${httpPort}`);
    const curl = spawn('curl', ['-sS', '--max-time', '10', `http://127.0.0.1:${cli.port}/status`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let body = '';
    curl.stdout?.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    const [code] = await once(curl, 'exit');
    assert.equal(code, 0);
    assert.equal(body, 'hello from the device: /status\n');
    const opened = await rig.agent.waitForLog((l) => l.msg === 'forward tunnel opened');
    assert.match(String(opened.requested_by), /^client .* from 127\.0\.0\.1$/);
    assert.equal(opened.target, `localhost:${httpPort}`);
    const closed = await rig.agent.waitForLog(
      (l) => l.msg === 'forward tunnel closed' && l.request_id === opened.request_id,
    );
    assert.equal(closed.requested_by, opened.requested_by);
    assert.equal(closed.reason, 'completed');
    assert.ok(Number(closed.bytes_in) > 0 && Number(closed.bytes_out) > Number(closed.bytes_in));
    await waitFor(() => /connection 1 from 127\.0\.0\.1:\d+ closed/.test(cli.stderr()), 5_000);
    assert.match(cli.stderr(), /connection 1 from 127\.0\.0\.1:\d+ opened/);
  });

  it('half-closes: the client ends its side, the target still answers, 3 MiB through the input window', async (t) => {
    const cli = await forwardCli(t, rig.hub.url, DEVICE_ID, `127.0.0.1:${digestPort}`);
    const data = randomBytes(3 * MiB);
    const answer = await roundTrip(cli.port, data);
    assert.equal(answer.toString('utf8'), `${sha256(data)}\n`);
  });

  it('brings every byte in order to a local client that reads slowly', async (t) => {
    const data = randomBytes(16 * MiB);
    const sourcePort = await listen(
      t,
      createServer((s) => {
        s.on('error', () => undefined);
        s.end(data);
      }),
    );
    const cli = await forwardCli(t, rig.hub.url, DEVICE_ID, `127.0.0.1:${sourcePort}`);
    const socket = netConnect({ port: cli.port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    let sinceBreak = 0;
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      sinceBreak += chunk.length;
      // A reader slower than the link: the forward's local socket fills and waits for 'drain'.
      if (sinceBreak < MiB) return;
      sinceBreak = 0;
      socket.pause();
      setTimeout(() => socket.resume(), 20);
    });
    await once(socket, 'end');
    socket.destroy();
    const got = Buffer.concat(chunks);
    assert.equal(got.length, data.length);
    assert.equal(sha256(got), sha256(data));
  });

  it('multiplexes 50 parallel connections on one forward, each with its own bytes', async (t) => {
    const cli = await forwardCli(t, rig.hub.url, DEVICE_ID, `127.0.0.1:${echoPort}`);
    const sent = Array.from({ length: 50 }, (_, i) => randomBytes(64 * 1024 + i * 4096));
    const got = await Promise.all(sent.map((data) => roundTrip(cli.port, data)));
    for (const [i, data] of sent.entries())
      assert.equal(sha256(got[i] as Buffer), sha256(data), `connection ${i}`);
  });

  it('a local client that does not read holds back its target without growing memory, and the others go on', async (t) => {
    const offered = 128 * MiB;
    let written = 0;
    const floodPort = await listen(
      suite,
      createServer((s) => {
        const chunk = randomBytes(256 * 1024);
        const pump = (): void => {
          while (written < offered && !s.destroyed) {
            if (!s.write(chunk, () => undefined)) return void s.once('drain', pump);
            written += chunk.length;
          }
        };
        s.on('error', () => undefined);
        pump();
      }),
    );
    const cli = await forwardCli(t, rig.hub.url, DEVICE_ID, `127.0.0.1:${floodPort}`);
    const agentPid = rig.agent.child.pid as number;
    const cliPid = cli.child.pid as number;
    const agentBefore = rssBytes(agentPid);
    const cliBefore = rssBytes(cliPid);
    const idle = netConnect({ port: cli.port, host: '127.0.0.1' });
    idle.pause(); // never reads
    t.after(() => idle.destroy());
    // Wait until the flood has stopped moving for half a second: every buffer on the way is full.
    let last = -1;
    let changedAt = performance.now();
    await waitFor(() => {
      if (written !== last) [last, changedAt] = [written, performance.now()];
      return written > 0 && performance.now() - changedAt >= 500;
    }, 20_000);
    const inFlight = written;
    assert.ok(inFlight < 48 * MiB, `${inFlight} bytes left the target of ${offered} offered`);
    const agentGrowth = rssBytes(agentPid) - agentBefore;
    const cliGrowth = rssBytes(cliPid) - cliBefore;
    t.diagnostic(
      `in flight ${(inFlight / MiB).toFixed(1)} MiB of ${offered / MiB}; agent RSS +${(agentGrowth / MiB).toFixed(1)} MiB, forward RSS +${(cliGrowth / MiB).toFixed(1)} MiB`,
    );
    assert.ok(agentGrowth < 32 * MiB, `the agent grew by ${agentGrowth} bytes`);
    assert.ok(cliGrowth < 32 * MiB, `forward grew by ${cliGrowth} bytes`);
    // The stalled connection stalls only itself: another one through the same link goes on.
    const other = await forwardCli(t, rig.hub.url, DEVICE_ID, `127.0.0.1:${echoPort}`);
    const data = randomBytes(2 * MiB);
    assert.equal(sha256(await roundTrip(other.port, data)), sha256(data));
    assert.ok(written < 48 * MiB, `the stalled target stayed held back (${written} bytes)`);
  });

  it('refuses a target outside forward.allow: the connection closes, forward says why', async (t) => {
    const cli = await forwardCli(t, rig.hub.url, DEVICE_ID, '192.0.2.1:80');
    const socket = netConnect({ port: cli.port, host: '127.0.0.1' });
    socket.on('error', () => undefined);
    await once(socket, 'close');
    await waitFor(
      () => /forward_denied: 192\.0\.2\.1:80 is not in forward\.allow/.test(cli.stderr()),
      5_000,
    );
    await rig.agent.waitForLog((l) => l.code === 'forward_denied' && l.target === '192.0.2.1:80');
  });

  it('refuses a name in forward.allow that resolves to an address that is not', async (t) => {
    const done = await openSession(t, OTHER_DEVICE_ID, 'localhost', echoPort);
    assert.equal(done.payload.exit_code, null);
    const error = done.payload.error as { code: string; message: string };
    assert.equal(error.code, 'forward_denied');
    assert.match(
      error.message,
      /resolves to (127\.0\.0\.1|\[::1\]):\d+, which is not in forward\.allow/,
    );
  });

  it('refuses every forward while forward.enabled is false', async (t) => {
    const done = await openSession(t, THIRD_DEVICE_ID, '127.0.0.1', echoPort);
    assert.equal((done.payload.error as { code: string }).code, 'forward_denied');
  });

  it('ends a tunnel idle for forward.idleTimeoutS', async (t) => {
    const quietPort = await listen(
      suite,
      createServer(() => undefined),
      '127.0.0.2',
    );
    const done = await openSession(t, OTHER_DEVICE_ID, '127.0.0.2', quietPort, 6_000);
    assert.equal(done.payload.idle, true);
    assert.equal(done.payload.exit_code, null);
    assert.ok(Number(done.payload.duration_ms) >= 1000);
    const closed = await rig.narrow.waitForLog((l) => l.msg === 'forward tunnel closed');
    assert.equal(closed.reason, 'idle');
  });

  it('serves a client without binary frames in JSON, and session_close ends the tunnel', async (t) => {
    const client = await connectClient(rig.hub.wsUrl);
    t.after(() => client.ws.terminate());
    client.send({
      type: 'session_open',
      request_id: 'j-1',
      payload: { device_id: DEVICE_ID, kind: 'forward', host: '127.0.0.1', port: echoPort },
    });
    const opened = await client.inbox.next((f) => f.type === 'session_opened');
    assert.deepEqual(opened.payload, { address: '127.0.0.1', port: echoPort });
    const data = randomBytes(1000);
    client.send({
      type: 'session_input',
      request_id: 'j-1',
      payload: { data: data.toString('base64') },
    });
    const echoed: Buffer[] = [];
    while (Buffer.concat(echoed).length < data.length) {
      const output = await client.inbox.next((f) => f.type === 'session_output');
      echoed.push(Buffer.from(String(output.payload.data), 'base64'));
    }
    assert.deepEqual(Buffer.concat(echoed), data);
    const consumed = await client.inbox.next((f) => f.type === 'input_consumed');
    assert.equal(consumed.payload.bytes, data.length);
    client.send({ type: 'session_close', request_id: 'j-1', payload: {} });
    const done = await client.inbox.next((f) => f.type === 'session_done');
    assert.equal(done.payload.closed, true);
    assert.equal(done.payload.exit_code, null);
    assert.equal(done.payload.bytes_in, 1000);
    assert.equal(done.payload.bytes_out, 1000);
  });

  it('redials a dropped hub: the connections it carried close, one made meanwhile waits and is served, new ones work', async (t) => {
    const first = await startHub(t);
    const hubPort = Number(new URL(first.url).port);
    const agent = runAgent(t, first.wsUrl, DEVICE_ID, DEVICE_TOKEN, {
      IOTTLY_FORWARD_ENABLED: 'true',
      IOTTLY_RECONNECT_INITIAL_DELAY_MS: '100',
      IOTTLY_RECONNECT_MAX_DELAY_MS: '400',
    });
    await agent.waitForLog(statusIs('online'));
    const cli = await forwardCli(t, first.url, DEVICE_ID, `127.0.0.1:${echoPort}`);
    const held = netConnect({ port: cli.port, host: '127.0.0.1' });
    held.on('error', () => undefined);
    held.write('ping');
    await once(held, 'data');
    const heldClosed = once(held, 'close');
    await first.stop();
    await heldClosed;
    await waitFor(() => /reconnecting in/.test(cli.stderr()), 5_000);
    // Accepted while the hub is away: it waits, paused, for the next link.
    const early = randomBytes(16 * 1024);
    const earlyTrip = roundTrip(cli.port, early);
    const second = await startHub(t, { port: hubPort });
    await agent.waitForLog(
      (l) => statusIs('online')(l) && l !== agent.logs.find(statusIs('online')),
    );
    await waitFor(() => /reconnected to the hub/.test(cli.stderr()), 10_000);
    assert.equal(sha256(await earlyTrip), sha256(early));
    const data = randomBytes(64 * 1024);
    assert.equal(sha256(await roundTrip(cli.port, data)), sha256(data));
    await second.stop();
  });

  /** A bare stream client's forward session that sends nothing: its `session_done`. */
  async function openSession(
    t: Owner,
    device: string,
    host: string,
    port: number,
    timeoutMs = 5_000,
  ): Promise<Frame> {
    const client = await connectClient(rig.hub.wsUrl);
    t.after(() => client.ws.terminate());
    client.send({
      type: 'session_open',
      request_id: 'f-1',
      payload: { device_id: device, kind: 'forward', host, port, stream: 1 },
    });
    return client.inbox.next((f) => f.type === 'session_done' && f.request_id === 'f-1', timeoutMs);
  }
});
