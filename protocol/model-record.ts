/**
 * @module The model catalog's records: what the registry stores, publishes to KV for the
 * router's fast reads, and hands to a ModelHost with every call (so the host never has to
 * look metadata up on the hot path).
 */
import type { BatchAxes } from "./batching.ts";
import type { TensorSpec } from "./oip/tensor.ts";

export type Placement = "edge" | "origin" | "auto";
export const PLACEMENTS: readonly Placement[] = ["edge", "origin", "auto"];

/** A model version by name, as the origins, the pool and the command lines refer to one. */
export interface ModelRef {
  name: string;
  version: string;
  /**
   * The variant of the version this names, if any: set only on the record a variant runs as
   * (router/placement/variant-choice.ts variantAsVersion), never stored or published. Origins
   * serve it under servedVersion(ref).
   */
  variant?: string;
}

/** `tenant`: an answer is served only to the tenant whose request made it; `shared`: to any tenant sending the same inputs. */
export type CacheScope = "tenant" | "shared";
export const CACHE_SCOPES: readonly CacheScope[] = ["tenant", "shared"];

export interface ResponseCacheSetting {
  ttlSeconds: number;
  scope: CacheScope;
}

/** `warming`: uploaded, being loaded by the hosts, not yet eligible as default. */
export type VersionState = "warming" | "ready" | "unloaded";

export interface ModelVersionRecord extends ModelRef {
  /** Object key of the .onnx bytes in the MODELS bucket. */
  r2Key: string;
  sha256: string;
  bytes: number;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  placement: Placement;
  /** Most rows one run may take (requests' batch sizes added up); 1 turns batching off. */
  maxBatch: number;
  /** How long a ModelHost may hold a request to fill a batch (Triton's max_queue_delay). */
  maxQueueDelayMs: number;
  /** Batch axis of each tensor, read from the model; undefined when it cannot batch. */
  batchAxes: BatchAxes | undefined;
  /** Replicas per region: the router spreads traffic over at least min and at most max. */
  minReplicas: number;
  maxReplicas: number;
  /**
   * Share of OIP inferences (0..1) whose request and answer are written to R2 (router/payload-log.ts).
   * Optional: records published to KV before the setting existed do not carry it; absent means 0.
   */
  logPayloads?: number;
  /** Edge cache of this version's OIP answers (router/response-cache/); absent means off, as in records published before it existed. */
  cache?: ResponseCacheSetting;
  state: VersionState;
  createdAt: number;
  /** Other bytes of this version (int8, fp16, ...) a request may pin or be degraded to (router/variants/); absent: none. */
  variants?: VariantRecord[];
}

/** What the accuracy guard measured of a variant against its version's default bytes on the same probe inputs. */
export interface VariantAccuracy {
  probes: number;
  /** `generated` from the input signature with a seeded PRNG (protocol/probe-inputs.ts), or `uploaded` by the uploader. */
  source: "generated" | "uploaded";
  maxAbsError: number;
  /** The largest absolute error over the largest magnitude of the default's output, per output. */
  maxRelError: number;
  /** Share of rows whose argmax agrees, when the outputs look like class scores ([N, C]); null otherwise. */
  top1Agreement: number | null;
}

export interface VariantRecord {
  /** NAME_PATTERN; `default` and `auto` are reserved (RESERVED_VARIANTS). */
  variant: string;
  r2Key: string;
  sha256: string;
  bytes: number;
  placement: Placement;
  accuracy: VariantAccuracy;
  /** The uploader's bound on maxAbsError, null when none was set. */
  maxError: number | null;
  createdAt: number;
}

/** `default` names the version's own bytes; `auto` asks the router to choose (parameters.variant). */
export const RESERVED_VARIANTS: readonly string[] = ["default", "auto"];

export interface ModelRecord {
  name: string;
  /** The version `/v2/models/{m}/infer` without a version runs; undefined when none is ready. */
  defaultVersion: string | undefined;
  /** Set when an operator pinned the default instead of taking the highest ready version. */
  pinnedVersion: string | undefined;
  versions: ModelVersionRecord[];
}

/** Names and versions go into URLs, object keys and Durable Object names. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * Joins a version and a variant in the name origins serve the variant under (`1~int8`): NAME_PATTERN
 * has no '~', so no version a user uploads can be one, and the edge refuses it in any public path.
 * `~` is unreserved in URLs and harmless in file names (the origin's cache directory).
 */
export const VARIANT_SEPARATOR = "~";

/** The version an origin serves `ref` under: the version itself, or `<version>~<variant>` for a variant. */
export function servedVersion(ref: Pick<ModelRef, "version" | "variant">): string {
  return ref.variant === undefined ? ref.version : `${ref.version}${VARIANT_SEPARATOR}${ref.variant}`;
}

/** A served version read back: undefined when it is neither a version nor `<version>~<variant>` of names. */
export function splitServedVersion(served: string): { version: string; variant: string | undefined } | undefined {
  const [version = "", variant, ...rest] = served.split(VARIANT_SEPARATOR);
  if (rest.length > 0 || !NAME_PATTERN.test(version) || (variant !== undefined && !NAME_PATTERN.test(variant))) return undefined;
  return { version, variant };
}

/** Numeric versions compare as numbers (so 10 > 9), others lexicographically after them. */
export function compareVersions(a: string, b: string): number {
  const numericA = /^\d+$/.test(a);
  const numericB = /^\d+$/.test(b);
  if (numericA && numericB) return Number(a) - Number(b) || a.localeCompare(b);
  if (numericA !== numericB) return numericA ? -1 : 1;
  return a.localeCompare(b);
}

export function chooseDefault(versions: ModelVersionRecord[], pinned: string | undefined): string | undefined {
  const ready = versions.filter((v) => v.state === "ready");
  if (pinned && ready.some((v) => v.version === pinned)) return pinned;
  return ready
    .map((v) => v.version)
    .sort(compareVersions)
    .at(-1);
}

export const catalogKey = (name: string): string => `model:${name}`;

/** How long a router isolate keeps a model's record before reading the catalog again. */
export const CATALOG_CACHE_MS = 2_000;
/** How long a KV write may take to reach every location (Cloudflare: up to a minute). */
export const KV_PROPAGATION_MS = 60_000;
