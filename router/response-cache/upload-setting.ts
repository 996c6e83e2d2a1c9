/**
 * @module The response cache's upload options (`PUT /admin/models/{m}/versions/{v}`):
 * `cache_ttl_seconds` (0, the default, is off), `cache_scope` (`tenant`, the default, or
 * `shared`) and `stateful`, and the rule that keeps a stateful model's answers out of the cache.
 *
 * A model is stateful when the uploader says `stateful=true`, or, unless it says `stateful=false`,
 * when an input whose name says it carries state (`state`, `hidden`, `past`, `cache`: Silero's
 * `state`, an RNN's `hidden`, a decoder's `past_key_values`) has an output of the same datatype
 * and shape (the same rank, equal wherever both dimensions are fixed), as Silero's `stateN`. Such
 * a model's answer is one step of a sequence the client drives: the same inputs rarely come twice,
 * and every entry would only fill the cache.
 */
import { badRequest } from "../../protocol/errors.ts";
import { CACHE_SCOPES, type CacheScope, type ResponseCacheSetting } from "../../protocol/model-record.ts";
import type { TensorSpec } from "../../protocol/oip/tensor.ts";

/** A day: long enough for repeated inputs to pay, short enough that a forgotten entry goes. */
export const MAX_CACHE_TTL_SECONDS = 86_400;

const STATE_NAME = /state|hidden|past|cache/i;

type Query = (name: string) => string | undefined;

/** The version's cache setting from the upload's query, undefined when off; 400 for a malformed or contradictory one. */
export function checkedCacheSetting(query: Query): ResponseCacheSetting | undefined {
  const ttl = query("cache_ttl_seconds");
  const ttlSeconds = ttl === undefined ? 0 : Number(ttl);
  if (ttl !== undefined && (ttl.trim() === "" || !Number.isSafeInteger(ttlSeconds) || ttlSeconds < 0 || ttlSeconds > MAX_CACHE_TTL_SECONDS)) {
    throw badRequest(`cache_ttl_seconds must be an integer from 0 (off) to ${MAX_CACHE_TTL_SECONDS}, got '${ttl}'`);
  }
  const scope = query("cache_scope");
  if (scope !== undefined && !CACHE_SCOPES.includes(scope as CacheScope)) {
    throw badRequest(`cache_scope must be one of ${CACHE_SCOPES.join(", ")}, got '${scope}'`);
  }
  if (scope !== undefined && ttlSeconds === 0) throw badRequest("cache_scope needs cache_ttl_seconds above 0");
  if (ttlSeconds > 0 && declaredStateful(query) === true)
    throw badRequest("a stateful model's answers are never cached: drop cache_ttl_seconds or stateful=true");
  return ttlSeconds > 0 ? { ttlSeconds, scope: (scope as CacheScope | undefined) ?? "tenant" } : undefined;
}

/** `stateful=true|false`, undefined when not given; 400 for anything else. */
function declaredStateful(query: Query): boolean | undefined {
  const value = query("stateful");
  if (value === undefined) return undefined;
  if (value !== "true" && value !== "false") throw badRequest(`stateful must be true or false, got '${value}'`);
  return value === "true";
}

/**
 * Once the signature is known (the host or the origins read it): 400 when the version would cache
 * and the model looks stateful, before anything is registered, so the upload leaves nothing behind.
 */
export function refuseCachingStatefulModel(
  query: Query,
  setting: ResponseCacheSetting | undefined,
  signature: { inputs: TensorSpec[]; outputs: TensorSpec[] },
): void {
  if (!setting || declaredStateful(query) === false) return;
  const pair = statePair(signature.inputs, signature.outputs);
  if (!pair) return;
  throw badRequest(
    `the model looks stateful (input '${pair.input}' and output '${pair.output}' carry state of one datatype and shape), ` +
      `and a stateful model's answers are never cached: drop cache_ttl_seconds, or upload with stateful=false if they are not state`,
  );
}

/** The first input whose name says state and an output of its datatype and shape, if any. */
export function statePair(inputs: readonly TensorSpec[], outputs: readonly TensorSpec[]): { input: string; output: string } | undefined {
  for (const input of inputs) {
    if (!STATE_NAME.test(input.name)) continue;
    const output = outputs.find((o) => o.datatype === input.datatype && sameShape(o.shape, input.shape));
    if (output) return { input: input.name, output: output.name };
  }
  return undefined;
}

/** Same rank, and equal wherever both dimensions are fixed (a model may leave its output's dimensions dynamic, as Silero's stateN). */
const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i] || d === -1 || b[i] === -1);
