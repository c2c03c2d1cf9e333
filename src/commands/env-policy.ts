import { array, string, type Validator } from '../protocol/schema.js';

/**
 * Which environment variables a request may set while a command policy is set (`commands.allow`
 * or `commands.deny` non-empty). An allow list and a deny list together:
 *
 * - a name must match `commands.allowEnv` (exact names, `PREFIX*`, or `*` for any name); by
 *   default only locale, time zone and terminal size, which change how a program formats its
 *   output and nothing else;
 * - a name that can change which program runs, or what a shell, the dynamic loader or an
 *   interpreter loads, is refused even when `allowEnv` lists it (`PATH`, `SHELL`, `BASH_ENV`,
 *   `LD_PRELOAD`, `PYTHONPATH`, …). Compared without regard to case: refusing `path` costs
 *   nothing, and the list guards operators who widen `allowEnv`, so it errs on the safe side;
 * - a value may not be an exported shell function (`() { …`: old bash runs what follows), and
 *   the locale, zone and terminal names may not be file paths (they would load a file the
 *   request chose instead of an installed one).
 *
 * The allow list is the boundary: the steering list can never be complete (any program may read
 * any variable), it only keeps the names known to run code out even when `allowEnv` is wide.
 */
export const DEFAULT_ALLOW_ENV: readonly string[] = [
  'LANG',
  'LANGUAGE',
  'LC_*',
  'TZ',
  'TERM',
  'COLUMNS',
  'LINES',
  'NO_COLOR',
];

/** Exact names (upper case) that choose a program, or a file a program loads and obeys. */
const STEERING_NAMES = new Set([
  // Which program a name runs, and what the shell runs or sources on its own.
  'PATH',
  'SHELL',
  'ENV',
  'SHELLOPTS',
  'BASHOPTS',
  'PS1',
  'PS2',
  'PS3',
  'PS4',
  'PROMPT_COMMAND',
  'IFS',
  'CDPATH',
  'GLOBIGNORE',
  'EXECIGNORE',
  'FPATH',
  'ZDOTDIR',
  'INPUTRC',
  // The C library: character sets, locales, messages, time zones, resolver, allocator.
  'GCONV_PATH',
  'LOCPATH',
  'NLSPATH',
  'TZDIR',
  'HOSTALIASES',
  'LOCALDOMAIN',
  'GLIBC_TUNABLES',
  // Where programs find their rc and config files, which may name programs to run.
  'HOME',
  'TMPDIR',
  'TMP',
  'TEMP',
  'OPENSSL_CONF',
  'OPENSSL_ENGINES',
  'OPENSSL_MODULES',
  'TERMINFO',
  'TERMINFO_DIRS',
  'TERMCAP',
  'MAGIC',
  'KRB5_CONFIG',
  'CURL_HOME',
  'WGETRC',
  // Programs other programs start: editors, pagers (less runs `!cmd`), password helpers.
  'EDITOR',
  'VISUAL',
  'PAGER',
  'MANPAGER',
  'MANOPT',
  'BROWSER',
  'MORE',
  'SUDO_ASKPASS',
  'SSH_ASKPASS',
  // Interpreters and build tools.
  'PERL5LIB',
  'PERL5OPT',
  'PERLLIB',
  'PERL5DB',
  'RUBYLIB',
  'RUBYOPT',
  'GEM_HOME',
  'GEM_PATH',
  'CLASSPATH',
  'JAVA_TOOL_OPTIONS',
  'JDK_JAVA_OPTIONS',
  '_JAVA_OPTIONS',
  'MAKEFLAGS',
  'MFLAGS',
  'GNUMAKEFLAGS',
  'MAKEFILES',
  'CC',
  'CXX',
  'CPP',
]);

/** Name prefixes (upper case) of the same kind: whole families of such variables. */
const STEERING_PREFIXES = [
  'LD_', // dynamic loader: LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT…
  'DYLD_',
  'BASH_', // BASH_ENV, exported functions BASH_FUNC_name%%, BASH_XTRACEFD, BASH_LOADABLES_PATH
  'KSH_',
  'MALLOC_',
  'RESOLV_',
  'LESS', // LESS (options, +!cmd), LESSOPEN, LESSCLOSE, LESSKEY…
  'PYTHON',
  'PERL',
  'RUBY',
  'NODE_',
  'NPM_CONFIG_',
  'LUA_', // LUA_INIT runs code
  'JAVA_',
  'GIT_', // GIT_SSH_COMMAND, GIT_EXEC_PATH, GIT_CONFIG_*
  'XDG_', // XDG_CONFIG_HOME, XDG_DATA_DIRS…
  'SYSTEMD_', // SYSTEMD_PAGER, SYSTEMD_EDITOR
  'GTK_', // GTK_MODULES, GTK_PATH
  'GIO_',
  'GDK_',
  'GST_',
  'QT_',
];

/** True for a name that can change which program runs or what a program loads. */
export function steersProgram(name: string): boolean {
  const upper = name.toUpperCase();
  return STEERING_NAMES.has(upper) || STEERING_PREFIXES.some((p) => upper.startsWith(p));
}

/** Variables whose value names an installed locale, zone or terminal description. */
const NAMES_SYSTEM_DATA = /^(LANG|LANGUAGE|LC_[A-Z_]+|TZ|TERM)$/;

/** `/x`, `:/x` (TZ), `fr:/x` (LANGUAGE) or any `..` step: a path, not an installed name. */
function isPath(value: string): boolean {
  return (
    value.split(':').some((part) => part.startsWith('/')) || /(^|[/:])\.\.([/:]|$)/.test(value)
  );
}

/** Bash before 2014 (shellshock) runs what follows a function definition in any variable. */
const SHELL_FUNCTION = /^\s*\(\)/;

/** A request's variable name in a message: quoted, and bounded (it comes from the client). */
function quoted(name: string): string {
  return JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name);
}

export class EnvPolicy {
  readonly #names: Set<string>;
  readonly #prefixes: string[];
  readonly #any: boolean;

  constructor(allowEnv: readonly string[]) {
    this.#any = allowEnv.includes('*');
    this.#names = new Set(allowEnv.filter((entry) => !entry.endsWith('*')));
    this.#prefixes = allowEnv
      .filter((e) => e.endsWith('*') && e !== '*')
      .map((e) => e.slice(0, -1));
  }

  /** Why a request may not set `env`, or null when it may. Steering names are named first. */
  refusal(env: Readonly<Record<string, string>>): string | null {
    const steering = Object.keys(env).find(steersProgram);
    if (steering !== undefined) {
      return `env ${quoted(steering)} can change which program runs or what it loads`;
    }
    for (const [name, value] of Object.entries(env)) {
      if (!this.#allows(name)) return `env ${quoted(name)} is not in commands.allowEnv`;
      if (SHELL_FUNCTION.test(value)) {
        return `env ${quoted(name)} holds a shell function definition`;
      }
      if (NAMES_SYSTEM_DATA.test(name) && isPath(value)) {
        return `env ${quoted(name)} names a file; only installed locales, zones and terminals`;
      }
    }
    return null;
  }

  #allows(name: string): boolean {
    return this.#any || this.#names.has(name) || this.#prefixes.some((p) => name.startsWith(p));
  }
}

/** `commands.allowEnv`: variable names, `PREFIX*`, or `*`. */
export const allowEnvList: Validator<string[]> = array(
  string({ minLength: 1, maxLength: 200, pattern: /^(\*|[A-Za-z_][A-Za-z0-9_]*\*?)$/ }),
  { maxItems: 256 },
);
