/**
 * @module The load an origin reports (the x-hotpath-load header on every answer, `load` in its
 * ready body), read defensively: an origin may be any OIP server, and a figure that is missing
 * or not a number counts as 0, never as an error.
 */
import type { HostLoad } from "../../durable-objects/model-host/contract.ts";

export function loadFrom(value: unknown): HostLoad | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const load = value as Partial<Record<keyof HostLoad, unknown>>;
  const number = (figure: unknown) => (typeof figure === "number" && Number.isFinite(figure) && figure >= 0 ? figure : 0);
  // Origins that are not ours send no per-priority waits.
  const waits = typeof load.waitAheadMs === "object" && load.waitAheadMs !== null ? Object.entries(load.waitAheadMs) : [];
  return {
    queued: number(load.queued),
    running: number(load.running),
    backlogMs: number(load.backlogMs),
    waitAheadMs: Object.fromEntries(
      waits.filter(([priority]) => Number.isSafeInteger(Number(priority))).map(([priority, ms]) => [Number(priority), number(ms)]),
    ),
    gapMs: number(load.gapMs),
  };
}
