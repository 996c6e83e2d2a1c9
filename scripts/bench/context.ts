/** @module What every benchmark scenario gets (options, progress, stack bookkeeping) and gives back (markdown, JSON, charts). */
import { Stack, type StackOptions } from "./stack.ts";

export interface ScenarioContext {
  quick: boolean;
  /** Progress lines (stderr), so stdout stays the markdown report. */
  log: (line: string) => void;
  /** Starts a stack that is stopped when the scenario ends, however it ends. */
  startStack: (options: StackOptions) => Promise<Stack>;
  /** Aborted on Ctrl-C: loops stop sending and the scenario should return or throw soon. */
  signal: AbortSignal;
}

export interface ScenarioResult {
  name: string;
  /** Markdown for BENCHMARKS.md: tables and a line or two on the targets. */
  markdown: string;
  /** Everything measured, for results.json. */
  data: unknown;
  /** File name (under .hotpath/bench/) -> SVG text. */
  charts: Record<string, string>;
}

export type Scenario = (context: ScenarioContext) => Promise<ScenarioResult>;

/** Ports for the benchmark's own stacks (the overload e2e test uses 885x). */
export const PORTS = { overhead: 8821, overloadTiered: 8822, overloadFifo: 8823, batching: 8824 } as const;

/** Keeps the stacks a scenario started so the runner can stop them on failure or Ctrl-C. */
export class StackPool {
  readonly #running = new Set<Stack>();

  async start(options: StackOptions): Promise<Stack> {
    const stack = await Stack.start(options);
    this.#running.add(stack);
    return stack;
  }

  async stopAll(): Promise<void> {
    const stacks = [...this.#running];
    this.#running.clear();
    const results = await Promise.allSettled(stacks.map((s) => s.stop()));
    for (const r of results) if (r.status === "rejected") console.error(`stopping a stack failed: ${String(r.reason)}`);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
