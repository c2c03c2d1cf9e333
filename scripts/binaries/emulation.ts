import type { Target } from './targets.js';

/**
 * How to run a target's executable on this host: directly when the architectures match,
 * otherwise under qemu-user against the cross C libraries Debian ships in /usr/<triplet>.
 */
export interface Invocation {
  command: string;
  args: string[];
}

export function invocation(
  target: Target,
  executable: string,
  args: string[],
  hostArch: string = process.arch,
): Invocation {
  if (target.nodeArch === hostArch) return { command: executable, args };
  return {
    command: target.qemu.command,
    args: ['-L', target.qemu.sysroot, executable, ...args],
  };
}

export function isEmulated(target: Target, hostArch: string = process.arch): boolean {
  return target.nodeArch !== hostArch;
}
