/**
 * `pty: true`: the command runs under a pseudo-terminal made by util-linux `script`, so
 * programs that want a terminal (top, less, a REPL) behave as on a console, without a native
 * addon. stdout and stderr arrive merged on stdout, with the terminal's CR LF line ends.
 *
 * `script` starts the command in a session of its own; closing the terminal sends it SIGHUP
 * when `script` is ended with the command's group.
 */
export const SCRIPT_PATH = '/usr/bin/script';

/**
 * The shell `script` starts the line with: it runs `$SHELL -c LINE` from its own environment,
 * so SHELL is set to this one whatever the request's `env` says (a request's `SHELL=/bin/bash`
 * with `BASH_ENV` would otherwise run what BASH_ENV names). /bin/sh, as for every shell line.
 */
export const PTY_SHELL = '/bin/sh';

/** Quotes one word for /bin/sh: inside single quotes only `'` itself needs care. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export function ptyArgv(line: string, scriptPath = SCRIPT_PATH): string[] {
  // -q: no start/done banners; -e: exit with the command's status; -f: flush each write;
  // /dev/null: no typescript file.
  return [scriptPath, '-q', '-e', '-f', '-c', line, '/dev/null'];
}
