/**
 * @module Upload progress on stderr (stdout stays the command's answer, `--json` included): a
 * cli-progress bar on a terminal; elsewhere (CI logs, pipes, tests) a plain line at every tenth.
 */
import { SingleBar } from "cli-progress";
import { formatBytes } from "./output.ts";

export interface UploadProgress {
  update(sent: number): void;
  /** Ends the bar or the lines, on success or failure; call once. */
  finish(outcome: string): void;
}

export interface ProgressStream extends NodeJS.WritableStream {
  isTTY?: boolean;
}

/** Off a terminal, one line per this fraction of the file. */
const PLAIN_STEP_PERCENT = 10;

export function uploadProgress(label: string, total: number, stream: ProgressStream = process.stderr): UploadProgress {
  return stream.isTTY === true ? terminalBar(label, total, stream) : plainLines(label, total, stream);
}

function terminalBar(label: string, total: number, stream: ProgressStream): UploadProgress {
  const bar = new SingleBar({
    stream,
    format: `${label} [{bar}] {percentage}% | {sent} of {size} | {duration_formatted}`,
    barCompleteChar: "#",
    barIncompleteChar: "-",
    // A Ctrl-C mid-upload would leave a hidden cursor behind.
    hideCursor: false,
    fps: 10,
  });
  bar.start(total, 0, { sent: formatBytes(0), size: formatBytes(total) });
  let stopped = false;
  return {
    update: (sent) => {
      if (!stopped) bar.update(sent, { sent: formatBytes(sent) });
    },
    finish: (outcome) => {
      if (stopped) return;
      stopped = true;
      bar.stop();
      stream.write(`${label}: ${outcome}\n`);
    },
  };
}

function plainLines(label: string, total: number, stream: ProgressStream): UploadProgress {
  let nextPercent = 0;
  let finished = false;
  return {
    update: (sent) => {
      if (finished) return;
      const percent = Math.floor((Math.min(sent, total) / Math.max(total, 1)) * 100);
      if (percent < nextPercent) return;
      nextPercent = (Math.floor(percent / PLAIN_STEP_PERCENT) + 1) * PLAIN_STEP_PERCENT;
      stream.write(`${label}: ${percent}% (${formatBytes(sent)} of ${formatBytes(total)})\n`);
    },
    finish: (outcome) => {
      if (finished) return;
      finished = true;
      stream.write(`${label}: ${outcome}\n`);
    },
  };
}
