import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

/**
 * systemd/iottly-agent.service checked by systemd itself (`systemd-analyze verify`, no systemd
 * needs to run), alone and with the strict hardening drop-in, plus the settings operators rely
 * on. ExecStart points at an executable that exists here, since verify checks it.
 */
const SYSTEMD = new URL('../../systemd/', import.meta.url).pathname;
const UNIT = readFileSync(join(SYSTEMD, 'iottly-agent.service'), 'utf8');

function unitCopy(withStrictDropIn: boolean): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'unit-'));
  const path = join(dir, 'iottly-agent.service');
  writeFileSync(
    path,
    UNIT.replace('ExecStart=/usr/bin/iottly-agent ', `ExecStart=${process.execPath} `),
  );
  if (withStrictDropIn) {
    mkdirSync(join(dir, 'iottly-agent.service.d'));
    copyFileSync(
      join(SYSTEMD, 'hardening-strict.conf'),
      join(dir, 'iottly-agent.service.d', 'hardening-strict.conf'),
    );
  }
  return { dir, path };
}

function analyze(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync('systemd-analyze', args, { encoding: 'utf8' });
  if (result.error)
    throw new Error(`systemd-analyze: ${result.error.message} (apt-get install systemd)`);
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const exposure = (output: string): number =>
  Number(/Overall exposure level for iottly-agent\.service: ([\d.]+)/.exec(output)?.[1]);

describe('systemd unit', () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  it('passes systemd-analyze verify with no warnings, with and without the strict drop-in', () => {
    for (const strict of [false, true]) {
      const { dir, path } = unitCopy(strict);
      dirs.push(dir);
      const result = analyze(['verify', path]);
      assert.equal(result.stderr + result.stdout, '', `strict=${strict}`);
      assert.equal(result.code, 0);
    }
  });

  it('is a notify service with a watchdog that stops restarting on exit 78', () => {
    for (const line of [
      'Type=notify',
      'NotifyAccess=all',
      'WatchdogSec=60s',
      'Restart=always',
      'RestartSec=5s',
      'RestartPreventExitStatus=78',
      'After=network-online.target',
      'User=iottly',
      'StateDirectory=iottly-agent',
      'RuntimeDirectory=iottly-agent',
      'ConfigurationDirectory=iottly-agent',
    ]) {
      assert.match(UNIT, new RegExp(`^${line}$`, 'm'), line);
    }
    assert.doesNotMatch(UNIT, /^MemoryDenyWriteExecute=yes/m, 'V8 needs writable code memory');
  });

  it('the strict drop-in lowers the systemd-analyze security exposure', () => {
    const scores = [false, true].map((strict) => {
      const { dir, path } = unitCopy(strict);
      dirs.push(dir);
      return exposure(analyze(['security', '--offline=yes', path]).stdout);
    });
    const [standard = NaN, strict = NaN] = scores;
    assert.ok(strict < standard && strict <= 2, `exposure ${standard} → ${strict}`);
  });
});
