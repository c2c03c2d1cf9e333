import assert from 'node:assert/strict';
import { childBaseEnv } from '../../src/process/child-env.js';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CommandSource } from '../../src/telemetry/sources/command-source.js';
import { SampleErrorCode } from '../../src/telemetry/stream-source.js';
import { StreamTask } from '../../src/telemetry/stream-task.js';
import { systemClock } from '../../src/time/clock.js';
import { captureLogger, WARN } from '../helpers/log-capture.js';
import { processesWith, uniqueMarker } from '../helpers/commands-harness.js';
import { realCommandRunner } from '../helpers/real-runner.js';

/** Command streams with real child processes and the real clock (short timeouts). */
const dir = mkdtempSync(join(tmpdir(), 'iottly-cmd-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function source(command: string, timeoutMs = 2000, extra: { graceMs?: number } = {}) {
  return new CommandSource({
    name: 'vendor',
    command,
    timeoutMs,
    runner: realCommandRunner(),
    env: childBaseEnv(process.env),
    ...extra,
  });
}

/** Running, as opposed to gone or a zombie waiting for a reaper (which is dead for us). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

describe('command stream', () => {
  it("takes the first number of the command's stdout", async () => {
    assert.equal(await source(`echo "temp=48.3'C"`).read(), 48.3);
    assert.equal(await source('printf "  -12.5e1 units\\n"').read(), -125);
  });

  it('fails with the exit status and stderr, or when no number is printed', async () => {
    await assert.rejects(
      source('echo broken >&2; exit 3').read(),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, SampleErrorCode.readFailed);
        assert.match(err.message, /exited with 3: broken/);
        return true;
      },
    );
    await assert.rejects(source('echo n/a').read(), /printed no number/);
  });

  it('kills a command that hangs at its timeout, with everything it started', async () => {
    const pidFile = join(dir, 'sleeper.pid');
    const hanging = source(`sleep 30 & echo $! > ${pidFile}; wait`, 200, { graceMs: 300 });
    const started = Date.now();
    await assert.rejects(hanging.read(), (err: Error & { code?: string }) => {
      assert.equal(err.code, SampleErrorCode.timeout);
      assert.match(err.message, /did not finish within 200 ms/);
      return true;
    });
    // Timeout and grace are 0.5 s; the sleep would take 30 s. 10 s tells them apart under load.
    assert.ok(Date.now() - started < 10_000, 'settles long before the command would end');
    assert.ok(existsSync(pidFile));
    const sleeper = Number(readFileSync(pidFile, 'utf8'));
    assert.equal(alive(sleeper), false, 'the grandchild was killed too');
    assert.equal(hanging.running, false);
  });

  it('leaves no process of its group running when the command and what it forked outlive the timeout', async (t) => {
    const marker = uniqueMarker();
    t.after(() => {
      for (const pid of processesWith(marker)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // ended on its own meanwhile
        }
      }
    });
    const startedFile = join(dir, 'group.started');
    // Two children that ignore SIGTERM and hold no pipe of the agent's: one the shell's, one
    // forked away from it (its parent exits and init adopts it). SIGTERM ends only the shell
    // and its foreground sleep; the rest wait for SIGKILL to the group after the grace.
    const command = [
      `(trap '' TERM; exec sleep ${marker}) >/dev/null 2>&1 &`,
      `( (trap '' TERM; exec sleep ${marker}) >/dev/null 2>&1 & )`,
      `echo $$ > ${startedFile}`,
      `sleep ${marker}`,
    ].join('\n');
    await assert.rejects(
      source(command, 1000, { graceMs: 300 }).read(),
      (err: Error & { code?: string }) => err.code === SampleErrorCode.timeout,
    );
    const leader = Number(readFileSync(startedFile, 'utf8'));
    assert.throws(() => process.kill(leader, 0), { code: 'ESRCH' }, 'the shell is gone');
    assert.deepEqual(processesWith(marker), [], 'no sleep of its group is running');
  });

  it('refuses to run twice at once', async () => {
    const slow = source('sleep 0.2; echo 1');
    const first = slow.read();
    await assert.rejects(slow.read(), /still running/);
    assert.equal(await first, 1);
  });

  it('as a stream: a hanging command is reported once, its slots skipped, never overlapping', async () => {
    const { logger, lines } = captureLogger();
    const errors: string[] = [];
    const hanging = source('sleep 30', 150, { graceMs: 100 });
    const task = new StreamTask({
      source: hanging,
      clock: systemClock,
      logger,
      send: () => assert.fail('nothing to send'),
      reportError: (e) => errors.push(e.code),
    });
    task.apply({ intervalMs: 50, deadband: null }, 0);
    await new Promise((resolve) => setTimeout(resolve, 700)); // a few timeouts' worth of slots
    task.stop();
    hanging.close();
    assert.deepEqual(errors, [SampleErrorCode.timeout]);
    assert.equal(lines.filter((l) => l.level === WARN).length, 1);
    assert.ok(task.overlapsSkipped > 0, 'slots during a running command were skipped');
  });
});
