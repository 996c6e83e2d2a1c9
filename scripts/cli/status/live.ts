/**
 * @module The two ways `hotpath status` runs. Live on a terminal: poll, redraw in place (cursor
 * home, each line cleared to its end, the rest of the screen cleared), wait, until `signal`
 * aborts (Ctrl-C); the cursor is hidden meanwhile and shown again however the loop ends. Once
 * (`--once`, `--json`, or stdout not a terminal): two polls an interval apart, since a rate, a
 * quantile or an SLO needs the difference between two sets of running totals.
 */
import { setTimeout as delay } from "node:timers/promises";
import { renderStatus } from "./render.ts";
import { newHistory, snapshotOf, type StatusSnapshot, type Summary } from "./snapshot.ts";

export const HIDE_CURSOR = "\x1b[?25l";
export const SHOW_CURSOR = "\x1b[?25h";
const CLEAR_SCREEN = "\x1b[2J";
const CURSOR_HOME = "\x1b[H";
const CLEAR_TO_LINE_END = "\x1b[K";
const CLEAR_BELOW = "\x1b[J";

export interface Terminal {
  write(text: string): unknown;
  rows?: number;
  columns?: number;
}

export interface StatusLoop {
  poll(): Promise<Summary>;
  intervalMs: number;
  /** The server, for the heading. */
  url: string;
  /** A failed poll as one line (the CLI's describeFailure). */
  describe(error: unknown): string;
}

/** Waits `ms`, or less when `signal` aborts; never rejects. */
const pause = (ms: number, signal?: AbortSignal): Promise<void> => delay(ms, undefined, { signal }).catch(() => undefined);

/** Two polls `intervalMs` apart; a failed poll rejects (the command's one-line error). */
export async function statusOnce(loop: StatusLoop): Promise<StatusSnapshot> {
  const history = newHistory();
  history.add(await loop.poll());
  await pause(loop.intervalMs);
  const latest = await loop.poll();
  return snapshotOf(latest, history.add(latest));
}

/** One frame that fits the screen: lines cut at its width (a wrapped line would push the frame down) and its height. */
function frameOf(text: string, out: Terminal): string {
  let lines = text.split("\n");
  if (out.rows !== undefined && out.rows > 1) lines = lines.slice(0, out.rows - 1);
  if (out.columns !== undefined && out.columns > 0) lines = lines.map((line) => line.slice(0, out.columns));
  return `${CURSOR_HOME}${lines.map((line) => `${line}${CLEAR_TO_LINE_END}`).join("\n")}\n${CLEAR_BELOW}`;
}

/**
 * Redraws until `signal` aborts. The first poll failing rejects (nothing to show: the command's
 * one-line error); a later failure is shown under the heading and the polls go on, so a server
 * restarting mid-watch comes back on screen by itself.
 */
export async function statusLive(loop: StatusLoop, out: Terminal, signal: AbortSignal): Promise<void> {
  const history = newHistory();
  out.write(`${HIDE_CURSOR}${CLEAR_SCREEN}`);
  try {
    const first = await loop.poll();
    let snapshot = snapshotOf(first, history.add(first));
    let note: string | undefined = "waiting for a second poll to measure rates";
    while (!signal.aborted) {
      out.write(frameOf(renderStatus(snapshot, loop.url, note), out));
      await pause(loop.intervalMs, signal);
      if (signal.aborted) break;
      try {
        const summary = await loop.poll();
        snapshot = snapshotOf(summary, history.add(summary));
        note = undefined;
      } catch (error) {
        note = `error: ${loop.describe(error)} (retrying every ${loop.intervalMs / 1000} s)`;
      }
    }
  } finally {
    out.write(`${SHOW_CURSOR}\n`);
  }
}
