import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AGENT_VERSION } from '../../src/version.js';
import { spawnAgentCommand } from '../helpers/agent-process.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/ws.js';

/**
 * The npm package as a user installs it (`npm run test:install`, about a minute: npm fetches the
 * dependencies): the tarball of `npm pack` (dist/ from `npm run build`, which the script runs
 * first; `--ignore-scripts` so pack does not build it again) installed with `npm install -g`
 * into a temporary prefix, by the npm on this machine (11 here). npm must say nothing about the
 * package's scripts (there are none to run or allow), and the installed command must run: its
 * version, and `demo` with the console it serves.
 */
const ROOT = new URL('../../', import.meta.url).pathname;
/** npm fetches the dependencies: generous, for a loaded machine on a slow registry. */
const NPM_TIMEOUT_MS = 240_000;
const TEST_TIMEOUT_MS = 2 * NPM_TIMEOUT_MS + 60_000;

function npm(args: string[], cwd: string): { stdout: string; stderr: string } {
  const result = spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: NPM_TIMEOUT_MS });
  assert.equal(result.status, 0, `npm ${args.join(' ')}:\n${result.stderr}${result.stdout}`);
  return { stdout: result.stdout, stderr: result.stderr };
}

describe('npm install -g from the tarball', () => {
  const npmVersion = spawnSync('npm', ['--version'], { encoding: 'utf8' }).stdout.trim();

  it(
    `installs with npm ${npmVersion} without a word about scripts, and runs version and demo`,
    {
      timeout: TEST_TIMEOUT_MS,
    },
    async (t) => {
      const dir = tempDir('iottly-npm-install-', t);
      const [packed] = JSON.parse(
        npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT).stdout,
      ) as [{ filename: string }];
      const prefix = join(dir, 'prefix');
      const installed = npm(
        [
          'install',
          '-g',
          '--prefix',
          prefix,
          join(dir, packed.filename),
          '--prefer-offline',
          '--no-audit',
          '--no-fund',
        ],
        dir,
      );
      const said = installed.stderr + installed.stdout;
      assert.doesNotMatch(said, /install-scripts|allow-?scripts|prepare/i, said);

      const bin = join(prefix, 'bin', 'iottly-agent');
      const version = spawnSync(bin, ['version'], { encoding: 'utf8' });
      assert.equal(version.stdout.trim(), AGENT_VERSION, version.stderr);

      const demo = spawnAgentCommand(t, bin, ['demo']);
      await waitFor(() => /console: +http:\/\/[\d.:]+\//.test(demo.output()), 20_000);
      const url = /console: +(http:\/\/[\d.:]+)\//.exec(demo.output())![1]!;
      const page = await fetch(`${url}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /console\.js/);
      assert.equal((await fetch(`${url}/console.js`)).status, 200);
    },
  );
});
