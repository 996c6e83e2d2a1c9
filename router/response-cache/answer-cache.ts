/**
 * @module The response cache of OIP inferences, per model version and opt-in (`cache_ttl_seconds`
 * on upload): an answer to the same inputs (answer-key.ts) comes from the edge cache within the
 * TTL instead of a ModelHost or an origin.
 *
 * It is the Cache API (`caches.default`), not KV: KV takes one write per second per key and
 * propagates every write to every location for up to a minute, while answers are written at the
 * request rate and only pay where they were asked for; the Cache API is per location, free of a
 * write limit, and drops entries by their TTL (`Cache-Control: max-age`) or under pressure, which
 * a cache may. A location that never saw an answer computes it once.
 *
 * Only a whole 200 answer is kept, after it is made (the route calls `keep` with its bytes); an
 * error or a refusal never is, since nothing but a success reaches `keep`. The answer is written
 * in the background (waitUntil), so a miss costs the request one lookup and a copy of the key's
 * preamble, not the write.
 */
import type { Context } from "hono";
import { CACHE_RESULT_HEADER, INFERENCE_HEADER_LENGTH_HEADER, SERVED_BY_HEADER } from "../../protocol/headers.ts";
import type { ModelVersionRecord, ResponseCacheSetting } from "../../protocol/model-record.ts";
import { addTiming } from "../../protocol/http/server-timing.ts";
import { sizedResponse } from "../../protocol/http/known-length.ts";
import type { EncodedBody } from "../../protocol/oip/infer-response.ts";
import type { InferRequest, RequestedOutput } from "../../protocol/oip/tensor.ts";
import type { AppEnv } from "../app-env.ts";
import { increment } from "../metrics/aggregate.ts";
import { withId, withoutId } from "./answer-bytes.ts";
import { answerKey, cachedVariantOf } from "./answer-key.ts";

/** What `x-served-by` says of a cached answer (and so the `placement` label of its request). */
export const SERVED_BY_CACHE = "cache";

export interface CacheLookup {
  /** The cached answer, ready to send (with this request's id); undefined on a miss. */
  hit: Response | undefined;
  /** The variant whose answers this request takes and keeps (`default` unless it pins one): an answer another variant gave is not kept. */
  variant: string;
  /** After a miss, with the whole 200 answer: marks its headers `miss` and keeps it for the TTL. */
  keep(answer: EncodedBody, headers: Headers): void;
}

/** Looks the request up when its version caches (undefined when it does not: nothing is counted or marked). */
export async function lookUpAnswer(
  c: Context<AppEnv>,
  model: ModelVersionRecord,
  request: InferRequest,
  outputs: readonly RequestedOutput[],
): Promise<CacheLookup | undefined> {
  const setting = model.cache;
  if (!setting) return undefined;
  const startedAt = performance.now();
  const variant = cachedVariantOf(model, request.parameters);
  const key = await answerKey({ model, setting, variant, outputs, inputs: request.inputs, tenant: c.get("tenant").id });
  const url = entryUrl(c.req.url, model, key);
  const cached = await caches.default.match(url).catch((error: unknown) => {
    // A cache that fails is a miss: the model still answers.
    console.error(`response cache lookup of ${model.name}@${model.version} failed`, error);
    return undefined;
  });
  const result = cached ? "hit" : "miss";
  addTiming(c, "cache", performance.now() - startedAt, result);
  increment("cacheRequests", { model: model.name, version: model.version, result });
  if (cached) return { hit: await hitResponse(cached, model, request.id), variant: variant.name, keep: () => {} };
  return {
    hit: undefined,
    variant: variant.name,
    keep: (answer, headers) => {
      headers.set(CACHE_RESULT_HEADER, "miss");
      const kept = withoutId(answer, model.name, model.version, request.id);
      if (kept) c.executionCtx.waitUntil(store(url, kept, setting, model));
    },
  };
}

/**
 * The entry's URL on the request's own host (the zone the Cache API keeps it in); the model and
 * version in the path only name it for a purge by prefix, the hash decides.
 */
function entryUrl(requestUrl: string, model: ModelVersionRecord, key: string): string {
  return new URL(`/.hotpath/answers/${encodeURIComponent(model.name)}/${encodeURIComponent(model.version)}/${key}`, requestUrl).href;
}

async function hitResponse(cached: Response, model: ModelVersionRecord, id: string | undefined): Promise<Response> {
  const headerLength = cached.headers.get(INFERENCE_HEADER_LENGTH_HEADER);
  const kept: EncodedBody = {
    body: new Uint8Array(await cached.arrayBuffer()),
    contentType: cached.headers.get("content-type") ?? "application/json",
    headerLength: headerLength === null ? undefined : Number(headerLength),
  };
  const answer = withId(kept, model.name, model.version, id);
  const headers = new Headers({ "content-type": answer.contentType, [SERVED_BY_HEADER]: SERVED_BY_CACHE, [CACHE_RESULT_HEADER]: "hit" });
  if (answer.headerLength !== undefined) headers.set(INFERENCE_HEADER_LENGTH_HEADER, String(answer.headerLength));
  return sizedResponse(answer.body, 200, headers);
}

async function store(url: string, answer: EncodedBody, setting: ResponseCacheSetting, model: ModelVersionRecord): Promise<void> {
  const headers = new Headers({ "content-type": answer.contentType, "cache-control": `max-age=${setting.ttlSeconds}` });
  if (answer.headerLength !== undefined) headers.set(INFERENCE_HEADER_LENGTH_HEADER, String(answer.headerLength));
  try {
    await caches.default.put(url, new Response(answer.body, { status: 200, headers }));
  } catch (error) {
    // A lost entry only means the next identical request runs the model again.
    console.error(`response cache write of ${model.name}@${model.version} failed`, error);
  }
}
