import { EnvPolicy } from './env-policy.js';

/**
 * Which commands may run. `deny` always wins; with an `allow` list set, a line must match
 * one of its expressions, and a shell line must be plain words unless `allowShell` is set: a
 * pattern like `^systemctl status ` would otherwise also pass `systemctl status x; rm -rf /`.
 *
 * A policy is set when `allow` or `deny` is non-empty. Then the request's other fields may not
 * change which program the line names: its `env` is judged by `EnvPolicy` (no PATH, SHELL,
 * LD_PRELOAD…), and a program given as a relative path (`./x`, `bin/x`) is refused when the
 * request also chooses the `cwd` it would be found from. (Programs named without a `/` are
 * looked up in the agent's own PATH: see program-path.ts.)
 */
export interface PolicyOptions {
  enabled: boolean;
  allow: readonly string[];
  deny: readonly string[];
  allowShell: boolean;
  /** Variables a request may set while a policy is set (see env-policy.ts). */
  allowEnv: readonly string[];
}

/** The fields of a `command` request a policy judges. */
export interface PolicyRequest {
  command?: string;
  argv?: readonly string[];
  env?: Readonly<Record<string, string>>;
  cwd?: string;
}

export type PolicyDecision = { allowed: true } | { allowed: false; reason: string };

/** Characters that make `/bin/sh -c` do more than run one program with literal arguments. */
export const SHELL_METACHARACTERS = /[;&|<>()$`\\"'*?[\]{}~#\n\r\t]/;

/** A shell word that sets a variable for the program after it (`LD_PRELOAD=x ls`). */
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;

/** The line a policy judges: the shell line as given, or argv joined with spaces. */
export function commandLine(request: { command?: string; argv?: readonly string[] }): string {
  return request.command ?? (request.argv ?? []).join(' ');
}

/** The program a request names: argv[0], or the first word of a shell line. */
function programWord(request: PolicyRequest): string {
  return request.argv?.[0] ?? (request.command ?? '').trim().split(/\s+/)[0] ?? '';
}

export class CommandPolicy {
  readonly #o: PolicyOptions;
  readonly #allow: RegExp[];
  readonly #deny: RegExp[];
  readonly #env: EnvPolicy;

  constructor(options: PolicyOptions) {
    this.#o = options;
    this.#allow = options.allow.map((source) => new RegExp(source));
    this.#deny = options.deny.map((source) => new RegExp(source));
    this.#env = new EnvPolicy(options.allowEnv);
  }

  get enabled(): boolean {
    return this.#o.enabled;
  }

  check(request: PolicyRequest): PolicyDecision {
    if (!this.#o.enabled) return refuse('remote commands are disabled on this device');
    // Without lists any program may run, so the environment cannot widen anything.
    if (this.#allow.length === 0 && this.#deny.length === 0) return { allowed: true };
    const line = commandLine(request);
    const denied = this.#deny.find((re) => re.test(line));
    if (denied) return refuse(`matches deny pattern ${denied}`);
    const envRefusal = this.#env.refusal(request.env ?? {});
    if (envRefusal !== null) return refuse(envRefusal);
    const program = programWord(request);
    if (request.cwd !== undefined && program.includes('/') && !program.startsWith('/')) {
      return refuse(
        `program ${JSON.stringify(program.slice(0, 200))} is relative to the request's cwd (name it by its absolute path)`,
      );
    }
    if (this.#allow.length === 0) return { allowed: true };
    if (request.command !== undefined && !this.#o.allowShell) {
      if (SHELL_METACHARACTERS.test(line)) {
        return refuse(
          'shell metacharacters are not allowed with an allow list (send argv, or set commands.allowShell)',
        );
      }
      if (ASSIGNMENT.test(program)) {
        return refuse(
          `variable assignment ${JSON.stringify(program.slice(0, 200))} before the program is not allowed with an allow list (send env)`,
        );
      }
    }
    if (!this.#allow.some((re) => re.test(line))) return refuse('matches no allow pattern');
    return { allowed: true };
  }
}

function refuse(reason: string): PolicyDecision {
  return { allowed: false, reason };
}
