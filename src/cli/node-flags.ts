/**
 * The Node (V8) flags a device's agent runs with, in one place: systemd/iottly-agent.service
 * sets them as `NODE_OPTIONS` (a unit test holds the two equal), and README says how to give
 * them to an agent started by hand.
 *
 * Why in the unit and not in the program: V8 sizes its heap when the isolate is created, before
 * any of our code runs. `v8.setFlagsFromString('--max-old-space-size=…')` after that is accepted
 * and changes nothing (heap_size_limit stays where it was). And not in the single binary's
 * sea-config `execArgv`: the same binary runs `iottly-agent hub`, whose heap must not get a
 * device's cap (a 1,000,000-device token file alone keeps 140 MiB live), and Node 20.11 (the
 * armv7l build) has no `execArgv`. `NODE_OPTIONS` reaches every build under the unit.
 *
 * Why `--max-old-space-size=128`, and what it does not do: it is a ceiling, not a diet. Without
 * it V8 sizes the heap's maximum from the machine's memory (4,144 MiB on the 24 GiB test
 * machine), so a leak would grow until the device swaps or the kernel's OOM killer picks a
 * process; with it V8 aborts the agent ("heap out of memory") near 128 MiB of old generation
 * and systemd restarts it. 128 MiB is ten times the heap the agent keeps alive under the soak
 * (11–12 MiB after a full collection) and leaves room for its byte budgets at their defaults
 * (SDK apps' queues 16 MiB, commands' unacknowledged output 2 MiB, the memory-first spool 4 MiB).
 * It does not lower the steady state: in 10-minute soaks V8 committed the same 19.2–19.4 MiB of
 * heap with and without it (README "Soak" has the figures).
 *
 * Why `--v8-pool-size=1`: V8's background threads (4 by default: concurrent marking, sweeping,
 * compiling) each touch their own stack and malloc arena. With one, the agent's RssAnon over
 * the last 2 minutes of 10-minute soaks was 23.6–25.1 and 24.8–26.3 MiB, against 25.7–31.8 MiB
 * in five runs without it (2 with 2 threads: 25.9–27.4), for about 0.1 % of a core more (1.16–
 * 1.20 % against 1.00–1.16 %): a device's agent has little to do in parallel.
 *
 * What is left out, measured in the same soaks: `--max-semi-space-size=1` (V8 already keeps the
 * young generation small at this allocation rate; RssAnon ended higher), `MALLOC_ARENA_MAX=2`
 * (no change beyond noise), and `--optimize-for-size`, `--lite-mode`, `--jitless`, which trade
 * CPU a device pays all day for a few MiB and are refused in NODE_OPTIONS (but `--jitless`).
 */
export const DEVICE_NODE_FLAGS: readonly string[] = [
  '--max-old-space-size=128',
  '--v8-pool-size=1',
];

/** The value of `NODE_OPTIONS` the unit sets. */
export const DEVICE_NODE_OPTIONS = DEVICE_NODE_FLAGS.join(' ');

/**
 * Removes `NODE_OPTIONS` from the agent's environment when it is exactly the unit's, so the
 * commands the agent runs (a Node program an operator starts among them) do not inherit a
 * device agent's heap cap. Any other value was set by the operator for a reason and is kept.
 */
export function takeDeviceNodeOptions(env: NodeJS.ProcessEnv): boolean {
  if (env.NODE_OPTIONS !== DEVICE_NODE_OPTIONS) return false;
  delete env.NODE_OPTIONS;
  return true;
}
