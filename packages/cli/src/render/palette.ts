/** ANSI styling that switches itself off for pipes, `NO_COLOR` and `TERM=dumb`. */
export interface Palette {
  readonly enabled: boolean;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

/**
 * Colours only when writing to a TTY and neither `NO_COLOR` (any value, https://no-color.org) nor
 * `TERM=dumb` is set; `FORCE_COLOR` (non-empty, not `0`) turns them on regardless.
 */
export function createPalette(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Palette {
  const forced = env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '' && env.FORCE_COLOR !== '0';
  const enabled = forced || (stream.isTTY === true && env.NO_COLOR === undefined && env.TERM !== 'dumb');
  const style = (open: number, close: number) => (text: string) =>
    enabled ? `\u001b[${open}m${text}\u001b[${close}m` : text;
  return {
    enabled,
    red: style(31, 39),
    green: style(32, 39),
    yellow: style(33, 39),
    cyan: style(36, 39),
    dim: style(2, 22),
    bold: style(1, 22),
  };
}

/** SGR escape sequences, as the palette writes them. */
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[\d+m/g;

/** Visible length of `text`: ANSI escapes take no room. */
function visibleLength(text: string): number {
  return text.replace(ANSI, '').length;
}

/** Pads to `width` ignoring ANSI escapes. */
export function pad(text: string, width: number): string {
  const visible = visibleLength(text);
  return visible >= width ? text : text + ' '.repeat(width - visible);
}

/** Renders rows as aligned columns (two spaces apart). */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell))));
  return rows
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : pad(cell, widths[i]!))).join('  '))
    .join('\n');
}
