/**
 * @module How many ModelHost replicas a model uses in a region, and which one gets a request.
 * Each host reports its load on every answer; the set keeps the latest report per replica and
 * sends each request to the less loaded of two replicas picked at random (power of two choices).
 * It grows by one, after the new replica has warmed, when the chosen replicas stay backlogged for
 * a while, and shrinks when every replica has been idle. A replica whose call just failed (the
 * RPC rejected, or it answered 500) gets no new requests for a short cool-down while another
 * replica is active: a reset object is back within a second or so, and sending it more meanwhile
 * only fails more requests. A set lives in one router isolate: each isolate scales on what it
 * sees, which is what it sends.
 */
import type { SchedulerLoad } from "../../scheduler/contract.ts";
import { waitAheadSince } from "../../scheduler/contract.ts";

/** Predicted queue work that counts as pressure. */
export const SCALE_UP_BACKLOG_MS = 50;
/** Pressure must last this long before a replica is added. */
export const SCALE_UP_AFTER_MS = 1_000;
/** Every replica must be idle this long before one is removed (the REPLICA_SCALE_DOWN_AFTER_MS var). */
export const SCALE_DOWN_AFTER_MS = 30_000;
/** Reports older than this are not trusted: the replica may have drained. */
const STALE_MS = 5_000;
/** How long a replica whose call failed is passed over while another active replica is healthy. */
export const FAILED_COOL_DOWN_MS = 3_000;

export interface ReplicaBounds {
  minReplicas: number;
  maxReplicas: number;
}

interface Report {
  load: SchedulerLoad;
  at: number;
}

export class ReplicaSet {
  #bounds: ReplicaBounds;
  #active: number;
  #warming = false;
  readonly #reports = new Map<number, Report>();
  /** When each replica's last call failed; cleared by its next answer. */
  readonly #failedAt = new Map<number, number>();
  #pressureSince: number | undefined;
  #idleSince: number | undefined;
  readonly #scaleDownAfterMs: number;

  constructor(bounds: ReplicaBounds, scaleDownAfterMs = SCALE_DOWN_AFTER_MS) {
    this.#bounds = bounds;
    this.#active = bounds.minReplicas;
    this.#scaleDownAfterMs = scaleDownAfterMs;
  }

  /** Takes a model's current bounds (an operator may change them between versions). */
  bound(bounds: ReplicaBounds): this {
    this.#bounds = bounds;
    this.#active = Math.min(Math.max(this.#active, bounds.minReplicas), bounds.maxReplicas);
    return this;
  }

  /** Replicas taking traffic now. */
  get active(): number {
    return this.#active;
  }

  /** Whether a replica is being warmed to join the set. */
  get warming(): boolean {
    return this.#warming;
  }

