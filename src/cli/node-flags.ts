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
 * Why `--max-old-space-size`: V8 picks how far the old generation may grow past what survived
 * its last full collection from the heap's maximum, which it derives from the machine's memory
 * unless told. Up to 256 MiB (64-bit; 128 MiB on 32-bit) it lets the heap grow by a factor of
 * 1.3; from 2 GiB it allows 4. On a server-sized machine the agent therefore commits heap for
 * many minutes before its first full collection and settles far above what it keeps alive; a
 * 64 MiB maximum gives it a small device's factor on every machine, and a hard ceiling five
 * times the heap the agent keeps under load (about 12 MiB in the soak). Beyond it V8 aborts the
 * process ("heap out of memory") and systemd restarts it: a leak ends in a restart, not in the
 * device swapping.
 *
 * What is left out, measured in the soak (README "Soak"): `--max-semi-space-size` (V8 keeps the
 * young generation at 1 MiB semi-spaces under this load anyway), and `--optimize-for-size`,
 * `--lite-mode`, `--jitless` (only the first is even allowed in NODE_OPTIONS; they trade CPU,
 * which a device pays all day, for a few MiB of code space).
 */
export const DEVICE_NODE_FLAGS: readonly string[] = ['--max-old-space-size=64'];

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
