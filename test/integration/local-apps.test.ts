import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CLI_PATH, spawnAgent, statusIs, type AgentProcess } from '../helpers/agent-process.js';
import { startReceiver, type HttpReceiver } from '../helpers/http-receiver.js';
import { processesWith, uniqueMarker } from '../helpers/commands-harness.js';
import type { Owner } from '../helpers/owner.js';
import { allowsCallAgent, SdkClient, type WireLine } from '../helpers/sdk-client.js';
import { tempDir } from '../helpers/temp-dir.js';
import {
  DEVICE_ID,
  DEVICE_TOKEN,
  connectClient,
  startHub,
  waitFor,
  type Peer,
  type TestHub,
} from '../helpers/ws.js';

/**
 * A device app speaking only the SDK wire protocol, the agent as a process, the real hub with
 * webhooks to a real HTTP receiver, and a stream client: the whole path in both directions.
 */
/** A world of the test's own: nothing a failed test changed (webhooks, apps, a restart) leaks. */
interface LocalWorld {
  dir: string;
  socketPath: string;
  hub: TestHub;
  agent: AgentProcess;
  sensors: HttpReceiver;
  other: HttpReceiver;
  stream: Peer;
  /** In the command line of every process of the `linger` action. */
  lingerMarker: string;
  runAgent(extra?: Record<string, string>): AgentProcess;
  /** A receiver behind a webhook of Type user. */
  userWebhook(description: string, channel?: string): Promise<HttpReceiver>;
  app(name: string): Promise<SdkClient>;
}

/**
 * The hub with webhooks for channels sensors and other to two receivers, the agent online on it
 * with its SDK socket listening, and a stream client; all stopped when `t` ends.
 */
async function localWorld(t: Owner): Promise<LocalWorld> {
  const dir = tempDir('iottly-local-', t);
  const socketPath = join(dir, 'sdk.sock');
  const lingerMarker = uniqueMarker();
  const sensors = await startReceiver(t);
  const other = await startReceiver(t);
  const hub = await startHub(t, {
    webhooks: [
      { description: 'sensors', url: `${sensors.url}/in`, type: 'user', channel: 'sensors' },
      { description: 'other', url: `${other.url}/in`, type: 'user', channel: 'other' },
    ],
  });
  const runAgent = (extra: Record<string, string> = {}): AgentProcess =>
    spawnAgent(t, ['run'], {
      IOTTLY_SERVER_URL: `${hub.wsUrl}/v1/device`,
      IOTTLY_DEVICE_ID: DEVICE_ID,
      IOTTLY_AUTH_TOKEN: DEVICE_TOKEN,
      IOTTLY_RECONNECT_INITIAL_DELAY_MS: '200',
      IOTTLY_RECONNECT_MAX_DELAY_MS: '400',
      IOTTLY_LOCAL_SOCKET_PATH: socketPath,
      IOTTLY_LOCAL_APP_QUEUE_LINES: '50',
      IOTTLY_LOCAL_SOCKET_GROUP: 'daemon',
      IOTTLY_LOCAL_ACTIONS: JSON.stringify({
        greet: 'printf "hello %s" "$IOTTLY_CALL_ARGS"',
        // Ignores SIGTERM, lets go of the output pipe and forks: only SIGKILL to the whole
        // group ends it. Actions get the commands' limits: 1 s, then 0.3 s of grace.
        linger: `trap '' TERM; exec >/dev/null 2>&1; sleep ${lingerMarker} & sleep ${lingerMarker}`,
      }),
      IOTTLY_COMMANDS_DEFAULT_TIMEOUT_S: '1',
      IOTTLY_COMMANDS_KILL_GRACE_MS: '300',
      IOTTLY_LOG_LEVEL: 'debug',
      IOTTLY_VITALS_INTERVAL_S: '1',
      ...extra,
    });
  const agent = runAgent();
  await agent.waitForLog(statusIs('online'));
  await agent.waitForLog((l) => l.msg === 'local SDK socket listening');
  return {
    dir,
    socketPath,
    hub,
    agent,
    sensors,
    other,
    stream: await connectClient(hub.wsUrl),
    lingerMarker,
    runAgent,
    async userWebhook(description, channel) {
      const receiver = await startReceiver(t);
      hub.hub.webhooks.add({
        description,
        url: receiver.url,
        type: 'user',
        ...(channel === undefined ? {} : { channel }),
      });
      return receiver;
    },
    app: (name) => SdkClient.connect(socketPath, name),
  };
}

