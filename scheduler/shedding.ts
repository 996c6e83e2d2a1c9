/** @module Which queued request a newcomer's room comes from when it is shed, and what that request is told. */
import { refusal, type HttpError } from "../protocol/errors.ts";
import type { SchedulingQueue } from "./queue.ts";
import type { Queued } from "./queued.ts";

/**
 * queue.ts's sheddableFor (no tenant: only less important work); or `requestId`, named by the
 * host's input budget, if it is still queued, of the newcomer's tier and another tenant.
 */
export function shedVictim(
  queue: SchedulingQueue<Queued>,
  queuedById: ReadonlyMap<string, Queued>,
  priority: number,
  tenant?: string,
  requestId?: string,
): Queued | undefined {
  if (requestId === undefined) return queue.sheddableFor(priority, tenant);
  const named = queuedById.get(requestId);
  return named?.priority === priority && named.call.tenant !== tenant ? named : undefined;
}

/** The 503 a shed request gets: why its room went to the newcomer. */
export function shedRefusal(victim: Queued, priority: number, named: boolean): HttpError {
  const tier = named ? "held over half of the host's room for inputs" : "had the most requests queued";
  const why = victim.priority > priority ? "higher-priority work" : `another tenant of its tier: its tenant ${tier}`;
  return refusal(503, `shed to make room for ${why}`, 1, "shed");
}
