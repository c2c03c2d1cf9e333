/**
 * A terminal's window size, in character cells. Bounded on the wire (`MAX_TERMINAL_CELLS`,
 * protocol/sessions.ts) so that a hostile `session_resize` cannot ask for a screen of four
 * billion cells.
 */
export interface TerminalSize {
  rows: number;
  cols: number;
}

/** The `stty` words that set a size (the numbers are validated integers: no quoting needed). */
export function sizeWords(size: TerminalSize): string[] {
  return ['rows', String(size.rows), 'cols', String(size.cols)];
}

/** `stty rows R cols C` for the line `script` runs, on its own terminal (stdin). */
export function sttyLine(sttyPath: string, size: TerminalSize): string {
  return [sttyPath, ...sizeWords(size)].join(' ');
}

/** `stty -F TTY rows R cols C`: the size of a terminal the agent does not sit on. */
export function sttyResizeArgv(sttyPath: string, tty: string, size: TerminalSize): string[] {
  return [sttyPath, '-F', tty, ...sizeWords(size)];
}
