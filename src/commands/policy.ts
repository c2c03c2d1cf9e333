/**
 * Which command lines may run. `deny` always wins; with an `allow` list set, a line must match
 * one of its expressions, and a shell line must be plain words unless `allowShell` is set: a
 * pattern like `^systemctl status ` would otherwise also pass `systemctl status x; rm -rf /`.
 */
export interface PolicyOptions {
  enabled: boolean;
  allow: readonly string[];
  deny: readonly string[];
  allowShell: boolean;
}

export type PolicyDecision = { allowed: true } | { allowed: false; reason: string };

/** Characters that make `/bin/sh -c` do more than run one program with literal arguments. */
export const SHELL_METACHARACTERS = /[;&|<>()$`\\"'*?[\]{}~#\n\r\t]/;

/** The line a policy judges: the shell line as given, or argv joined with spaces. */
export function commandLine(request: { command?: string; argv?: readonly string[] }): string {
  return request.command ?? (request.argv ?? []).join(' ');
}

export class CommandPolicy {
  readonly #o: PolicyOptions;
  readonly #allow: RegExp[];
  readonly #deny: RegExp[];

  constructor(options: PolicyOptions) {
    this.#o = options;
    this.#allow = options.allow.map((source) => new RegExp(source));
    this.#deny = options.deny.map((source) => new RegExp(source));
  }

  get enabled(): boolean {
    return this.#o.enabled;
  }

  check(request: { command?: string; argv?: readonly string[] }): PolicyDecision {
    if (!this.#o.enabled) return refuse('remote commands are disabled on this device');
    const line = commandLine(request);
    const denied = this.#deny.find((re) => re.test(line));
    if (denied) return refuse(`matches deny pattern ${denied}`);
    if (this.#allow.length === 0) return { allowed: true };
    if (request.command !== undefined && !this.#o.allowShell && SHELL_METACHARACTERS.test(line)) {
      return refuse(
        'shell metacharacters are not allowed with an allow list (send argv, or set commands.allowShell)',
      );
    }
    if (!this.#allow.some((re) => re.test(line))) return refuse('matches no allow pattern');
    return { allowed: true };
  }
}

function refuse(reason: string): PolicyDecision {
  return { allowed: false, reason };
}
