import { accessSync, constants, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { AgentConfig } from '../config/load.js';
import { parsePublicKey } from '../protocol/update-signature.js';
import type { Clock } from '../time/clock.js';
import { installPaths } from '../update/install-paths.js';
import { UpdateFeature } from '../update/update-feature.js';

/** What the update feature needs from the process that runs it (src/cli.ts gives the real ones). */
export interface UpdateHost {
  /** The running program: the single binary's path when `singleExecutable`. */
  execPath: string;
  singleExecutable: boolean;
  /** Stops the agent and exits with the restart code. */
  requestRestart: (reason: string) => void;
  /** dpkg's database of installed files (tests point it elsewhere). Default /var/lib/dpkg/info. */
  dpkgInfoDir?: string;
}

export const DEB_PACKAGE = 'iottly-agent';

/**
 * The update feature from configuration. Which file it may replace is decided here, never by the
 * hub: `update.binaryPath`, else the running single binary, resolved through symlinks (the swap
 * happens in the real file's folder). A binary dpkg owns is not swapped: apt would then hold a
 * package whose files are not what it installed, and the next `apt upgrade` would silently put
 * its own back; such devices update with apt (README "Updating the agent").
 */
export function createUpdateFeature(
  config: AgentConfig,
  deps: { clock: Clock; version: string; arch: string; host: UpdateHost | undefined },
): UpdateFeature {
  const { host } = deps;
  const where = locate(config.update.binaryPath, host);
  return new UpdateFeature({
    settings: {
      enabled: config.update.enabled,
      publicKeys: config.update.publicKeys.map(parsePublicKey),
      healthTimeoutS: config.update.healthTimeoutS,
      maxStarts: config.update.maxStarts,
      maxBytes: config.update.maxBytes,
    },
    paths: where.binary === null ? null : installPaths(where.binary),
    denied: where.denied,
    version: deps.version,
    arch: deps.arch,
    clock: deps.clock,
    requestRestart: host?.requestRestart ?? (() => {}),
  });
}

function locate(
  configured: string,
  host: UpdateHost | undefined,
): { binary: string | null; denied: string | null } {
  if (host === undefined)
    return { binary: null, denied: 'this agent runs in-process: it cannot restart itself' };
  const given = configured !== '' ? configured : host.singleExecutable ? host.execPath : '';
  if (given === '')
    return {
      binary: null,
      denied:
        'this agent runs from node and dist/, not the single binary: set update.binaryPath to update it',
    };
  let binary: string;
  try {
    binary = realpathSync(given);
  } catch (err) {
    return { binary: null, denied: `cannot find the binary ${given}: ${(err as Error).message}` };
  }
  if (ownedByDpkg(binary, host.dpkgInfoDir ?? '/var/lib/dpkg/info'))
    return {
      binary,
      denied: `${binary} belongs to the ${DEB_PACKAGE} .deb package: update it with apt (apt install ./${DEB_PACKAGE}_VERSION_ARCH.deb)`,
    };
  try {
    accessSync(dirname(binary), constants.W_OK);
  } catch {
    return {
      binary,
      denied: `the agent cannot write ${dirname(binary)}, where its binary is (install with scripts/install.sh, which makes it the agent's)`,
    };
  }
  return { binary, denied: null };
}

function ownedByDpkg(binary: string, infoDir: string): boolean {
  try {
    return readFileSync(join(infoDir, `${DEB_PACKAGE}.list`), 'utf8')
      .split('\n')
      .includes(binary);
  } catch {
    return false;
  }
}
