/** @module How commands answer: `--json` prints the value as JSON, otherwise aligned tables and short lines for people. */

export type Cell = string | number | boolean | undefined | null;

/** Columns padded to their widest cell, two spaces apart, headers in capitals; the last column is not padded. */
export function table(headers: string[], rows: Cell[][]): string {
  const text = [headers.map((h) => h.toUpperCase()), ...rows.map((row) => row.map((cell) => (cell === undefined || cell === null ? "-" : String(cell))))];
  const widths = headers.map((_, column) => Math.max(...text.map((row) => (row[column] ?? "").length)));
  return text.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join("  ")).join("\n");
}

/** Label and value pairs, the labels aligned: one record (a tenant, a model version). */
export function fields(pairs: [string, Cell][]): string {
  const width = Math.max(...pairs.map(([label]) => label.length));
  return pairs.map(([label, value]) => `${`${label}:`.padEnd(width + 1)} ${value === undefined || value === null ? "-" : String(value)}`).join("\n");
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${bytes} B`;
}

/** An error measure in three significant digits, in exponent form below 0.01 (`4.2e-4` reads better than `0.000420`). */
export function formatError(value: number): string {
  return value !== 0 && Math.abs(value) < 0.01 ? value.toExponential(1) : String(Number(value.toPrecision(3)));
}

export function formatTime(epochMs: number | undefined): string {
  return epochMs === undefined ? "-" : new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The command's answer on stdout: `json` as JSON when --json was given, else what `human` renders. */
export function answer<T>(json: boolean, value: T, human: (value: T) => string): void {
  process.stdout.write(`${json ? JSON.stringify(value, null, 2) : human(value)}\n`);
}
