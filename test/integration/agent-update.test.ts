import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it, type TestContext } from 'node:test';
import { build } from 'esbuild';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import { publicKeyText } from '../../src/protocol/update-signature.js';
import type { ArtifactArch } from '../../src/protocol/update-artifact.js';
import { CLI_PATH } from '../helpers/agent-process.js';
import { startFakeHub, type FakeHub } from '../helpers/fake-hub.js';
import {
  anyFrame,
  helloOf,
  payloadOf,
  pushUpdate,
  type Artifact,
} from '../helpers/update-client.js';
import { tempDir } from '../helpers/temp-dir.js';
import { UpdateSupervisor } from '../helpers/update-supervisor.js';
import { installPaths } from '../../src/update/install-paths.js';
import { AGENT_VERSION } from '../../src/version.js';

/**
 * Issue 17 end to end with the real agent as a process, supervised as systemd would (the update
 * guard before every start, a restart after every exit): the installed "binary" is a launcher
 * of the built agent; a newer build is the same agent bundled with another version. The hub is
 * a fake one that speaks JSON only, so the artifact's bytes go as session_input, within the
 * 1 MiB window that input_consumed moves.
 */
const NEW_VERSION = '99.0.0';
const SRC_CLI = new URL('../../src/cli.ts', import.meta.url).pathname;
const SRC_VERSION = new URL('../../src/version.ts', import.meta.url).pathname;

let newBundle = '';

before(async () => {
  const dir = tempDir('iottly-update-build-', { after: (fn) => process.on('exit', fn) });
  newBundle = join(dir, 'agent-new.cjs');
  await build({
    entryPoints: [SRC_CLI],
    outfile: newBundle,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    external: ['bufferutil', 'utf-8-validate'],
    logLevel: 'error',
    logOverride: { 'empty-import-meta': 'silent' },
    plugins: [
      {
        name: 'new-version',
        setup(b) {
          b.onLoad({ filter: /version\.ts$/ }, (args) =>
            args.path === SRC_VERSION
              ? { contents: `export const AGENT_VERSION = '${NEW_VERSION}';`, loader: 'ts' }
              : undefined,
          );
        },
      },
    ],
  });
});

function launcher(path: string, script: string): void {
  writeFileSync(path, `#!/bin/sh\n${script}\n`, { mode: 0o755 });
}

interface Rig {
  hub: FakeHub;
  supervisor: UpdateSupervisor;
  binary: string;
  signingKey: string;
  dir: string;
}

