/** @module A one-line byte progress bar (percent, MB, MB/s); plain occasional lines off a TTY. */

export interface ProgressOptions {
  label: string;
  total: number;
  /** Defaults to stdout; anything with write() and an optional isTTY/columns. */
  stream?: { write(text: string): unknown; isTTY?: boolean; columns?: number };
}

export interface Progress {
  update(done: number): void;
  /** Prints the final state; call once, on success or failure. */
  finish(note?: string): void;
}

const MB = 1e6;
/** Redrawing more often than this only costs terminal throughput. */
const TTY_REDRAW_MS = 100;
/** Off a TTY (CI logs, pipes), one line per quarter keeps logs readable. */
const PLAIN_STEP = 0.25;

export function formatBytes(bytes: number): string {
  return bytes >= MB ? `${(bytes / MB).toFixed(1)} MB` : `${(bytes / 1e3).toFixed(1)} kB`;
}

export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stdout;
  const tty = stream.isTTY === true;
  const total = Math.max(options.total, 1);
  const started = performance.now();
  let done = 0;
  /** When `done` last grew: the rate stops there, so server-side work after the last byte does not dilute it. */
  let lastGrowth = started;
  let lastDraw = -Infinity;
  let nextPlainStep = PLAIN_STEP;
  let finished = false;

  const describe = (): string => {
    const seconds = Math.max((lastGrowth - started) / 1000, 1e-3);
    const percent = Math.min(100, (done / total) * 100);
    return `${percent.toFixed(0).padStart(3)}% ${formatBytes(done)} / ${formatBytes(options.total)} ${(done / MB / seconds).toFixed(1)} MB/s`;
  };

  const drawTty = (): void => {
    const stats = describe();
    const columns = stream.columns || 80; // 0 when the terminal size is unknown
    const barWidth = Math.max(10, Math.min(30, columns - options.label.length - stats.length - 6));
    const filled = Math.round((Math.min(done, total) / total) * barWidth);
    const line = `${options.label} [${"#".repeat(filled)}${"-".repeat(barWidth - filled)}] ${stats}`;
    // \r plus erase-to-end-of-line: the new line may be shorter than the previous one.
    stream.write(`\r${line.slice(0, columns - 1)}\x1b[K`);
  };

  return {
    update(value: number): void {
      if (value > done) lastGrowth = performance.now();
      done = value;
      if (finished) return;
      const now = performance.now();
      if (tty) {
        if (now - lastDraw >= TTY_REDRAW_MS) {
          lastDraw = now;
          drawTty();
        }
        return;
      }
      if (done / total >= nextPlainStep && done < total) {
        while (done / total >= nextPlainStep) nextPlainStep += PLAIN_STEP;
        stream.write(`${options.label} ${describe()}\n`);
      }
    },
    finish(note?: string): void {
      if (finished) return;
      finished = true;
      const elapsed = `in ${((performance.now() - started) / 1000).toFixed(1)} s`;
      const suffix = note ? ` ${note} ${elapsed}` : ` ${elapsed}`;
      if (tty) {
        drawTty();
        stream.write(`${suffix}\n`);
      } else {
        stream.write(`${options.label} ${describe()}${suffix}\n`);
      }
    },
  };
}
