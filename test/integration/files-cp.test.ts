import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ByteFd, ByteKind, encodeByteFrame } from '../../src/protocol/byte-frame.js';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import { CLI_PATH, spawnAgent, statusIs, type AgentProcess } from '../helpers/agent-process.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import type { Owner } from '../helpers/owner.js';
import { tempDir } from '../helpers/temp-dir.js';
import {
  API_KEY,
  DEVICE_ID,
  DEVICE_TOKEN,
  OTHER_DEVICE_ID,
  OTHER_DEVICE_TOKEN,
  connectClient,
  startHub,
  type Peer,
  type TestHub,
} from '../helpers/ws.js';

/**
 * `iottly-agent cp` both ways against the reference hub and the agent spawned as a process, with
 * real files: 100 MiB with equal sha256, a hub connection cut mid-transfer that resumes from
 * where it stopped, and the refusals of the path policy, the size limit, files.enabled, a wrong
 * sha256 and bad payloads, seen by a raw /v1/stream client.
 */
const MIB = 1024 * 1024;
/** files.maxBytes of the test device: the 100 MiB file fits, 200 MiB does not. */
const MAX_BYTES = 150 * MIB;

function suiteOwner(): Owner & { stop(): Promise<void> } {
  const stops: (() => void | Promise<void>)[] = [];
  return {
    after: (fn) => void stops.push(fn),
    stop: async () => {
      for (const stop of stops.reverse()) await stop();
    },
  };
}