async function rig(t: TestContext, settings: Record<string, string> = {}): Promise<Rig> {
  const dir = tempDir('iottly-update-');
  const binary = join(dir, 'bin', 'iottly-agent');
  await import('node:fs/promises').then((fs) => fs.mkdir(join(dir, 'bin')));
  launcher(binary, `exec "${process.execPath}" "${CLI_PATH}" "$@"`);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const hub = await startFakeHub(t);
  const supervisor = new UpdateSupervisor(t, binary, {
    IOTTLY_SERVER_URL: hub.url,
    IOTTLY_DEVICE_ID: 'dev-up',
    IOTTLY_AUTH_TOKEN: 'token-up',
    IOTTLY_STORAGE_DIR: join(dir, 'spool'),
    IOTTLY_LOCAL_ENABLED: 'false',
    IOTTLY_LOG_FORMAT: 'json',
    IOTTLY_UPDATE_PUBLIC_KEYS: publicKeyText(publicKey),
    IOTTLY_UPDATE_BINARY_PATH: binary,
    IOTTLY_UPDATE_HEALTH_TIMEOUT_S: '60',
    IOTTLY_UPDATE_MAX_STARTS: '2',
    ...settings,
  });
  supervisor.start();
  return {
    hub,
    supervisor,
    binary,
    dir,
    signingKey: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}

function sha(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

describe('agent self-update (issue 17)', { concurrency: false }, () => {
  it('installs a newer signed build, which comes online as the new version with the spool kept', async (t) => {
    const r = await rig(t);
    const { connection, frame: hello } = await anyFrame(r.hub, helloOf(AGENT_VERSION));
    assert.ok(payloadOf(hello).capabilities instanceof Array);
    assert.ok((payloadOf(hello).capabilities as string[]).includes('update'));
    const newBuild = join(r.dir, 'new-build');
    launcher(newBuild, `exec "${process.execPath}" "${newBundle}" "$@"`);
    const done = await pushUpdate(connection, 'u-1', {
      bytes: readFileSync(newBuild),
      version: NEW_VERSION,
      arch: process.arch as ArtifactArch,
      signingKey: r.signingKey,
    });
    assert.equal(done.type, 'session_done', JSON.stringify(done));
    assert.equal(payloadOf(done).exit_code, 0);
    const { frame: newHello } = await anyFrame(r.hub, helloOf(NEW_VERSION));
    assert.equal(payloadOf(newHello).store_id, payloadOf(hello).store_id, 'the spool is the same');
    const { frame: result } = await anyFrame(r.hub, (f) => f.type === 'update_result');
    assert.deepEqual(payloadOf(result), { version: NEW_VERSION, from: AGENT_VERSION, ok: true });
    assert.equal(r.supervisor.exits[0]?.code, 3, 'the old agent exited for the restart');
    await r.supervisor.waitFor((l) => l.code === 'update_confirmed');
    assert.equal(existsSync(installPaths(r.binary).state), false);
    assert.equal(readFileSync(installPaths(r.binary).previous, 'utf8').includes(CLI_PATH), true);
    t.diagnostic(r.supervisor.transcript(/update|guard|exited|starting/));
  });

  it('rolls back a build that exits at start (the guard), and the old build reports it', async (t) => {
    const r = await rig(t);
    const { connection } = await anyFrame(r.hub, helloOf(AGENT_VERSION));
    const before = sha(r.binary);
    const done = await pushUpdate(connection, 'u-2', {
      bytes: Buffer.from('#!/bin/sh\necho "this build is broken" >&2\nexit 1\n'),
      version: NEW_VERSION,
      arch: process.arch as ArtifactArch,
      signingKey: r.signingKey,
    });
    assert.equal(payloadOf(done).exit_code, 0);
    const { frame: result } = await anyFrame(r.hub, (f) => f.type === 'update_result', 60_000);
    assert.equal(payloadOf(result).ok, false);
    assert.equal(payloadOf(result).cause, 'crashed');
    assert.equal(payloadOf(result).version, NEW_VERSION);
    assert.equal(sha(r.binary), before, 'the previous binary is back');
    assert.deepEqual(
      r.supervisor.exits.slice(0, 3).map((e) => e.code),
      [3, 1, 1],
      'restart into the new build, which failed twice (update.maxStarts 2)',
    );
    t.diagnostic(r.supervisor.transcript(/update|guard|exited|broken/));
  });

  it('rolls back a build that starts but never comes online', async (t) => {
    const r = await rig(t, { IOTTLY_UPDATE_HEALTH_TIMEOUT_S: '4' });
    const { connection } = await anyFrame(r.hub, helloOf(AGENT_VERSION));
    const before = sha(r.binary);
    const lost = join(r.dir, 'lost-build');
    // The new version, pointed at a hub that is not there: it runs, and never comes online.
    launcher(
      lost,
      `exec "${process.execPath}" "${newBundle}" "$@" --server-url ws://127.0.0.1:9/v1/device`,
    );
    const done = await pushUpdate(connection, 'u-3', {
      bytes: readFileSync(lost),
      version: NEW_VERSION,
      arch: process.arch as ArtifactArch,
      signingKey: r.signingKey,
    });
    assert.equal(payloadOf(done).exit_code, 0);
    const { frame: result } = await anyFrame(r.hub, (f) => f.type === 'update_result', 60_000);
    assert.equal(payloadOf(result).ok, false);
    assert.equal(payloadOf(result).cause, 'not_online');
    assert.equal(sha(r.binary), before);
    assert.ok(
      r.supervisor.lines.some((l) => l.code === 'update_rolled_back' && l.start === 2),
      'the new build rolled itself back',
    );
    t.diagnostic(r.supervisor.transcript(/update|guard|exited|rolled/));
  });

  it('refuses a bad signature, a wrong architecture, an older version and a truncated download, changing nothing', async (t) => {
    const r = await rig(t);
    const { connection } = await anyFrame(r.hub, helloOf(AGENT_VERSION));
    const before = sha(r.binary);
    const bytes = Buffer.from(`#!/bin/sh\n# ${'x'.repeat(3 * 1024 * 1024)}\nexit 0\n`);
    const good = {
      bytes,
      version: NEW_VERSION,
      arch: process.arch as ArtifactArch,
      signingKey: r.signingKey,
    };
    const stranger = generateKeyPairSync('ed25519')
      .privateKey.export({ format: 'pem', type: 'pkcs8' })
      .toString();
    const other: ArtifactArch = process.arch === 'arm64' ? 'x64' : 'arm64';
    const cases: Array<[string, Artifact, Record<string, unknown> | undefined, string]> = [
      ['untrusted key', { ...good, signingKey: stranger }, undefined, ErrorCode.updateBadSignature],
      [
        'claims differ from the signature',
        good,
        { size: bytes.length + 1 },
        ErrorCode.updateBadSignature,
      ],
      ['wrong arch', { ...good, arch: other }, undefined, ErrorCode.updateWrongArch],
      ['older version', { ...good, version: '0.0.1' }, undefined, ErrorCode.updateNotNewer],
    ];
    let n = 0;
    for (const [name, artifact, claim, code] of cases) {
      const reply = await pushUpdate(connection, `r-${(n += 1)}`, artifact, { claim });
      assert.equal(reply.type, 'error', name);
      assert.equal(payloadOf(reply).code, code, name);
    }
    const cut = await pushUpdate(connection, 'r-cut', good, { sendBytes: 1024 * 1024 });
    assert.equal(cut.type, 'session_done');
    assert.equal(payloadOf(cut).closed, true, JSON.stringify(cut));
    assert.equal(payloadOf(cut).bytes, 1024 * 1024, JSON.stringify(cut));
    assert.equal(sha(r.binary), before);
    assert.equal(existsSync(installPaths(r.binary).state), false);
    assert.equal(r.supervisor.exits.length, 0, 'the agent never restarted');
    // A second session resumes from what arrived (its offset); bytes that differ from the
    // signed ones are caught by the sha256 at the end, and nothing is installed.
    const damaged = Buffer.from(bytes);
    damaged.writeUInt8(damaged.readUInt8(damaged.length - 10) ^ 0xff, damaged.length - 10);
    const resumed = await pushUpdate(connection, 'r-resume', good, { wire: damaged });
    assert.equal(resumed.type, 'error');
    assert.equal(payloadOf(resumed).code, ErrorCode.updateCorrupt);
    const opened = connection.frames.find(
      (f) => f.request_id === 'r-resume' && f.type === 'session_opened',
    );
    assert.equal(opened?.payload && payloadOf(opened).offset, 1024 * 1024);
    assert.equal(sha(r.binary), before);
    assert.equal(existsSync(installPaths(r.binary).state), false);
    assert.equal(r.supervisor.exits.length, 0);
  });
});
