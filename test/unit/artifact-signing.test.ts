import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { elfArch, runKeygen, runSign } from '../../src/cli/artifact-signing.js';
import { artifactSignature } from '../../src/protocol/update-artifact.js';
import { parsePublicKey, verifyArtifactSignature } from '../../src/protocol/update-signature.js';
import { tempDir } from '../helpers/temp-dir.js';

/** `iottly-agent keygen` and `sign` on real files: the operator's first two commands. */
function output() {
  let text = '';
  const sink = { write: (chunk: string) => (text += chunk) };
  return { stdout: sink, stderr: sink, text: () => text };
}

/** An ELF header of the given e_machine, then filler: what `sign` reads the arch from. */
function elf(path: string, machine: number): void {
  const bytes = Buffer.alloc(4096, 0x90);
  bytes.writeUInt32BE(0x7f454c46, 0);
  bytes[4] = 2;
  bytes[5] = 1;
  bytes.writeUInt16LE(machine, 18);
  writeFileSync(path, bytes, { mode: 0o755 });
}

describe('keygen and sign', () => {
  it('make a 0600 key whose signature verifies with the printed public key', async () => {
    const dir = tempDir('iottly-keys-');
    const out = output();
    assert.equal(runKeygen(['--out', dir], out), 0);
    const keyPath = join(dir, 'iottly-update.key');
    assert.equal(statSync(keyPath).mode & 0o777, 0o600);
    const publicText = readFileSync(join(dir, 'iottly-update.pub'), 'utf8').trim();
    assert.ok(out.text().startsWith(publicText));
    assert.throws(() => runKeygen(['--out', dir], output()), /exists/);

    const binary = join(dir, 'iottly-agent-linux-arm64');
    elf(binary, 0xb7);
    const signed = output();
    const code = await runSign([binary, '--key', keyPath], {
      ...signed,
      readFile: (path) => readFileSync(path, 'utf8'),
      binaryVersion: async () => '0.3.1',
    });
    assert.equal(code, 0, signed.text());
    const signature = JSON.parse(readFileSync(`${binary}.sig`, 'utf8')) as unknown;
    const checked = artifactSignature(signature, 'sig');
    assert.ok(checked.ok);
    assert.equal(checked.value.version, '0.3.1');
    assert.equal(checked.value.arch, 'arm64');
    assert.equal(checked.value.size, 4096);
    assert.equal(verifyArtifactSignature(checked.value, [parsePublicKey(publicText)]).ok, true);
  });

  it('read the arch from the ELF header, and need --arch and --version where they cannot', async () => {
    const dir = tempDir('iottly-sign-');
    for (const [machine, arch] of [
      [0x3e, 'x64'],
      [0xb7, 'arm64'],
      [0x28, 'arm'],
      [0x08, undefined],
    ] as const) {
      elf(join(dir, 'b'), machine);
      assert.equal(elfArch(join(dir, 'b')), arch);
    }
    runKeygen(['--out', dir], output());
    const script = join(dir, 'build.sh');
    writeFileSync(script, '#!/bin/sh\nexit 1\n', { mode: 0o755 });
    const deps = { ...output(), readFile: (path: string) => readFileSync(path, 'utf8') };
    const key = join(dir, 'iottly-update.key');
    await assert.rejects(runSign([script, '--key', key], deps), /give --arch/);
    await assert.rejects(runSign([script, '--key', key, '--arch', 'x64'], deps), /give --version/);
    await assert.rejects(
      runSign([script, '--key', key, '--arch', 'mips', '--version', '1.0.0'], deps),
      /--arch must be one of/,
    );
    await assert.rejects(
      runSign([script, '--key', key, '--arch', 'x64', '--version', 'v1'], deps),
      /MAJOR\.MINOR\.PATCH/,
    );
    await assert.rejects(runSign([script], deps), /--key/);
    assert.equal(
      await runSign([script, '--key', key, '--arch', 'x64', '--version', '1.0.0'], deps),
      0,
    );
  });
});