/** A file of `bytes` random bytes, written in pieces (never all in memory); its sha256. */
async function randomFile(path: string, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(path, 'w');
  for (let at = 0; at < bytes; at += 4 * MIB) {
    const piece = randomBytes(Math.min(4 * MIB, bytes - at));
    hash.update(piece);
    await handle.write(piece);
  }
  await handle.close();
  return hash.digest('hex');
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

interface CpRun {
  code: number | null;
  stderr: string;
}

/** `iottly-agent cp ARGS` as a process; `onStart` may act while it runs. */
async function cp(hubUrl: string, args: string[], onStart?: () => Promise<void>): Promise<CpRun> {
  const child = spawn(process.execPath, [CLI_PATH, 'cp', ...args], {
    env: { PATH: process.env.PATH ?? '', IOTTLY_HUB_URL: hubUrl, IOTTLY_API_KEY: API_KEY },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = once(child, 'exit');
  try {
    await onStart?.();
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  const [code] = (await exited) as [number | null];
  return { code, stderr };
}

/** Resolves once `path` exists with at least `bytes`; checks every few milliseconds. */
async function grown(path: string, bytes: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((statSync(path, { throwIfNoEntry: false })?.size ?? 0) < bytes) {
    if (Date.now() > deadline) throw new Error(`${path} did not reach ${bytes} bytes`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function devicePart(dir: string, name: string, sha256: string): string {
  return join(dir, `.${name}.${sha256.slice(0, 16)}.iottly-part`);
}

describe('iottly-agent cp and file sessions', () => {
  const suite = suiteOwner();
  let hub: TestHub;
  let agent: AgentProcess;
  let work: string;
  /** The device's files.allowPaths root. */
  let root: string;
  let outside: string;

  before(async () => {
    work = tempDir('iottly-files-', suite);
    root = join(work, 'root');
    outside = join(work, 'outside');
    mkdirSync(root);
    mkdirSync(outside);
    hub = await startHub(suite);
    const common = {
      IOTTLY_SERVER_URL: `${hub.wsUrl}/v1/device`,
      IOTTLY_TELEMETRY_STREAMS: '[]',
      IOTTLY_LOG_LEVEL: 'debug',
    };
    agent = spawnAgent(suite, ['run'], {
      ...common,
      IOTTLY_DEVICE_ID: DEVICE_ID,
      IOTTLY_AUTH_TOKEN: DEVICE_TOKEN,
      IOTTLY_FILES_ENABLED: 'true',
      IOTTLY_FILES_ALLOW_PATHS: root,
      IOTTLY_FILES_MAX_BYTES: String(MAX_BYTES),
    });
    // The second device keeps the default: files.enabled false.
    const other = spawnAgent(suite, ['run'], {
      ...common,
      IOTTLY_DEVICE_ID: OTHER_DEVICE_ID,
      IOTTLY_AUTH_TOKEN: OTHER_DEVICE_TOKEN,
    });
    await Promise.all([agent.waitForLog(statusIs('online')), other.waitForLog(statusIs('online'))]);
  });
  after(() => suite.stop());

  it('copies 100 MiB up and back down with equal sha256', async () => {
    const local = join(work, 'big.bin');
    const sha256 = await randomFile(local, 100 * MIB);
    const up = await cp(hub.url, ['--mode', '640', local, `${DEVICE_ID}:${root}/`]);
    assert.equal(up.code, 0, up.stderr);
    assert.equal(await sha256Of(join(root, 'big.bin')), sha256);
    assert.equal(statSync(join(root, 'big.bin')).mode & 0o777, 0o640);
    assert.match(up.stderr, new RegExp(`104857600 bytes, sha256 ${sha256}`));

    const back = join(work, 'back.bin');
    const down = await cp(hub.url, [`${DEVICE_ID}:${root}/big.bin`, back]);
    assert.equal(down.code, 0, down.stderr);
    assert.equal(await sha256Of(back), sha256);
    // Nothing left beside either target.
    assert.deepEqual(
      readdirSync(root).filter((name) => name.endsWith('.iottly-part')),
      [],
    );
    assert.equal(existsSync(join(work, '.back.bin.iottly-part')), false);
  });

  /** A cp through a proxy whose connections are reset once `partPath` has `cutAt` bytes. */
  async function cutOnce(args: string[], partPath: string, cutAt: number): Promise<CpRun> {
    const port = Number(new URL(hub.url).port);
    const proxy = await FaultProxy.start(suite, port);
    // Slow enough to be cut in the middle, fast enough for a test.
    proxy.throttle(8 * MIB);
    return cp(`http://127.0.0.1:${proxy.port}`, args, async () => {
      await grown(partPath, cutAt);
      proxy.setMode('reset');
      proxy.throttle(null);
      proxy.setMode('pass');
    });
  }

  it('resumes an upload cut in the middle from the bytes the device kept', async () => {
    const local = join(work, 'resume-up.bin');
    const sha256 = await randomFile(local, 16 * MIB);
    const part = devicePart(root, 'resume-up.bin', sha256);
    const run = await cutOnce([local, `${DEVICE_ID}:${root}/resume-up.bin`], part, 2 * MIB);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /retrying in \d+ ms/);
    const resumed = /resuming at byte (\d+) of (\d+)/.exec(run.stderr);
    assert.ok(resumed, run.stderr);
    assert.ok(Number(resumed[1]) >= 2 * MIB, `resumed at ${resumed[1]}`);
    const line = await agent.waitForLog(
      (l) => l.msg === 'file upload resumes from its part' && l.path === `${root}/resume-up.bin`,
    );
    assert.equal(line.offset, Number(resumed[1]));
    assert.equal(await sha256Of(join(root, 'resume-up.bin')), sha256);
    assert.equal(existsSync(part), false);
  });

  it('resumes a download cut in the middle from the local part', async () => {
    const sha256 = await randomFile(join(root, 'resume-down.bin'), 16 * MIB);
    const local = join(work, 'resume-down.bin');
    const run = await cutOnce(
      [`${DEVICE_ID}:${root}/resume-down.bin`, `${work}/`],
      join(work, '.resume-down.bin.iottly-part'),
      2 * MIB,
    );
    assert.equal(run.code, 0, run.stderr);
    const resumed = /resuming at byte (\d+)/.exec(run.stderr);
    assert.ok(resumed, run.stderr);
    assert.ok(Number(resumed[1]) >= 2 * MIB, `resumed at ${resumed[1]}`);
    await agent.waitForLog(
      (l) =>
        l.msg === 'file download started' &&
        l.path === `${root}/resume-down.bin` &&
        l.offset === Number(resumed[1]),
    );
    assert.equal(await sha256Of(local), sha256);
  });

  it('starts a download over when the device file no longer starts with the local part', async () => {
    const sha256 = await randomFile(join(root, 'changed.bin'), 64 * 1024);
    const part = join(work, '.changed.bin.iottly-part');
    for (const stale of [randomBytes(1000), randomBytes(100 * 1024)]) {
      // Another content's first bytes, then a part longer than the file itself.
      writeFileSync(part, stale);
      const run = await cp(hub.url, [`${DEVICE_ID}:${root}/changed.bin`, `${work}/`]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /is not the start of the device's file, which changed since/);
      assert.equal(await sha256Of(join(work, 'changed.bin')), sha256);
      assert.equal(existsSync(part), false);
    }
  });

  it('continues an upload when the same cp runs again after the first was killed', async () => {
    const local = join(work, 'killed-up.bin');
    const sha256 = await randomFile(local, 16 * MIB);
    const part = devicePart(root, 'killed-up.bin', sha256);
    const proxy = await FaultProxy.start(suite, Number(new URL(hub.url).port));
    proxy.throttle(8 * MIB);
    const target = `${DEVICE_ID}:${root}/killed-up.bin`;
    const child = spawn(process.execPath, [CLI_PATH, 'cp', local, target], {
      env: {
        PATH: process.env.PATH ?? '',
        IOTTLY_HUB_URL: `http://127.0.0.1:${proxy.port}`,
        IOTTLY_API_KEY: API_KEY,
      },
      stdio: 'ignore',
    });
    const exited = once(child, 'exit');
    try {
      await grown(part, 2 * MIB);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    const again = await cp(hub.url, [local, target]);
    assert.equal(again.code, 0, again.stderr);
    const resumed = /resuming at byte (\d+) of/.exec(again.stderr);
    assert.ok(resumed, again.stderr);
    assert.ok(Number(resumed[1]) >= 2 * MIB, `resumed at ${resumed[1]}`);
    assert.equal(await sha256Of(join(root, 'killed-up.bin')), sha256);
  });

  describe('refusals', () => {
    let client: Peer;
    let next = 0;
    before(async () => {
      client = await connectClient(hub.wsUrl);
      suite.after(() => client.ws.terminate());
    });

    /** Opens a session; resolves with its `error` code (or null) and its session_done. */
    async function open(
      payload: Record<string, unknown>,
      bytes?: Buffer,
      device = DEVICE_ID,
    ): Promise<{ code: string | null; message: string; done: Record<string, unknown> }> {
      const id = `f-${++next}`;
      const stream = next;
      client.send({
        type: 'session_open',
        request_id: id,
        payload: { device_id: device, stream, ...payload },
      });
      if (bytes) {
        const opened = await client.inbox.next(
          (f) => f.request_id === id && (f.type === 'session_opened' || f.type === 'error'),
          10_000,
        );
        if (opened.type === 'session_opened') {
          client.ws.send(
            encodeByteFrame({ kind: ByteKind.data, stream, fd: ByteFd.stdin, seq: 0, data: bytes }),
          );
          client.ws.send(
            encodeByteFrame({
              kind: ByteKind.eof,
              stream,
              fd: ByteFd.stdin,
              seq: 0,
              data: new Uint8Array(0),
            }),
          );
        }
        if (opened.type === 'error') {
          const done = await client.inbox.next(
            (f) => f.request_id === id && f.type === 'session_done',
            10_000,
          );
          return {
            code: String(opened.payload.code),
            message: String(opened.payload.message),
            done: done.payload,
          };
        }
      }
      const done = await client.inbox.next(
        (f) => f.request_id === id && f.type === 'session_done',
        10_000,
      );
      const error = done.payload.error as { code?: string; message?: string } | undefined;
      return { code: error?.code ?? null, message: error?.message ?? '', done: done.payload };
    }

    const put = (path: string, content: Buffer, extra: Record<string, unknown> = {}) => ({
      kind: 'file_put',
      path,
      size: content.length,
      sha256: createHash('sha256').update(content).digest('hex'),
      ...extra,
    });

    it('refuses paths outside files.allowPaths, through .. and through symlinks', async () => {
      writeFileSync(join(outside, 'secret'), 'secret');
      symlinkSync(join(outside, 'secret'), join(root, 'link-out'));
      symlinkSync(outside, join(root, 'dir-out'));
      const content = Buffer.from('hello');
      for (const path of [
        join(outside, 'secret'),
        `${root}/../outside/secret`,
        join(root, 'link-out'),
        join(root, 'dir-out', 'secret'),
      ]) {
        const got = await open({ kind: 'file_get', path });
        assert.equal(got.code, ErrorCode.fileDenied, `get ${path}: ${got.message}`);
        const wrote = await open(put(path, content), content);
        assert.equal(wrote.code, ErrorCode.fileDenied, `put ${path}: ${wrote.message}`);
      }
      assert.equal(readFileSync(join(outside, 'secret'), 'utf8'), 'secret');
      assert.deepEqual(readdirSync(outside).sort(), ['secret']);
      // A symlink that stays inside the roots is followed.
      writeFileSync(join(root, 'inside'), 'inside');
      symlinkSync(join(root, 'inside'), join(root, 'link-in'));
      const inside = await open({ kind: 'file_get', path: join(root, 'link-in') });
      assert.equal(inside.code, null, inside.message);
      assert.equal(inside.done.exit_code, 0);
    });

    it('announces the capability files only where files.enabled', () => {
      const capabilities = (id: string) =>
        hub.hub.devices().find((device) => device.device_id === id)?.capabilities;
      assert.ok(capabilities(DEVICE_ID)?.includes('files'));
      assert.ok(!capabilities(OTHER_DEVICE_ID)?.includes('files'));
    });

    it('refuses a file over files.maxBytes, a missing file, and a device with files off', async () => {
      const big = await open({
        kind: 'file_put',
        path: join(root, 'huge'),
        size: 200 * MIB,
        sha256: 'a'.repeat(64),
      });
      assert.equal(big.code, ErrorCode.fileTooLarge, big.message);
      assert.match(big.message, /files\.maxBytes/);
      const missing = await open({ kind: 'file_get', path: join(root, 'no-such-file') });
      assert.equal(missing.code, ErrorCode.fileNotFound, missing.message);
      const off = await open(
        { kind: 'file_get', path: join(root, 'inside') },
        undefined,
        OTHER_DEVICE_ID,
      );
      assert.equal(off.code, ErrorCode.fileDenied, off.message);
      assert.match(off.message, /files\.enabled/);
    });

    it('writes nothing when the bytes do not have the announced sha256', async () => {
      const content = Buffer.from('the real content\n');
      const payload = put(join(root, 'corrupt.txt'), content);
      const sent = Buffer.from('the fake content\n');
      const got = await open(payload, sent);
      assert.equal(got.code, ErrorCode.fileCorrupt, got.message);
      assert.equal(existsSync(join(root, 'corrupt.txt')), false);
      assert.equal(existsSync(devicePart(root, 'corrupt.txt', payload.sha256)), false);
    });

    it('removes upload parts older than files.partMaxAgeH before an upload into their folder', async () => {
      const old = join(root, `.old.bin.${'1'.repeat(16)}.iottly-part`);
      const fresh = join(root, `.fresh.bin.${'2'.repeat(16)}.iottly-part`);
      writeFileSync(old, 'given up');
      writeFileSync(fresh, 'resumable');
      const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000);
      utimesSync(old, hoursAgo(73), hoursAgo(73));
      utimesSync(fresh, hoursAgo(71), hoursAgo(71));
      const content = Buffer.from('new file\n');
      const got = await open(put(join(root, 'new.txt'), content), content);
      assert.equal(got.done.exit_code, 0, got.message);
      assert.equal(existsSync(old), false);
      assert.equal(existsSync(fresh), true);
      await agent.waitForLog((l) => l.msg === 'stale upload parts removed');
    });

    it('serves clients without binary frames with session_input and session_output (base64)', async () => {
      const content = randomBytes(300 * 1024);
      const sha256 = createHash('sha256').update(content).digest('hex');
      const path = join(root, 'json.bin');
      client.send({
        type: 'session_open',
        request_id: 'json-up',
        payload: { device_id: DEVICE_ID, kind: 'file_put', path, size: content.length, sha256 },
      });
      const opened = await client.inbox.next(
        (f) => f.request_id === 'json-up' && f.type === 'session_opened',
        10_000,
      );
      assert.equal(opened.payload.offset, 0);
      for (let at = 0; at < content.length; at += 100 * 1024)
        client.send({
          type: 'session_input',
          request_id: 'json-up',
          payload: { data: content.subarray(at, at + 100 * 1024).toString('base64') },
        });
      const upDone = await client.inbox.next(
        (f) => f.request_id === 'json-up' && f.type === 'session_done',
        10_000,
      );
      assert.deepEqual(upDone.payload, { exit_code: 0, bytes: content.length, sha256 });

      client.send({
        type: 'session_open',
        request_id: 'json-down',
        payload: { device_id: DEVICE_ID, kind: 'file_get', path },
      });
      const pieces: Buffer[] = [];
      for (;;) {
        const frame = await client.inbox.next(
          (f) =>
            f.request_id === 'json-down' &&
            (f.type === 'session_output' || f.type === 'session_done'),
          10_000,
        );
        if (frame.type === 'session_done') {
          assert.equal(frame.payload.exit_code, 0);
          assert.equal(frame.payload.sha256, sha256);
          break;
        }
        pieces.push(Buffer.from(String(frame.payload.data), 'base64'));
      }
      assert.ok(Buffer.concat(pieces).equals(content));
    });

    it('answers bad file_put and file_get payloads with invalid_payload and keeps serving', async () => {
      const bad: Record<string, unknown>[] = [
        { kind: 'file_get' },
        { kind: 'file_get', path: 'relative/path' },
        { kind: 'file_get', path: 42 },
        { kind: 'file_get', path: `/${'a'.repeat(5000)}` },
        { kind: 'file_get', path: `${root}/x\u0000y` },
        { kind: 'file_get', path: join(root, 'inside'), offset: -1 },
        { kind: 'file_get', path: join(root, 'inside'), offset: 1.5 },
        { kind: 'file_get', path: join(root, 'inside'), offset: 2 ** 60 },
        { kind: 'file_put', path: join(root, 'p'), size: 1 },
        { kind: 'file_put', path: join(root, 'p'), size: -1, sha256: 'a'.repeat(64) },
        { kind: 'file_put', path: join(root, 'p'), size: 1, sha256: 'A'.repeat(64) },
        { kind: 'file_put', path: join(root, 'p'), size: 1, sha256: 'a'.repeat(63) },
        { kind: 'file_put', path: join(root, 'p'), size: 1, sha256: 'a'.repeat(64), mode: 0o10000 },
        { kind: 'file_put', path: join(root, 'p'), size: 1, sha256: 'a'.repeat(64), mode: '644' },
        { kind: 'file_put', path: join(root, 'p'), size: 1, sha256: 'a'.repeat(64), owner: 'x y' },
        { kind: 'file_put', path: join(root, 'p'), size: '1', sha256: 'a'.repeat(64) },
        { kind: 'file_put', path: [], size: 1, sha256: 'a'.repeat(64) },
      ];
      for (const payload of bad) {
        const got = await open(payload);
        assert.equal(
          got.code,
          ErrorCode.invalidPayload,
          `${JSON.stringify(payload).slice(0, 120)}: ${got.message}`,
        );
      }
      // Random junk of the right kinds: always one error and one session_done, never a crash.
      for (let i = 0; i < 40; i++) {
        const junk = [null, true, 0, -1, 1e300, 'x', '/', '', [], {}, 'a'.repeat(70)];
        const pick = () => junk[Math.floor(Math.random() * junk.length)];
        const got = await open({
          kind: i % 2 === 0 ? 'file_get' : 'file_put',
          path: pick(),
          size: pick(),
          sha256: pick(),
          offset: pick(),
          mode: pick(),
        });
        assert.notEqual(got.code, null, JSON.stringify(got.done));
      }
      const still = await open({ kind: 'file_get', path: join(root, 'inside') });
      assert.equal(still.done.exit_code, 0);
    });
  });
});

describe('file sessions whose client goes quiet', () => {
  it('ends a transfer after files.idleTimeoutS without a byte or an ack, keeping the part', async (t) => {
    const root = tempDir('iottly-files-idle-', t);
    const hub = await startHub(t);
    const agent = spawnAgent(t, ['run'], {
      IOTTLY_SERVER_URL: `${hub.wsUrl}/v1/device`,
      IOTTLY_TELEMETRY_STREAMS: '[]',
      IOTTLY_DEVICE_ID: DEVICE_ID,
      IOTTLY_AUTH_TOKEN: DEVICE_TOKEN,
      IOTTLY_FILES_ENABLED: 'true',
      IOTTLY_FILES_ALLOW_PATHS: root,
      IOTTLY_FILES_IDLE_TIMEOUT_S: '1',
    });
    await agent.waitForLog(statusIs('online'));
    const client = await connectClient(hub.wsUrl);
    t.after(() => client.ws.terminate());
    const content = Buffer.from('0123456789');
    const sha256 = createHash('sha256').update(content).digest('hex');
    client.send({
      type: 'session_open',
      request_id: 'quiet',
      payload: {
        device_id: DEVICE_ID,
        kind: 'file_put',
        path: join(root, 'quiet.txt'),
        size: content.length,
        sha256,
      },
    });
    await client.inbox.next((f) => f.type === 'session_opened', 10_000);
    client.send({
      type: 'session_input',
      request_id: 'quiet',
      payload: { data: content.subarray(0, 4).toString('base64') },
    });
    const done = await client.inbox.next((f) => f.type === 'session_done', 10_000);
    assert.deepEqual(done.payload, { exit_code: null, closed: false, idle: true, bytes: 4 });
    assert.equal(readFileSync(devicePart(root, 'quiet.txt', sha256)).toString(), '0123');
    assert.equal(existsSync(join(root, 'quiet.txt')), false);
  });
});
