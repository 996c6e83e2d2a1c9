/**
 * @module The origin pool as one router isolate sees it: the origins configured in the ORIGINS
 * var, each with a circuit breaker, its outstanding requests, a round-trip estimate, and the load
 * it last reported, and what its last health check found. An origin is chosen by least expected
 * wait: its reported backlog plus its round trip times the requests this isolate already has
 * outstanding there; origins whose breaker is open or whose health check failed are skipped.
 */
import type { HostLoad } from "../../durable-objects/model-host/contract.ts";
import { retryAfterSecondsFor } from "../../protocol/errors.ts";
import { parseOrigins, type OriginEndpoint } from "../../protocol/origins-var.ts";
import { servedVersion, type ModelRef } from "../../protocol/model-record.ts";
import { waitAheadSince } from "../../scheduler/contract.ts";
import { CircuitBreaker } from "./circuit-breaker.ts";

export interface OriginState {
  config: OriginEndpoint;
  breaker: CircuitBreaker;
  outstanding: number;
  /** Exponentially weighted round trip of successful calls, milliseconds. */
  roundTripMs: number;
  load: HostLoad | undefined;
  loadAt: number;
  health: OriginHealth;
}

/** What the last active health check (health-check.ts) found. */
export interface OriginHealth {
  /**
   * `unknown` until the first check (the origin is used, as before checks existed); `partial`:
   * not ready as a whole (loading or failing some model) but serving the versions in `readyModels`.
   */
  state: "unknown" | "ready" | "partial" | "down";
  checkedAt: number;
  /** Why it is down or partial. */
  reason?: string;
  /** With `partial`: the versions ("name@version") it reported ready. */
  readyModels?: string[];
}

const ROUND_TRIP_PRIOR_MS = 20;
const LOAD_STALE_MS = 5_000;

let parsedFrom: string | undefined;
let origins: OriginState[] = [];

/** What the pool reads of the Worker's env (the whole Env fits; Node tests pass just these). */
export interface PoolEnv {
  /** JSON array of {"id", "url"}. */
  ORIGINS?: string;
  /** The shared secret between edge and origins. */
  ORIGIN_TOKEN: string;
}

/** The pool for this isolate, rebuilt only when the ORIGINS var changes. */
export function originPool(env: PoolEnv): OriginState[] {
  const raw = env.ORIGINS ?? "[]";
  if (raw !== parsedFrom) {
    // Parsed before it is remembered: a bad ORIGINS fails every request, not only the first
    // (after which the previous pool would quietly be used again).
    const parsed = parseOrigins(raw);
    parsedFrom = raw;
    origins = parsed.map((config) => ({
      config,
      breaker: new CircuitBreaker(),
      outstanding: 0,
      roundTripMs: ROUND_TRIP_PRIOR_MS,
      load: undefined,
      loadAt: 0,
      health: { state: "unknown", checkedAt: 0 },
    }));
  }
  return origins;
}

/** Expected milliseconds until an origin would answer a new request of `priority`. */
export function expectedWaitMs(origin: OriginState, priority: number, now = Date.now()): number {
  const backlog = origin.load ? waitAheadSince(origin.load, origin.loadAt, priority, now, LOAD_STALE_MS) : 0;
  return backlog + origin.roundTripMs * (1 + origin.outstanding);
}

/**
 * Whether an origin may be sent requests now (for `model`, when given): its breaker is not open,
 * its last check did not find it down, and if it is partly ready, `model` is among what it serves
 * (a variant under its served name, `<version>~<variant>`).
 */
export function usable(origin: OriginState, model?: ModelRef, now = Date.now()): boolean {
  if (origin.breaker.state(now) === "open" || origin.health.state === "down") return false;
  if (origin.health.state !== "partial" || model === undefined) return true;
  return (origin.health.readyModels ?? []).includes(`${model.name}@${servedVersion(model)}`);
}

/** The origin to try next for `model`, skipping those tried already and those not usable for it. */
export function chooseOrigin(pool: OriginState[], tried: ReadonlySet<string>, model: ModelRef, priority: number, now = Date.now()): OriginState | undefined {
  const candidates = pool
    .filter((o) => !tried.has(o.config.id) && usable(o, model, now))
    .sort((a, b) => expectedWaitMs(a, priority, now) - expectedWaitMs(b, priority, now));
  // A half-open origin gets its probe first: ranked by a round trip remembered from before it
  // failed, it might never come first again, and so never be probed and never recover. A failed
  // probe is retried on another origin like any failed attempt.
  const probe = candidates.find((o) => o.breaker.state(now) === "half-open" && o.breaker.allow(now));
  // allow() is asked only of the one chosen, so a half-open breaker's single probe is not wasted
  return probe ?? candidates.find((o) => o.breaker.allow(now));
}

/** Seconds until some origin may take traffic again (for Retry-After when all are open). */
export function poolRetryAfterSeconds(pool: OriginState[], now = Date.now()): number {
  const waits = pool.map((o) => o.breaker.retryInMs(now));
  return retryAfterSecondsFor(Math.min(...waits, 30_000));
}

export function recordSuccess(origin: OriginState, roundTripMs: number, load: HostLoad | undefined, now = Date.now()): void {
  origin.breaker.succeeded();
  origin.roundTripMs += 0.2 * (roundTripMs - origin.roundTripMs);
  recordLoad(origin, load, now);
}

/**
 * Back from down: what it took before says little about the restarted process, and an origin
 * ranked by a slow old round trip might never be chosen, so never measured again.
 */
export function forgetRoundTrip(origin: OriginState): void {
  origin.roundTripMs = ROUND_TRIP_PRIOR_MS;
}

export function recordLoad(origin: OriginState, load: HostLoad | undefined, now = Date.now()): void {
  if (!load) return;
  origin.load = load;
  origin.loadAt = now;
}
