/**
 * @module The host loops a ModelHost runs as jobs, by name (contract.ts, HostLoop): listed at
 * build time, so a job names code the host already has and never carries any.
 */
import type { HostLoop } from "./contract.ts";
import { sileroVadLoop } from "./vad/silero.ts";

// Method parameters are bivariant, so each loop's own payload type fits `unknown` here; the host
// only ever hands a loop the payload its own plan() returned.
const LOOPS: readonly HostLoop<unknown, unknown>[] = [sileroVadLoop];

const byName = new Map(LOOPS.map((loop) => [loop.name, loop]));

export function hostLoopNamed(name: string): HostLoop<unknown, unknown> | undefined {
  return byName.get(name);
}
