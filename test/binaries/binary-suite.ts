import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { invocation, isEmulated } from '../../scripts/binaries/emulation.js';
import { binaryName, TARGETS, type Target } from '../../scripts/binaries/targets.js';
import { RELEASE_DIR } from '../../scripts/release/release-dir.js';
import { AGENT_VERSION } from '../../src/version.js';
import { spawnAgentCommand, type AgentProcess } from '../helpers/agent-process.js';
import { startLocalHub } from '../helpers/local-hub.js';
import type { Owner } from '../helpers/owner.js';
import { startNotifyReceiver } from '../helpers/notify-receiver.js';
import { waitFor } from '../helpers/ws.js';
import { SESSION_CHECKS } from './session-checks.js';

/**
 * One built binary (`npm run build:binaries` first), natively or under qemu-user: version,
 * check-config on a good and a bad config, a real session against an in-process hub with every
 * check in SESSION_CHECKS, systemd notifications included, and its own `hub` serving the console
 * it carries (where its Node carries assets).
 */
const TOKEN = 'tok-binary-secret';
const API_KEY = 'key-binary';

export function describeBinary(name: Target['name']): void {
  const target = TARGETS.find((t) => t.name === name)!;
  const path = join(RELEASE_DIR, binaryName(target));
  const timeoutMs = isEmulated(target) ? 60_000 : 15_000;
  const run = (owner: Owner, args: string[], env: Record<string, string> = {}): AgentProcess => {
    const { command, args: full } = invocation(target, path, args);
    return spawnAgentCommand(owner, command, full, env);
  };

  describe(`${binaryName(target)} (node ${target.nodeVersion}${isEmulated(target) ? ', under qemu' : ''})`, () => {
    const dir = mkdtempSync(join(tmpdir(), `bin-${name}-`));
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('exists (built by npm run build:binaries)', () => {
      assert.ok(existsSync(path), `${path} is missing: run npm run build:binaries first`);
    });

    it('prints its version', async (t) => {
      const agent = run(t, ['version']);
      assert.equal((await agent.exited()).code, 0);
      assert.equal(agent.output().trim(), AGENT_VERSION);
    });

    it('check-config: 0 on a good config, 78 naming the key on a bad one', async (t) => {
      const good = join(dir, 'good.json');
      writeFileSync(
        good,
        JSON.stringify({
          server: { url: 'wss://hub.example/v1/device' },
          device: { id: 'pi-1' },
          auth: { token: TOKEN },
        }),
        { mode: 0o640 },
      );
      const ok = run(t, ['check-config', '--config', good]);
      assert.equal((await ok.exited()).code, 0, ok.output());
      assert.ok(!ok.output().includes(TOKEN));
      const bad = join(dir, 'bad.json');
      writeFileSync(bad, JSON.stringify({ server: { url: 'http://hub' } }), { mode: 0o640 });
      const refused = run(t, ['check-config', '--config', bad]);
      assert.equal((await refused.exited()).code, 78);
      assert.match(refused.output(), /server\.url = "http:\/\/hub" \(from file .*\): must be a ws/);
    });

    if (target.seaAssets) {
      it('hub serves the console it carries: / is the page, its script and style are there', async (t) => {
        const hub = run(t, ['hub', '--port', '0', '--api-key', API_KEY, '--log-level', 'warn']);
        // The banner offers the console only when the hub found it (its second line).
        await waitFor(() => /console: http:\/\/[\d.:]+\//.test(hub.output()), timeoutMs);
        const url = /console: (http:\/\/[\d.:]+)\//.exec(hub.output())![1]!;
        const page = await fetch(`${url}/`);
        assert.equal(page.status, 200);
        assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
        const html = await page.text();
        const assets = [...html.matchAll(/(?:src|href)="([\w.-]+\.(?:js|css))"/g)].map((m) => m[1]);
        assert.deepEqual(assets.sort(), ['console.css', 'console.js'], html);
        for (const asset of assets) {
          const response = await fetch(`${url}/${asset}`);
          assert.equal(response.status, 200, asset);
          assert.ok((await response.arrayBuffer()).byteLength > 0, asset);
        }
      });
    }

    it('runs a session against a live hub, notifying systemd, and stops cleanly on SIGTERM', async (t) => {
      const { url, deviceUrl } = await startLocalHub(t, 'pi-1', TOKEN, API_KEY);
      const receiver = await startNotifyReceiver(t);
      const agent = run(t, ['run'], {
        IOTTLY_SERVER_URL: deviceUrl,
        IOTTLY_DEVICE_ID: 'pi-1',
        IOTTLY_AUTH_TOKEN: TOKEN,
        NOTIFY_SOCKET: receiver.socketPath,
        WATCHDOG_USEC: '2000000',
      });
      await receiver.waitFor('READY=1', timeoutMs);
      for (const check of SESSION_CHECKS) {
        await check.run({
          agent,
          hubUrl: url,
          apiKey: API_KEY,
          deviceId: 'pi-1',
          version: AGENT_VERSION,
          timeoutMs,
        });
      }
      await receiver.waitFor('WATCHDOG=1', timeoutMs);
      agent.child.kill('SIGTERM');
      await receiver.waitFor('STOPPING=1', timeoutMs);
      assert.equal((await agent.exited()).code, 0, agent.output());
      assert.ok(!agent.output().includes(TOKEN), 'the token never reaches the output');
    });
  });
}
