/**
 * @module How many ModelHost replicas a model uses in a region, and which one gets a request.
 * Each host reports its load on every answer; the router keeps the latest report per replica
 * in this isolate and sends each request to the less loaded of two replicas picked at random
 * (power of two choices). The set grows by one, after the new replica has warmed, when the
 * chosen replicas stay backlogged for a while, and shrinks when every replica has been idle.
 * The state is per isolate: each isolate scales on what it sees, which is what it sends.
 */
import type { HostLoad } from "../../durable-objects/model-host/contract.ts";
import { waitAheadSince } from "../../scheduler/contract.ts";

/** Predicted queue work that counts as pressure. */
export const SCALE_UP_BACKLOG_MS = 50;
/** Pressure must last this long before a replica is added. */
export const SCALE_UP_AFTER_MS = 1_000;
/** Every replica must be idle this long before one is removed. */
export const SCALE_DOWN_AFTER_MS = 30_000;
/** Reports older than this are not trusted: the replica may have drained. */
const STALE_MS = 5_000;

interface Report {
  load: HostLoad;
  at: number;
}

interface ReplicaSet {
  active: number;
  warming: boolean;
  reports: Map<number, Report>;
  pressureSince: number | undefined;
  idleSince: number | undefined;
}

export interface ReplicaBounds {
  minReplicas: number;
  maxReplicas: number;
}

const sets = new Map<string, ReplicaSet>();

function setFor(key: string, bounds: ReplicaBounds): ReplicaSet {
  let set = sets.get(key);
  if (!set) sets.set(key, (set = { active: bounds.minReplicas, warming: false, reports: new Map(), pressureSince: undefined, idleSince: undefined }));
  set.active = Math.min(Math.max(set.active, bounds.minReplicas), bounds.maxReplicas);
  return set;
}

export function activeReplicas(key: string, bounds: ReplicaBounds): number {
  return setFor(key, bounds).active;
}

/** The replica for the next request: the less loaded of two random ones. */
export function pickReplica(key: string, bounds: ReplicaBounds, now = Date.now(), random = Math.random): number {
  const set = setFor(key, bounds);
  if (set.active <= 1) return 0;
  const a = Math.floor(random() * set.active);
  let b = Math.floor(random() * (set.active - 1));
  if (b >= a) b += 1;
  return weight(set, b, now) < weight(set, a, now) ? b : a;
}

/**
 * Records a replica's load; returns the index of a replica to warm when the set should grow.
 * Call `replicaWarmed` once that replica has loaded the model.
 */
export function observeLoad(key: string, bounds: ReplicaBounds, replica: number, load: HostLoad, now = Date.now()): number | undefined {
  const set = setFor(key, bounds);
  set.reports.set(replica, { load, at: now });
  const busy = load.backlogMs >= SCALE_UP_BACKLOG_MS;
  set.pressureSince = busy ? (set.pressureSince ?? now) : undefined;

  const allIdle = [...Array(set.active).keys()].every((r) => weight(set, r, now) === 0);
  set.idleSince = allIdle ? (set.idleSince ?? now) : undefined;
  if (set.idleSince !== undefined && now - set.idleSince >= SCALE_DOWN_AFTER_MS && set.active > bounds.minReplicas) {
    set.active -= 1;
    set.reports.delete(set.active);
    set.idleSince = now;
  }

  if (set.pressureSince !== undefined && now - set.pressureSince >= SCALE_UP_AFTER_MS && set.active < bounds.maxReplicas && !set.warming) {
    set.warming = true;
    return set.active;
  }
  return undefined;
}

/** The new replica has its session warm: it may take traffic. */
export function replicaWarmed(key: string, bounds: ReplicaBounds, replica: number, ok: boolean): void {
  const set = setFor(key, bounds);
  set.warming = false;
  if (ok) {
    set.active = Math.min(bounds.maxReplicas, Math.max(set.active, replica + 1));
    set.pressureSince = undefined;
  }
}

function weight(set: ReplicaSet, replica: number, now: number): number {
  const report = set.reports.get(replica);
  if (!report || now - report.at > STALE_MS) return 0;
  return report.load.backlogMs + report.load.queued;
}

/**
 * The wait a new request of `priority` would have at a replica: what it last reported ahead of
 * that priority, less the time since (the replica has been working it off); 0 when unknown or
 * stale. What early refusal and the spill decision read.
 */
export function replicaWaitMs(key: string, bounds: ReplicaBounds, replica: number, priority: number, now = Date.now()): number {
  const report = setFor(key, bounds).reports.get(replica);
  return report ? waitAheadSince(report.load, report.at, priority, now, STALE_MS) : 0;
}
