/**
 * @module The origin pool as one router isolate sees it: the origins configured in the ORIGINS
 * var, each with a circuit breaker, its outstanding requests, a round-trip estimate, and the load
 * it last reported. An origin is chosen by least expected wait: its reported backlog plus its
 * round trip times the requests this isolate already has outstanding there.
 */
import type { HostLoad } from "../../durable-objects/model-host/contract.ts";
import { CircuitBreaker } from "./circuit-breaker.ts";

export interface OriginConfig {
  id: string;
  url: string;
}

export interface OriginState {
  config: OriginConfig;
  breaker: CircuitBreaker;
  outstanding: number;
  /** Exponentially weighted round trip of successful calls, milliseconds. */
  roundTripMs: number;
  load: HostLoad | undefined;
  loadAt: number;
}

const ROUND_TRIP_PRIOR_MS = 20;
const LOAD_STALE_MS = 5_000;

let parsedFrom: string | undefined;
let origins: OriginState[] = [];

/** The pool for this isolate, rebuilt only when the ORIGINS var changes. */
export function originPool(env: Env): OriginState[] {
  const raw = env.ORIGINS ?? "[]";
  if (raw !== parsedFrom) {
    parsedFrom = raw;
    origins = parseOrigins(raw).map((config) => ({
      config, breaker: new CircuitBreaker(), outstanding: 0, roundTripMs: ROUND_TRIP_PRIOR_MS, load: undefined, loadAt: 0,
    }));
  }
  return origins;
}

export function parseOrigins(raw: string): OriginConfig[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Error(`ORIGINS must be a JSON array of {"id", "url"}, got ${raw.slice(0, 80)}`);
  }
  if (!Array.isArray(parsed)) throw new Error("ORIGINS must be a JSON array");
  return parsed.map((entry, k) => {
    const { id, url } = (entry ?? {}) as Record<string, unknown>;
    if (typeof id !== "string" || typeof url !== "string" || !/^https?:\/\//.test(url)) throw new Error(`ORIGINS[${k}] needs a string id and an http(s) url`);
    return { id, url: url.replace(/\/+$/, "") };
  });
}

/** Expected milliseconds until an origin would answer a new request. */
export function expectedWaitMs(origin: OriginState, now = Date.now()): number {
  const backlog = origin.load && now - origin.loadAt < LOAD_STALE_MS ? origin.load.backlogMs : 0;
  return backlog + origin.roundTripMs * (1 + origin.outstanding);
}

/** The origin to try next, skipping those tried already and those whose breaker is open. */
export function chooseOrigin(pool: OriginState[], tried: ReadonlySet<string>, now = Date.now()): OriginState | undefined {
  const candidates = pool
    .filter((o) => !tried.has(o.config.id) && o.breaker.state(now) !== "open")
    .sort((a, b) => expectedWaitMs(a, now) - expectedWaitMs(b, now));
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
  return Math.max(1, Math.ceil(Math.min(...waits, 30_000) / 1000));
}

export function recordSuccess(origin: OriginState, roundTripMs: number, load: HostLoad | undefined, now = Date.now()): void {
  origin.breaker.succeeded();
  origin.roundTripMs += 0.2 * (roundTripMs - origin.roundTripMs);
  if (load) {
    origin.load = load;
    origin.loadAt = now;
  }
}
