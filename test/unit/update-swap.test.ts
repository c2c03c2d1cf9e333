import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROLLBACK_STEPS, SWAP_STEPS, swapIn } from '../../src/update/binary-swap.js';
import { installPaths } from '../../src/update/install-paths.js';
import {
  parseUpdateState,
  serializeUpdateState,
  type UpdateState,
} from '../../src/update/update-state.js';
import { tempDir } from '../helpers/temp-dir.js';

/**
 * The swap of issue 17 on real files: a SIGKILL after every step (a child process that kills
 * itself there) leaves a binary that starts, the old or the new one, never neither; the update
 * guard (the unit's ExecStartPre) then finishes or undoes the trial.
 */
const FIXTURE = new URL('../fixtures/swap-step.ts', import.meta.url).pathname;
const GUARD = new URL('../../systemd/iottly-agent-update-guard', import.meta.url).pathname;

function fakeBuild(path: string, version: string): void {
  writeFileSync(path, `#!/bin/sh\necho ${version}\n`, { mode: 0o755 });
}

function install(): { binary: string; staged: string } {
  const dir = tempDir('iottly-swap-');
  const binary = join(dir, 'iottly-agent');
  const staged = join(dir, '.iottly-agent.0123456789abcdef.part');
  fakeBuild(binary, '0.1.0');
  fakeBuild(staged, '0.2.0');
  return { binary, staged };
}

/** What starts: the guard, then the binary, as systemd does. */
function start(binary: string): { version: string; guard: string } {
  const guard = spawnSync('sh', [GUARD, binary], { encoding: 'utf8' });
  assert.equal(guard.status, 0, guard.stderr);
  return { version: execFileSync(binary, { encoding: 'utf8' }).trim(), guard: guard.stderr };
}

function stateOf(binary: string): UpdateState | null {
  const path = installPaths(binary).state;
  return existsSync(path) ? parseUpdateState(readFileSync(path, 'utf8')) : null;
}

function killedAfter(
  mode: 'swap' | 'rollback',
  binary: string,
  staged: string,
  step: string,
): void {
  const child = spawnSync(
    process.execPath,
    ['--import', 'tsx', FIXTURE, mode, binary, staged, step],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(child.signal, 'SIGKILL', `${step}: ${child.stderr}`);
}

describe('the update swap under SIGKILL', () => {
  for (const step of SWAP_STEPS) {
    it(`after "${step}" a binary starts, and a crashing new one is rolled back`, () => {
      const { binary, staged } = install();
      killedAfter('swap', binary, staged, step);
      const first = start(binary).version;
      const swapped = SWAP_STEPS.indexOf(step) >= SWAP_STEPS.indexOf('swapped');
      assert.equal(first, swapped ? '0.2.0' : '0.1.0');
      const state = stateOf(binary);
      if (SWAP_STEPS.indexOf(step) < SWAP_STEPS.indexOf('state')) {
        assert.equal(state, null); // no trial: the old build runs as before
        return;
      }
      assert.equal(state?.phase, 'trial');
      // The new build never marks itself good (it crashes at start): the guard lets it start
      // maxStarts times, then restores the previous one.
      let last = first;
      for (let i = 0; i < 3; i += 1) last = start(binary).version;
      assert.equal(last, '0.1.0');
      assert.equal(stateOf(binary)?.phase, 'rolled_back');
      assert.equal(stateOf(binary)?.cause, 'crashed');
    });
  }

  for (const step of ROLLBACK_STEPS) {
    it(`a rollback killed after "${step}" leaves the old build starting`, async () => {
      const { binary, staged } = install();
      await swapIn(installPaths(binary), staged, {
        phase: 'trial',
        from: '0.1.0',
        to: '0.2.0',
        deadline: Math.floor(Date.now() / 1000) + 60,
        starts: 0,
        maxStarts: 3,
      });
      killedAfter('rollback', binary, staged, step);
      assert.equal(execFileSync(binary, { encoding: 'utf8' }).trim(), '0.1.0');
      assert.equal(start(binary).version, '0.1.0');
    });
  }
});

describe('the update guard', () => {
  const trial = (binary: string, change: Partial<UpdateState>): void => {
    writeFileSync(
      installPaths(binary).state,
      serializeUpdateState({
        phase: 'trial',
        from: '0.1.0',
        to: '0.2.0',
        deadline: Math.floor(Date.now() / 1000) + 60,
        starts: 0,
        maxStarts: 2,
        ...change,
      }),
    );
  };
  const swapped = (): string => {
    const { binary, staged } = install();
    execFileSync('ln', [binary, installPaths(binary).previous]);
    execFileSync('mv', [staged, binary]);
    return binary;
  };

  it('counts the starts of a trial and restores after maxStarts', () => {
    const binary = swapped();
    trial(binary, {});
    assert.match(start(binary).guard, /start 1 of 2 of 0\.2\.0/);
    assert.equal(stateOf(binary)?.starts, 1);
    assert.equal(start(binary).version, '0.2.0');
    const third = start(binary);
    assert.equal(third.version, '0.1.0');
    assert.match(third.guard, /restored 0\.1\.0 over 0\.2\.0: 2 starts/);
    assert.deepEqual(stateOf(binary), {
      phase: 'rolled_back',
      from: '0.1.0',
      to: '0.2.0',
      deadline: stateOf(binary)?.deadline,
      starts: 2,
      maxStarts: 2,
      cause: 'crashed',
    });
    assert.equal(existsSync(installPaths(binary).previous), false);
  });

  it('restores once the deadline has passed (not_online)', () => {
    const binary = swapped();
    trial(binary, { deadline: Math.floor(Date.now() / 1000) - 1 });
    assert.equal(start(binary).version, '0.1.0');
    assert.equal(stateOf(binary)?.cause, 'not_online');
  });

  it('leaves everything alone without a trial, after a rollback, and on a damaged state', () => {
    const binary = swapped();
    assert.equal(start(binary).version, '0.2.0'); // no state file
    for (const text of [
      serializeUpdateState({
        phase: 'rolled_back',
        from: '0.1.0',
        to: '0.2.0',
        deadline: 0,
        starts: 9,
        maxStarts: 2,
        cause: 'crashed',
      }),
      'phase=trial\nstarts=x\n',
      'garbage',
    ]) {
      writeFileSync(installPaths(binary).state, text);
      assert.equal(start(binary).version, '0.2.0');
      assert.equal(readFileSync(installPaths(binary).state, 'utf8'), text);
    }
  });
});
