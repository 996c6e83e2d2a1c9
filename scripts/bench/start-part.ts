/** @module What each part of the `start` scenario gets (the running `npm start` stack) and gives back (a table with targets, data). */
import type { NpmStartStack } from "./npm-start-stack.ts";
import { table } from "./stats.ts";

export interface PartContext {
  stack: NpmStartStack;
  quick: boolean;
  log: (line: string) => void;
  signal: AbortSignal;
}

export interface Target {
  what: string;
  measured: string;
  target: string;
  met: boolean;
}

export interface PartResult {
  title: string;
  /** How it was measured, a paragraph. */
  method: string;
  /** Figures besides the targets (a markdown table or lines); empty when there are none. */
  details: string;
  targets: Target[];
  data: unknown;
  /** SVG files by name, written to .hotpath/bench/ with the report. */
  charts?: Record<string, string>;
}

export function partMarkdown(part: PartResult): string {
  const targets = table(
    ["measured", "value", "target", "met"],
    part.targets.map((t) => [t.what, t.measured, t.target, t.met ? "**met**" : "**not met**"]),
  );
  // A part that only explains (no targets) is its method and figures.
  return [`#### ${part.title}`, "", part.method, ...(part.targets.length > 0 ? ["", targets] : []), ...(part.details ? ["", part.details] : [])].join("\n");
}

/** Bearer key and JSON content type, the headers of the banner's curl line. */
export const jsonHeaders = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}`, "content-type": "application/json" });
