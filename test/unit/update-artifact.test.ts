import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  artifactSignature,
  canonicalSignedBytes,
  compareVersions,
} from '../../src/protocol/update-artifact.js';
import {
  parsePublicKey,
  publicKeyText,
  signArtifact,
  verifyArtifactSignature,
} from '../../src/protocol/update-signature.js';
import { parseUpdateState, serializeUpdateState } from '../../src/update/update-state.js';

function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    trusted: parsePublicKey(publicKeyText(publicKey)),
  };
}

const FIELDS = { version: '0.2.0', arch: 'x64', size: 1234, sha256: 'a'.repeat(64) } as const;

describe('artifact signatures', () => {
  it('verify with the signer key and pass the shared validator', () => {
    const { pem, trusted } = keyPair();
    const signature = signArtifact(FIELDS, pem);
    assert.equal(artifactSignature(signature, 'sig').ok, true);
    assert.equal(signature.key_id, trusted.id);
    assert.equal(verifyArtifactSignature(signature, [trusted]).ok, true);
  });

  it('sign the canonical lines, in order, nothing else', () => {
    assert.equal(
      new TextDecoder().decode(canonicalSignedBytes({ ...FIELDS, key_id: '0123456789abcdef' })),
      `iottly-agent-signature/1\nversion=0.2.0\narch=x64\nsize=1234\nsha256=${'a'.repeat(64)}\nkey_id=0123456789abcdef\n`,
    );
  });

  it('fail for any changed field, an unknown key, or a key with the same id but other bytes', () => {
    const { pem, trusted } = keyPair();
    const other = keyPair();
    const signature = signArtifact(FIELDS, pem);
    for (const changed of [
      { version: '0.2.1' },
      { arch: 'arm64' as const },
      { size: 1235 },
      { sha256: 'b'.repeat(64) },
    ]) {
      const check = verifyArtifactSignature({ ...signature, ...changed }, [trusted]);
      assert.deepEqual(check.ok ? 'ok' : check.reason, 'bad_signature', JSON.stringify(changed));
    }
    const unknown = verifyArtifactSignature(signature, [other.trusted]);
    assert.equal(unknown.ok ? 'ok' : unknown.reason, 'unknown_key');
    const impostor = verifyArtifactSignature(signature, [{ ...other.trusted, id: trusted.id }]);
    assert.equal(impostor.ok ? 'ok' : impostor.reason, 'bad_signature');
  });

  it('refuse a non-ed25519 signing key', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    assert.throws(() => signArtifact(FIELDS, pem), /not ed25519/);
  });

  it('have a shape the validator bounds', () => {
    const { pem } = keyPair();
    const signature = signArtifact(FIELDS, pem);
    for (const bad of [
      { format: 'other/1' },
      { version: '1.2' },
      { version: `1.2.3-${'x'.repeat(70)}` },
      { arch: 'mips' },
      { size: 0 },
      { size: 2 ** 41 },
      { sha256: 'A'.repeat(64) },
      { key_id: 'zz' },
      { signature: 'short' },
    ])
      assert.equal(
        artifactSignature({ ...signature, ...bad }, 'sig').ok,
        false,
        JSON.stringify(bad),
      );
  });
});

describe('compareVersions', () => {
  it('orders by semver precedence', () => {
    const ordered = [
      '0.1.0',
      '0.1.1-alpha',
      '0.1.1-alpha.1',
      '0.1.1-alpha.beta',
      '0.1.1-beta.2',
      '0.1.1-beta.11',
      '0.1.1-rc.1',
      '0.1.1',
      '0.2.0',
      '0.10.0',
      '1.0.0',
    ];
    for (let i = 0; i < ordered.length; i += 1)
      for (let j = 0; j < ordered.length; j += 1)
        assert.equal(
          compareVersions(ordered[i] as string, ordered[j] as string),
          Math.sign(i - j),
          `${ordered[i]} vs ${ordered[j]}`,
        );
    assert.equal(compareVersions('1.0.0+build.1', '1.0.0'), 0);
  });
});

describe('update state file', () => {
  it('round-trips and refuses damaged text', () => {
    const state = {
      phase: 'trial' as const,
      from: '0.1.0',
      to: '0.2.0',
      deadline: 1_800_000_000,
      starts: 1,
      maxStarts: 3,
    };
    assert.deepEqual(parseUpdateState(serializeUpdateState(state)), state);
    const rolled = { ...state, phase: 'rolled_back' as const, cause: 'crashed' as const };
    assert.deepEqual(parseUpdateState(serializeUpdateState(rolled)), rolled);
    for (const bad of [
      '',
      'phase=trial\n',
      serializeUpdateState(state).replace('0.2.0', '0.2.0;rm -rf /'),
      serializeUpdateState(state).replace('starts=1', 'starts=-1'),
      serializeUpdateState(state).replace('cause=', 'cause=whatever'),
    ])
      assert.equal(parseUpdateState(bad), null, bad);
  });
});
