/**
 * @module Assigning a model version to the origin pool: every origin is asked to load it (the
 * OIP model_repository extension: it fetches the bytes from the edge's internal route, checks
 * their sha256 and warms a session), and the first answer also proves the model loads and gives
 * its signature, which the edge cannot read itself for models too big for an isolate. A deleted
 * version is unloaded from every origin the same way.
 */
import { HttpError } from "../../protocol/errors.ts";
import { errorFromResponse } from "../../protocol/http/error-response.ts";
import type { TensorSpec } from "../../protocol/oip/tensor.ts";
import { originPool, usable, type OriginState, type PoolEnv } from "./pool.ts";

export interface OriginSignature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

/**
 * Loads `name@version` on every usable origin; resolves with the signature the first one read.
 * `version` is a served version: a variant's is `<version>~<variant>` (protocol/model-record.ts).
 */
export async function loadOnPool(env: PoolEnv, name: string, version: string, timeoutMs = 120_000): Promise<OriginSignature> {
  const origins = originPool(env).filter((o) => usable(o));
  if (origins.length === 0) throw new HttpError(503, "placement=origin needs a reachable origin pool (the ORIGINS var) to load and check the model", 30);
  const attempts = origins.map((origin) => loadOn(env, origin, name, version, timeoutMs));
  // The first origin to succeed proves the model; one whose load fails says why.
  const first = await Promise.any(attempts).catch((error: AggregateError) => {
    const reasons = error.errors.filter((e): e is HttpError => e instanceof HttpError);
    throw reasons.find((e) => e.isClientError) ?? reasons[0] ?? new HttpError(503, "no origin could load the model", 5);
  });
  return first;
}

async function loadOn(env: PoolEnv, origin: OriginState, name: string, version: string, timeoutMs: number): Promise<OriginSignature> {
  const headers = { authorization: `Bearer ${env.ORIGIN_TOKEN}`, "content-type": "application/json" };
  const base = `${origin.config.url}`;
  const path = `/v2/models/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`;
  let load: Response;
  try {
    load = await fetch(`${base}/v2/repository/models/${encodeURIComponent(name)}/load`, {
      method: "POST",
      headers,
      body: JSON.stringify({ parameters: { version } }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch {
    origin.breaker.failed();
    throw new HttpError(503, `origin ${origin.config.id} is unreachable`, 5);
  }
  if (!load.ok) {
    const refused = await errorFromResponse(load, `origin ${origin.config.id}`);
    // 422: the origin reached the bytes and could not make a session of them, so the upload is
    // not a model. Anything else (the origin cannot reach the edge, is busy, fails) is not the
    // uploader's mistake.
    if (refused.status === 422) throw new HttpError(400, `origin ${origin.config.id}: ${refused.message}`);
    throw new HttpError(503, `origin ${origin.config.id} could not load the model: ${refused.message}`, 5);
  }
  const metadata = await fetch(`${base}${path}`, { headers, signal: AbortSignal.timeout(10_000) });
  if (!metadata.ok) {
    const refused = await errorFromResponse(metadata, `origin ${origin.config.id}`);
    throw new HttpError(503, `origin ${origin.config.id} loaded the model but did not describe it: ${refused.message}`, 5);
  }
  const body = (await metadata.json()) as Partial<OriginSignature>;
  if (!Array.isArray(body.inputs) || !Array.isArray(body.outputs))
    throw new HttpError(503, `origin ${origin.config.id} sent metadata without inputs and outputs`, 5);
  return { inputs: body.inputs, outputs: body.outputs };
}

/**
 * Asks every origin to unload `name@version` after the version is deleted: an origin keeps its
 * sessions by name and version, so without this it would keep serving the old bytes, and would
 * keep them if different bytes were uploaded under the same version. Best effort: every origin
 * is tried (one marked down may only have missed its probes), failures and 404s (it never loaded
 * the version) are logged, never thrown, because the delete has already happened. An origin
 * that misses the call keeps its old session until it restarts (origin/model-store.ts keys by
 * name and version).
 * @returns how many origins confirmed the unload
 */
export async function unloadOnPool(env: PoolEnv, name: string, version: string, timeoutMs = 10_000): Promise<number> {
  const headers = { authorization: `Bearer ${env.ORIGIN_TOKEN}`, "content-type": "application/json" };
  const replies = await Promise.all(
    originPool(env).map((origin) =>
      fetch(`${origin.config.url}/v2/repository/models/${encodeURIComponent(name)}/unload`, {
        method: "POST",
        headers,
        body: JSON.stringify({ parameters: { version } }),
        signal: AbortSignal.timeout(timeoutMs),
      }).then(
        async (response) => {
          await response.body?.cancel();
          if (!response.ok && response.status !== 404) console.warn(`unloading ${name}@${version} on origin ${origin.config.id}: HTTP ${response.status}`);
          return response.ok;
        },
        (error: unknown) => {
          console.warn(`unloading ${name}@${version} on origin ${origin.config.id}: ${String(error)}`);
          return false;
        },
      ),
    ),
  );
  return replies.filter(Boolean).length;
}