describe('local apps through the agent', () => {
  it('answers the handshake with a strict version >= 1.8.0 and the current link state', async (t) => {
    const { socketPath, app } = await localWorld(t);
    const client = await app('probe');
    const { version, connection } = await client.handshake();
    assert.match(String(version), /^\d+\.\d+\.\d+$/);
    assert.ok(allowsCallAgent(version), `call_agent must be allowed with ${String(version)}`);
    assert.equal(connection, 'connected');
    const stat = statSync(socketPath);
    assert.equal(stat.mode & 0o777, 0o660);
    const daemon = /^daemon:[^:]*:(\d+):/m.exec(readFileSync('/etc/group', 'utf8'));
    assert.equal(stat.gid, Number(daemon?.[1]));
  });

  it('delivers data on channel sensors to the sensors webhook only, as Type user', async (t) => {
    const { sensors, other, app } = await localWorld(t);
    const client = await app('thermo');
    await client.handshake();
    client.sendData({ t: 21.5 }, 'sensors');
    client.sendData({ marker: true }, 'other');
    const [got] = await sensors.waitFor(1);
    const msg = (got?.body as { msg: Record<string, unknown> }).msg;
    assert.equal(msg.from, DEVICE_ID);
    assert.equal(msg.type, 'user');
    assert.equal(msg.channel, 'sensors');
    assert.deepEqual(msg.payload, { t: 21.5 });
    assert.equal(msg.app, 'thermo');
    assert.match(String(msg.timestamp), /Z$/);
    assert.match(String(msg.devicetimestamp), /Z$/);
    // Per-webhook order: the first thing the "other" webhook ever receives is the later marker.
    const [first] = await other.waitFor(1);
    assert.deepEqual((first?.body as { msg: { payload: unknown } }).msg.payload, { marker: true });
  });

  it('sends data without a channel as a user message with channel null', async (t) => {
    const { userWebhook, app } = await localWorld(t);
    const all = await userWebhook('all user');
    const client = await app('plain');
    await client.handshake();
    client.sendData({ n: 1 });
    const [got] = await all.waitFor(1);
    const msg = (got?.body as { msg: Record<string, unknown> }).msg;
    assert.equal(msg.channel, null);
    assert.deepEqual(msg.payload, { n: 1 });
  });

  it('routes an app_command from a stream client to the named app, and to all apps', async (t) => {
    const { stream, app } = await localWorld(t);
    const a = await app('plc-a');
    const b = await app('plc-b');
    await Promise.all([a.handshake(), b.handshake()]);
    stream.send({
      type: 'app_command',
      request_id: 'ac-1',
      payload: { device_id: DEVICE_ID, app: 'plc-a', command: { set_speed: { rpm: 900 } } },
    });
    const line = await a.next((l) => l.data !== undefined);
    assert.deepEqual(line, { data: { set_speed: { rpm: 900 } } });
    const done = await stream.inbox.next((f) => f.request_id === 'ac-1');
    assert.equal(done.type, 'app_command_done');
    assert.deepEqual(done.payload.delivered, ['plc-a']);
    assert.equal(b.lines.filter((l) => l.data !== undefined).length, 0);

    stream.send({
      type: 'app_command',
      request_id: 'ac-2',
      payload: { device_id: DEVICE_ID, command: { stop: {} } },
    });
    await a.next((l) => (l.data as Record<string, unknown> | undefined)?.stop !== undefined);
    await b.next((l) => (l.data as Record<string, unknown> | undefined)?.stop !== undefined);
    const all = await stream.inbox.next((f) => f.request_id === 'ac-2');
    assert.ok((all.payload.delivered as string[]).includes('plc-b'), 'plc-b reached');
  });

  it('answers app_not_connected for an app that is not there, and invalid_payload for a bad command', async (t) => {
    const { stream } = await localWorld(t);
    stream.send({
      type: 'app_command',
      request_id: 'ac-3',
      payload: { device_id: DEVICE_ID, app: 'nobody', command: { x: {} } },
    });
    const error = await stream.inbox.next((f) => f.request_id === 'ac-3');
    assert.equal(error.type, 'error');
    assert.equal(error.payload.code, 'app_not_connected');
    stream.send({
      type: 'app_command',
      request_id: 'ac-4',
      payload: { device_id: DEVICE_ID, command: { a: {}, b: {} } },
    });
    const bad = await stream.inbox.next((f) => f.request_id === 'ac-4');
    assert.equal(bad.payload.code, 'invalid_payload');
  });

  it('forwards error and call signals; runs a configured action; refuses an unknown one', async (t) => {
    const { agent, stream, app } = await localWorld(t);
    stream.send({
      type: 'subscribe',
      request_id: 'sub-apps',
      payload: { device_id: DEVICE_ID, streams: ['apps'] },
    });
    await stream.inbox.next((f) => f.request_id === 'sub-apps');
    const client = await app('caller');
    await client.handshake();
    client.sendError('ValueError', 'bad reading');
    const error = await stream.inbox.nextOfType('app_error', 5_000);
    assert.equal(error.payload.app, 'caller');
    assert.deepEqual(error.payload.error, { type: 'ValueError', msg: 'bad reading' });

    client.callAgent('greet', { who: 'ops' });
    const call = await stream.inbox.nextOfType('app_call', 5_000);
    assert.deepEqual(call.payload.args, { who: 'ops' });
    const done = await stream.inbox.next(
      (f) => f.type === 'app_call_done' && f.payload.name === 'greet',
      5_000,
    );
    assert.equal(done.payload.exit_code, 0);
    assert.equal(done.payload.stdout, 'hello {"who":"ops"}');

    client.callAgent('format_disk', {});
    const refused = await stream.inbox.next(
      (f) => f.type === 'app_call_done' && f.payload.name === 'format_disk',
      5_000,
    );
    assert.equal((refused.payload.error as { code: string }).code, 'unknown_action');
    // `apps` is served by the hub, never asked of the agent's telemetry.
    assert.ok(
      !agent.logs.some((l) => l.code === 'stream_unavailable' && l.stream === 'apps'),
      'the agent was asked for a telemetry stream "apps"',
    );
  });

  it('ends the whole process group of an action that outlives the time limit', async (t) => {
    const { agent, app, lingerMarker } = await localWorld(t);
    const client = await app('lingerer');
    await client.handshake();
    client.callAgent('linger', {});
    // The shell (its command line holds the marker too) and its two sleeps.
    await waitFor(() => processesWith(lingerMarker).length === 3, 5_000);
    const finished = await agent.waitForLog(
      (l) => l.msg === 'action finished' && l.call === 'linger',
    );
    assert.equal(finished.timedOut, true);
    assert.deepEqual(processesWith(lingerMarker), [], 'a process of the action is still running');
  });

  it('skips a malformed line and keeps the app; closes it for a line over 1 MiB', async (t) => {
    const { agent, sensors, app } = await localWorld(t);
    const client = await app('sloppy');
    await client.handshake();
    client.raw('{not json\n');
    client.raw('{"data": {"payload": 3}}\n');
    await agent.waitForLog((l) => l.code === 'malformed_line');
    client.sendData({ still: 'here' }, 'sensors');
    const got = await sensors.waitFor(sensors.requests.length + 1);
    assert.deepEqual((got.at(-1)?.body as { msg: { payload: unknown } }).msg.payload, {
      still: 'here',
    });

    // Under the line limit but too big for one frame to the hub: dropped, the link stays up.
    client.sendData({ blob: 'x'.repeat((1 << 20) - 2_000) }, 'sensors');
    await agent.waitForLog((l) => l.code === 'app_message_too_large');
    client.sendData({ after: 'big' }, 'sensors');
    const later = await sensors.waitFor(got.length + 1);
    assert.deepEqual((later.at(-1)?.body as { msg: { payload: unknown } }).msg.payload, {
      after: 'big',
    });
    assert.equal(agent.logs.filter(statusIs('backoff')).length, 0, 'the hub link never dropped');

    const big = await app('big');
    await big.handshake();
    big.raw(Buffer.alloc((1 << 20) + 10, 0x61));
    await big.closed;
    await agent.waitForLog((l) => l.code === 'line_too_long');
  });

  it('skips data and call args nested 5000 deep and keeps running (issue 13)', async (t) => {
    const { agent, sensors, stream, app } = await localWorld(t);
    const client = await app('deep');
    await client.handshake();
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const skipped = (): number => agent.logs.filter((l) => l.code === 'malformed_line').length;
    const before = skipped();
    client.raw(
      `{"data":{"sdkclient":{"name":"deep"},"payload":{"x":${deep}},"channel":"sensors"}}\n`,
    );
    client.raw(`{"signal":{"sdkclient":{"name":"deep","call":{"greet":{"x":${deep}}}}}}\n`);
    await waitFor(() => skipped() >= before + 2, 5_000);
    const reasons = agent.logs.filter((l) => l.code === 'malformed_line').slice(-2);
    for (const line of reasons) assert.match(String(line.reason), /nested deeper than 64 levels/);

    // The app is still connected, and the agent still runs commands from the hub.
    client.sendData({ after: 'deep' }, 'sensors');
    const got = await sensors.waitFor(sensors.requests.length + 1);
    assert.deepEqual((got.at(-1)?.body as { msg: { payload: unknown } }).msg.payload, {
      after: 'deep',
    });
    stream.send({
      type: 'command',
      request_id: 'after-deep',
      payload: { device_id: DEVICE_ID, argv: ['true'] },
    });
    const done = await stream.inbox.next((f) => f.request_id === 'after-deep', 5_000);
    assert.equal(done.type, 'command_done');
    assert.equal(agent.child.exitCode, null);
  });

  it('serves 64 apps at once', async (t) => {
    const { userWebhook, app } = await localWorld(t);
    const receiver = await userWebhook('fleet', 'fleet');
    const clients = await Promise.all(
      Array.from({ length: 64 }, (_, i) => app(`app-${String(i).padStart(2, '0')}`)),
    );
    await Promise.all(clients.map((c) => c.handshake()));
    for (const c of clients) c.sendData({ from: c.name }, 'fleet');
    const got = await receiver.waitFor(64, 10_000);
    const names = new Set(got.map((r) => (r.body as { msg: { app: string } }).msg.app));
    assert.equal(names.size, 64);
  });

  it('keeps serving other apps while one app does not read (bounded queue, drops counted)', async (t) => {
    const { agent, stream, app } = await localWorld(t);
    const stuck = await app('stuck');
    await stuck.handshake();
    stuck.socket.pause(); // reads nothing until the flood is over
    const lively = await app('lively');
    await lively.handshake();
    const index = (l: WireLine): number | undefined =>
      (l.data as { blob?: { i: number } } | undefined)?.blob?.i;
    const received = (client: SdkClient): number[] =>
      client.lines.map(index).filter((i) => i !== undefined);
    const blob = 'x'.repeat(8 * 1024);
    const count = 200;
    // Bursts smaller than the 50 lines this suite queues per app, each sent once the app that
    // reads has the last: that app can never be over its own bound, so it must get every one.
    const burst = 20;
    for (let first = 0; first < count; first += burst) {
      for (let i = first; i < first + burst; i++) {
        stream.send({
          type: 'app_command',
          request_id: `flood-${i}`,
          payload: { device_id: DEVICE_ID, command: { blob: { i, blob } } },
        });
      }
      await waitFor(() => received(lively).includes(first + burst - 1), 10_000);
    }
    assert.deepEqual(
      received(lively),
      Array.from({ length: count }, (_, i) => i),
      'the app that reads gets every command, in order',
    );
    await agent.waitForLog((l) => l.code === 'app_queue_full' && l.app === 'stuck');

    // The stuck app, once it reads, gets what was not dropped, oldest first and ending with the
    // newest; the agent counts every other command as dropped for it.
    stuck.socket.resume();
    await waitFor(() => received(stuck).includes(count - 1), 10_000);
    const kept = received(stuck);
    assert.deepEqual(
      kept,
      [...new Set(kept)].sort((a, b) => a - b),
      'in order, each once',
    );
    stuck.socket.destroy();
    const gone = await agent.waitForLog(
      (l) => l.msg === 'local app disconnected' && l.app === 'stuck',
    );
    assert.ok(Number(gone.dropped) > 0, 'drops counted');
    assert.equal(Number(gone.dropped) + kept.length, count, `kept ${kept.join(',')}`);
  });

  it('holds at most local.appQueueBytes for an app that never reads; it gets the newest commands', async (t) => {
    const { agent, stream, app } = await localWorld(t);
    const bound = 4 * 1024 * 1024; // the default
    const hoarder = await app('hoarder');
    await hoarder.handshake();
    hoarder.socket.pause(); // reads nothing until the flood is over
    const blob = 'x'.repeat(900 * 1024);
    const count = 24; // 21 MB of commands
    for (let i = 0; i < count; i++) {
      stream.send({
        type: 'app_command',
        request_id: `big-${i}`,
        payload: { device_id: DEVICE_ID, app: 'hoarder', command: { big: { i, blob } } },
      });
      await stream.inbox.next((f) => f.request_id === `big-${i}`, 10_000);
    }
    const full = agent.logs.filter((l) => l.code === 'app_queue_full' && l.app === 'hoarder');
    assert.ok(full.length > 0, 'app_queue_full logged');
    for (const line of full) assert.ok(Number(line.queuedBytes) <= bound, JSON.stringify(line));
    // Nothing moves while the app does not read: the next vitals line shows what is held.
    const seen = agent.logs.length;
    await waitFor(() => agent.logs.slice(seen).some((l) => l.code === 'vitals'), 5_000);
    const vitals = agent.logs.slice(seen).find((l) => l.code === 'vitals');
    const held = (vitals?.localApps as { queuedBytes: number } | undefined)?.queuedBytes;
    assert.ok(typeof held === 'number' && held > 0 && held <= bound, JSON.stringify(vitals));

    hoarder.socket.resume();
    await hoarder.next(
      (l) => (l.data as { big?: { i: number } } | undefined)?.big?.i === count - 1,
    );
    const got = hoarder.lines
      .map((l) => (l.data as { big?: { i: number } } | undefined)?.big?.i)
      .filter((i) => i !== undefined);
    assert.ok(got.length < count - 1, `the oldest were dropped, got ${got.join(',')}`);
    assert.deepEqual(
      got,
      [...got].sort((a, b) => a - b),
      'in order',
    );
  });

  it('tells apps when the cloud link drops and comes back', async (t) => {
    const { hub, app } = await localWorld(t);
    const client = await app('watcher');
    await client.handshake();
    const port = Number(new URL(hub.url).port);
    await hub.stop(); // the subject: the cloud link drops
    await client.next((l) => l.signal?.connectionstatus === 'disconnected');
    await startHub(t, { port });
    await client.next((l) => l.signal?.connectionstatus === 'connected', 10_000);
  });

  it('publish sends through the agent; without the agent it exits 69 with a clear message', async (t) => {
    const { dir, socketPath, userWebhook } = await localWorld(t);
    const all = await userWebhook('cli', 'cli');
    const one = await runCli(t, [
      'publish',
      '--channel',
      'cli',
      '--local-socket-path',
      socketPath,
      '{"t": 1}',
    ]);
    assert.equal(one.code, 0, one.stderr);
    const [first] = await all.waitFor(1);
    const msg = (first?.body as { msg: Record<string, unknown> }).msg;
    assert.deepEqual(msg.payload, { t: 1 });
    assert.equal(msg.app, 'iottly-agent-publish');

    // Deeper than the agent takes once wrapped in a data line (64 levels): refused here, with
    // a reason, instead of sent and dropped by the agent (or a stack overflow for 5000).
    const tooDeep = `{"x":${'['.repeat(70)}${']'.repeat(70)}}`;
    const lines = await runCli(
      t,
      ['publish', '--channel', 'cli', '--app', 'batch', '--local-socket-path', socketPath],
      `{"t": 2}\nnot json\n${tooDeep}\n{"t": 3}\n`,
    );
    assert.equal(lines.code, 65);
    assert.match(lines.stderr, /stdin line 2: not valid JSON/);
    assert.match(lines.stderr, /stdin line 3: nested deeper than 62 levels; skipped/);
    const deepArg = await runCli(t, [
      'publish',
      '--local-socket-path',
      socketPath,
      `{"x":${'['.repeat(5000)}${']'.repeat(5000)}}`,
    ]);
    assert.equal(deepArg.code, 65);
    assert.match(deepArg.stderr, /^iottly-agent publish: nested deeper than 62 levels\n$/);
    const got = await all.waitFor(3);
    assert.deepEqual(
      got.slice(1).map((r) => (r.body as { msg: { payload: unknown } }).msg.payload),
      [{ t: 2 }, { t: 3 }],
    );

    const missing = await runCli(t, [
      'publish',
      '--local-socket-path',
      join(dir, 'absent.sock'),
      '{"t": 4}',
    ]);
    assert.equal(missing.code, 69);
    assert.match(missing.stderr, /agent is not running.*ENOENT/);
  });

  it('says agentstatus stopping on shutdown, and an app reconnects to the restarted agent', async (t) => {
    const { socketPath, agent, runAgent, app } = await localWorld(t);
    const client = await app('survivor');
    await client.handshake();
    await agent.kill('SIGTERM'); // the subject: the agent shuts down
    await client.next(
      (l) => (l.signal as { agentstatus?: string } | undefined)?.agentstatus === 'stopping',
    );
    await client.closed;
    runAgent();
    const again = await SdkClient.connect(socketPath, 'survivor', 10_000);
    const { version } = await again.handshake();
    assert.ok(allowsCallAgent(version), 'call_agent allowed after the restart');
  });
});

/** Runs the CLI to its end; killed when `owner` (the test) ends, if it has not ended by then. */
function runCli(
  owner: Owner,
  args: string[],
  stdin = '',
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], {
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    owner.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    child.stdin.end(stdin);
    child.once('exit', (code) => resolve({ code, stderr }));
  });
}
