/** @module What every benchmark scenario gets (options, progress, stack bookkeeping) and gives back (markdown, JSON, charts). */
import { Stack, type StackOptions } from "./stack.ts";

export interface ScenarioContext {
  quick: boolean;
  /** Progress lines (stderr), so stdout stays the markdown report. */
  log: (line: string) => void;
  /** Starts a stack that is stopped when the scenario ends, however it ends. */
  startStack: (options: StackOptions) => Promise<Stack>;
  /** Stops `process` (an origin, a stand-in edge) when the scenario ends, however it ends. */
  track: <T extends Stoppable>(process: T) => T;
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

/** Ports for the benchmark's own stacks and origins (the overload e2e test uses 885x). */
export const PORTS = {
  overhead: 8821,
  overloadTiered: 8822,
  overloadFifo: 8823,
  batching: 8824,
  originBatchingEdge: 8825,
  originBatchingOn: 8826,
  originBatchingOff: 8827,
  spillWithPool: 8828,
  spillWithoutPool: 8829,
  spillOrigin: 8830,
  originEpEdge: 8831,
  originEpCpu: 8832,
  originEpWebgpu: 8833,
  cost: 8834,
  overloadTieredHost: 8835,
  overloadFifoHost: 8836,
  functions: 8837,
  functionsPlain: 8838,
  /** The `start` scenario: scripts/start.ts's edge and origin, and the plain peer. */
  startEdge: 8861,
  startOrigin: 8862,
  startPlain: 8863,
  /** The `variants` scenario: its own `npm start` stack's edge and origin. */
  variantsEdge: 8864,
  variantsOrigin: 8865,
} as const;

export interface Stoppable {
  stop(): Promise<unknown>;
}

/** Keeps the stacks and processes a scenario started so the runner can stop them on failure or Ctrl-C. */
export class StackPool {
  readonly #running = new Set<Stoppable>();

  async start(options: StackOptions): Promise<Stack> {
    const stack = await Stack.start(options);
    this.#running.add(stack);
    return stack;
  }

  track<T extends Stoppable>(process: T): T {
    this.#running.add(process);
    return process;
  }

  async stopAll(): Promise<void> {
    const stacks = [...this.#running];
    this.#running.clear();
    const results = await Promise.allSettled(stacks.map((s) => s.stop()));
    for (const r of results) if (r.status === "rejected") console.error(`stopping a stack failed: ${String(r.reason)}`);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
