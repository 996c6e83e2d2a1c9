/**
 * @module The function API: what a function module declares and what it is given. A function is
 * a task around one or more models (speech segments from a WAV, text from an image), served at
 * `POST /v1/functions/{name}`. It declares its name, description, the media types it accepts,
 * the models it uses and its options, and three steps the router runs and times in turn
 * (Server-Timing `decode`, `infer`, `post`):
 *
 * - `decode`: the request body into what the models need (400 for malformed media);
 * - `run`: the model calls, through the context, with the caller's tenant, tier, priority and
 *   deadline: `infer` for one run on the normal path (placement, replicas, the host's scheduler,
 *   the pool), `job` for a loop of many runs that must not cost a network hop each (a HostLoop,
 *   run inside the ModelHost next to the warm session);
 * - `post`: the models' outputs into the JSON answer.
 *
 * Functions are registered at build time (registry.ts): Workers cannot load code at run time.
 * This floor imports only config/ and protocol/, so functions run in a Worker, a Durable Object
 * and Node alike.
 */
import type { Tensor } from "../protocol/oip/tensor.ts";
import { parseOptions, type OptionSpecs } from "./options.ts";

/** One run of a model on its warm session. */
export type ModelRun = (inputs: Tensor[], outputNames: string[]) => Promise<Tensor[]>;

/**
 * A loop of model runs that runs where the session is: the ModelHost admits it as one job (its
 * cost predicted from `runs` x one run of `workPerRun` input elements), then calls `run` with the
 * session. Registered by name in host-loops.ts, which the ModelHost imports; the payload crosses
 * the RPC by structured clone, so it is plain data (typed arrays, numbers, objects).
 */
export interface HostLoop<P, R> {
  /** How the host finds it: unique among host loops. */
  name: string;
  /** The model whose session it runs on. */
  model: string;
  /**
   * Checks a payload that crossed the RPC (400 when unfit), predicts the runs it takes, and says
   * how many bytes it holds in the host's memory while queued and running (the host's input budget
   * counts them, as it does a request's tensors).
   */
  plan(payload: unknown): { payload: P; runs: number; workPerRun: number; bytes: number };
  run(payload: P, run: ModelRun): Promise<R>;
}

/** What a function's `run` step may call; every call carries the caller's tier, priority and deadline. */
export interface FunctionContext {
  /** One run of `model` (its default version) on the normal inference path: one hop. */
  infer(model: string, inputs: Tensor[], outputNames: string[]): Promise<Tensor[]>;
  /** The most rows one `infer` of `model` may carry (its max_batch): more is split over several calls. */
  maxBatch(model: string): number;
  /** The loop, on a host of its model, as one job: one hop for all its runs. */
  job<P, R>(loop: HostLoop<P, R>, payload: P): Promise<R>;
}

export interface FunctionDefinition<O, D, R> {
  /** The path segment: lower case, digits and dashes. */
  name: string;
  description: string;
  /** Media types of the body, lower case, without parameters (e.g. "audio/wav"). */
  accepts: readonly string[];
  /** Models the function calls; a key must be allowed every one of them (else 403). */
  models: readonly string[];
  /** Query parameters, typed with defaults and bounds (options.ts). */
  options: OptionSpecs<O>;
  /**
   * The deadline, in milliseconds, that a call asking for none needs, when the work takes longer
   * than the tiers' defaults allow (a page is two model steps). A call gets the longer of this and
   * its tier's default, never more than the tier's maximum; `x-hotpath-timeout-ms` still rules.
   */
  defaultDeadlineMs?: number;
  decode(body: Uint8Array, mediaType: string, options: O): D;
  run(decoded: D, context: FunctionContext, options: O): Promise<R>;
  /** The JSON answer. */
  post(result: R, decoded: D, options: O): unknown;
}

/** What `GET /v1/functions` lists for a function. */
export interface FunctionInfo {
  name: string;
  description: string;
  accepts: readonly string[];
  models: readonly string[];
  options: OptionSpecs<Record<string, number>>;
  defaultDeadlineMs?: number;
}

/**
 * A function with its types sealed in: each step returns the next, bound to the options and the
 * values before it, so the router runs and times the steps without knowing the types between them.
 */
export interface RegisteredFunction extends FunctionInfo {
  /** Parses the options from the query (400 when unknown, malformed or out of bounds). */
  prepare(query: URLSearchParams): {
    decode(body: Uint8Array, mediaType: string): { run(context: FunctionContext): Promise<{ post(): unknown }> };
  };
}

export function defineFunction<O extends Record<string, number>, D, R>(definition: FunctionDefinition<O, D, R>): RegisteredFunction {
  const { name, description, accepts, models, options: specs, defaultDeadlineMs } = definition;
  return {
    name,
    description,
    accepts,
    models,
    options: specs,
    ...(defaultDeadlineMs !== undefined ? { defaultDeadlineMs } : {}),
    prepare(query) {
      const options = parseOptions(name, specs, query);
      return {
        decode(body, mediaType) {
          const decoded = definition.decode(body, mediaType, options);
          return {
            async run(context) {
              const result = await definition.run(decoded, context, options);
              return { post: () => definition.post(result, decoded, options) };
            },
          };
        },
      };
    },
  };
}
