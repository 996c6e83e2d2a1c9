/**
 * @module Active health checks of the origin pool. While an isolate sends work to the pool, it
 * asks each origin `GET /v2/health/ready` (OIP; Triton answers it too) every 5 s in the
 * background, every second while the origin is down or partly ready. A failed check takes the origin out of the
 * choice before a client's request has to fail on it; a passing one brings it back and refreshes
 * the load it reports, so an origin that gets no traffic is still weighed on fresh figures. An
 * origin that is not ready as a whole but lists the versions it serves (ours, while it loads a
 * new model) keeps taking requests for those.
 *
 * The check says nothing to the circuit breaker: an origin that is ready but fails requests
 * stays open-circuited, and its backoff is not cut short by a health route that still answers.
 * Like the breakers, the state is per isolate: each isolate checks the origins it uses.
 */
import { forgetRoundTrip, originPool, recordLoad, type OriginState, type PoolEnv } from "./pool.ts";
import { loadFrom } from "./origin-load.ts";

/**
 * Between two checks of a ready (or not yet checked) origin. Every isolate that uses the pool
 * checks on its own, so an origin answers about (isolates / 5) checks a second: cheap for a
 * health route, and the breakers still react to failed requests at once.
 */
export const CHECK_EVERY_MS = 5_000;
/** Between two checks of an origin that is down or partly ready: it is back soon after it recovers. */
export const CHECK_DOWN_EVERY_MS = 1_000;
/** A check slower than this fails: a healthy origin answers its health route at once. */
export const CHECK_TIMEOUT_MS = 1_000;

const inFlight = new WeakSet<OriginState>();

/** Starts the checks that are due, in the background (`waitUntil`); never delays the caller. */
export function checkOriginsWhenDue(env: PoolEnv, waitUntil: (promise: Promise<unknown>) => void, now = Date.now()): void {
  for (const origin of originPool(env)) {
    const every = origin.health.state === "down" || origin.health.state === "partial" ? CHECK_DOWN_EVERY_MS : CHECK_EVERY_MS;
    if (inFlight.has(origin) || now - origin.health.checkedAt < every) continue;
    waitUntil(checkOrigin(env, origin));
  }
}

/** Checks every origin now and waits for the answers (the admin view). */
export async function checkOriginsNow(env: PoolEnv): Promise<void> {
  await Promise.all(
    originPool(env)
      .filter((o) => !inFlight.has(o))
      .map((o) => checkOrigin(env, o)),
  );
}

async function checkOrigin(env: PoolEnv, origin: OriginState): Promise<void> {
  inFlight.add(origin);
  try {
    const response = await fetch(`${origin.config.url}/v2/health/ready`, {
      headers: { authorization: `Bearer ${env.ORIGIN_TOKEN}` },
      signal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
    });
    const body = await response.json().catch(() => undefined);
    const now = Date.now();
    recordLoad(origin, loadFrom((body as { load?: unknown } | undefined)?.load), now);
    if (response.status === 200 && origin.health.state === "down") forgetRoundTrip(origin);
    const reason = `not ready (${response.status}${errorOf(body)})`;
    const models = readyModelsOf(body);
    if (response.status === 200) origin.health = { state: "ready", checkedAt: now };
    // Not ready as a whole, but it says which versions it serves (ours does: one model loading
    // or failed must not stop the others); without that list (e.g. Triton) it is down.
    else if (models !== undefined) origin.health = { state: "partial", checkedAt: now, reason, readyModels: models };
    else origin.health = { state: "down", checkedAt: now, reason };
  } catch (error) {
    const timedOut = error instanceof Error && error.name === "TimeoutError";
    origin.health = { state: "down", checkedAt: Date.now(), reason: timedOut ? `no answer within ${CHECK_TIMEOUT_MS} ms` : "unreachable" };
  } finally {
    inFlight.delete(origin);
  }
}

/** `name@version` of each model the ready body lists as ready; undefined when it lists none at all. */
function readyModelsOf(body: unknown): string[] | undefined {
  const models = (body as { models?: unknown } | undefined)?.models;
  if (!Array.isArray(models)) return undefined;
  return models.flatMap((m: unknown) => {
    const { name, version, state } = (m ?? {}) as Record<string, unknown>;
    return typeof name === "string" && typeof version === "string" && state === "ready" ? [`${name}@${version}`] : [];
  });
}

function errorOf(body: unknown): string {
  const error = (body as { error?: unknown } | undefined)?.error;
  return typeof error === "string" ? `: ${error.slice(0, 200)}` : "";
}