  /** The replica for the next request: the less loaded of two random healthy ones (any two when none is healthy). */
  pick(now = Date.now(), random = Math.random): number {
    if (this.#active <= 1) return 0;
    const all = [...Array(this.#active).keys()];
    const healthy = all.filter((r) => this.#healthy(r, now));
    const candidates = healthy.length > 0 ? healthy : all;
    if (candidates.length === 1) return candidates[0]!;
    const a = Math.floor(random() * candidates.length);
    let b = Math.floor(random() * (candidates.length - 1));
    if (b >= a) b += 1;
    const [first, second] = [candidates[a]!, candidates[b]!];
    return this.#weight(second, now) < this.#weight(first, now) ? second : first;
  }

  /** A replica's call failed (not a refusal): pass it over for FAILED_COOL_DOWN_MS while another is healthy. */
  failed(replica: number, now = Date.now()): void {
    this.#failedAt.set(replica, now);
  }

  /**
   * Where to retry a request whose replica failed: a healthy other member of the active set when
   * there is one, else otherReplica's choice (beyond the set if need be, never the failed one).
   */
  retryTarget(failed: number, now = Date.now(), random = Math.random): number {
    const others = [...Array(this.#active).keys()].filter((r) => r !== failed && this.#healthy(r, now));
    if (others.length === 0) return otherReplica(failed, this.#active, random);
    return others[Math.floor(random() * others.length)]!;
  }

  /**
   * Records a replica's load; returns the index of a replica to warm when the set should grow.
   * Call `warmed` once that replica has loaded the model (or failed to).
   */
  observe(replica: number, load: SchedulerLoad, now = Date.now()): number | undefined {
    this.#reports.set(replica, { load, at: now });
    this.#failedAt.delete(replica); // it answered: healthy again
    const busy = load.backlogMs >= SCALE_UP_BACKLOG_MS;
    this.#pressureSince = busy ? (this.#pressureSince ?? now) : undefined;

    const allIdle = [...Array(this.#active).keys()].every((r) => this.#idle(r, now));
    this.#idleSince = allIdle ? (this.#idleSince ?? now) : undefined;
    if (this.#idleSince !== undefined && now - this.#idleSince >= this.#scaleDownAfterMs && this.#active > this.#bounds.minReplicas) {
      this.#active -= 1;
      this.#reports.delete(this.#active);
      this.#failedAt.delete(this.#active);
      this.#idleSince = now;
    }

    const sustained = this.#pressureSince !== undefined && now - this.#pressureSince >= SCALE_UP_AFTER_MS;
    if (sustained && this.#active < this.#bounds.maxReplicas && !this.#warming) {
      this.#warming = true;
      return this.#active;
    }
    return undefined;
  }

  /** The replica `observe` asked for has its session warm (`ok`), or could not load it. */
  warmed(replica: number, ok: boolean): void {
    this.#warming = false;
    if (!ok) return;
    this.#active = Math.min(this.#bounds.maxReplicas, Math.max(this.#active, replica + 1));
    this.#pressureSince = undefined;
  }

  /**
   * The wait a new request of `priority` would have at a replica: what it last reported ahead of
   * that priority, less the time since (the replica has been working it off); 0 when unknown or
   * stale. What early refusal and the spill decision read. `newTenant`: for a request whose tenant
   * has nothing in flight here, the wait fair share gives a tenant with nothing queued.
   */
  waitMs(replica: number, priority: number, now = Date.now(), newTenant = false): number {
    const report = this.#reports.get(replica);
    return report ? waitAheadSince(report.load, report.at, priority, now, STALE_MS, newTenant) : 0;
  }

  /**
   * Nothing queued and no pressure, or no fresh report. Not "no work at all": every answer also
   * reports the time the call waited to reach the host, so a replica serving a trickle never
   * reports exactly zero, and would never count as idle.
   */
  #idle(replica: number, now: number): boolean {
    const report = this.#reports.get(replica);
    if (!report || now - report.at > STALE_MS) return true;
    return report.load.queued === 0 && report.load.backlogMs < SCALE_UP_BACKLOG_MS;
  }

  #healthy(replica: number, now: number): boolean {
    const at = this.#failedAt.get(replica);
    return at === undefined || now - at >= FAILED_COOL_DOWN_MS;
  }

  #weight(replica: number, now: number): number {
    const report = this.#reports.get(replica);
    if (!report || now - report.at > STALE_MS) return 0;
    return report.load.backlogMs + report.load.queued;
  }
}

/**
 * Another replica for a request whose host failed: a different member of the active set when
 * there is one, else the next replica's region-local name, beyond the active set if need be
 * (a failed, possibly overloaded object must not get the same request again).
 */
export function otherReplica(replica: number, active: number, random = Math.random): number {
  if (active <= 1) return replica === 0 ? 1 : 0;
  const pick = Math.floor(random() * (active - 1));
  return pick >= replica ? pick + 1 : pick;
}

/** A model's bounds under the MAX_REPLICAS_PER_REGION cap (at least one replica always). */
export function cappedBounds(bounds: ReplicaBounds, cap: number): ReplicaBounds {
  const limit = Math.max(1, cap);
  return { minReplicas: Math.min(bounds.minReplicas, limit), maxReplicas: Math.min(bounds.maxReplicas, limit) };
}

const sets = new Map<string, ReplicaSet>();

/** This isolate's set for a model in a region, bound to the model's current replica bounds. */
export function replicaSetFor(region: string, model: string, bounds: ReplicaBounds, scaleDownAfterMs = SCALE_DOWN_AFTER_MS): ReplicaSet {
  const key = `${region}:${model}`;
  let set = sets.get(key);
  if (!set) sets.set(key, (set = new ReplicaSet(bounds, scaleDownAfterMs)));
  return set.bound(bounds);
}

/** The sets this isolate holds for `model`, by region: what the admin API shows. */
export function replicaSetsOf(model: string): Record<string, { active: number; warming: boolean }> {
  const view: Record<string, { active: number; warming: boolean }> = {};
  for (const [key, set] of sets) {
    const [region, name] = [key.slice(0, key.indexOf(":")), key.slice(key.indexOf(":") + 1)];
    if (name === model) view[region] = { active: set.active, warming: set.warming };
  }
  return view;
}
