/**
 * @module The origin server's configuration: command-line flags plus the ORIGIN_TOKEN secret from
 * the environment (a secret never goes on a command line, where `ps` shows it to everyone).
 */
import { badRequest } from "../protocol/errors.ts";
import { hostname } from "node:os";
import { parseArgs } from "node:util";
import { NAME_PATTERN, splitServedVersion, type ModelRef } from "../protocol/model-record.ts";

export type ExecutionProvider = "cpu" | "webgpu";

export interface OriginConfig {
  host: string;
  port: number;
  /** Shows as `x-served-by: origin:<id>`; the edge's pool names origins by it. */
  id: string;
  edge: string;
  token: string;
  ep: ExecutionProvider;
  /** With `--ep webgpu`: exit instead of falling back to cpu when the GPU is missing. */
  strict: boolean;
  cacheDir: string;
  models: ModelRef[];
  /** Off: every request runs alone (the baseline the batching benchmark compares against). */
  batching: boolean;
  maxQueueLength: number;
  /** Priority of a request that names none (Triton's convention: 1 is the highest). */
  defaultPriority: number;
  /** Deadline of a request that sends no `parameters.timeout`, and the longest one allowed. */
  defaultTimeoutMs: number;
  maxTimeoutMs: number;
  maxBodyBytes: number;
  /** Elements of a request's inputs together (parseInferRequest's limit, as on the edge). */
  maxTensorElements: number;
  /** onnxruntime intra-op threads; 0 lets onnxruntime use every core. */
  threads: number;
}

export const USAGE = `usage: ORIGIN_TOKEN=<secret> node origin/server.ts [options]
  --port 8788 --host 127.0.0.1      where to listen
  --edge http://127.0.0.1:8787      the edge that serves model records and bytes
  --models name@version,...         models to fetch, cache, warm and serve (a variant: name@version~variant)
  --ep cpu|webgpu [--strict]        execution provider; webgpu falls back to cpu unless --strict
  --cache-dir .hotpath/origin-cache where verified model files are kept
  --id <name>                       x-served-by: origin:<id> (default host:port)
  --batching on|off                 dynamic batching (default on)
  --max-queue 256 --default-priority 2 --default-timeout-ms 10000 --max-timeout-ms 60000
  --max-body-mb 64 --threads 0`;

/**
 * @example
 * parseConfig(["--port", "8850", "--models", "mlp-tiny@1"], { ORIGIN_TOKEN: "s3cret" }).models // [{ name: "mlp-tiny", version: "1" }]
 */
export function parseConfig(argv: string[], env: Record<string, string | undefined>): OriginConfig {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        port: { type: "string", default: "8788" },
        host: { type: "string", default: "127.0.0.1" },
        id: { type: "string" },
        edge: { type: "string", default: "http://127.0.0.1:8787" },
        ep: { type: "string", default: "cpu" },
        strict: { type: "boolean", default: false },
        "cache-dir": { type: "string", default: ".hotpath/origin-cache" },
        models: { type: "string", default: "" },
        batching: { type: "string", default: "on" },
        "max-queue": { type: "string", default: "256" },
        "default-priority": { type: "string", default: "2" },
        "default-timeout-ms": { type: "string", default: "10000" },
        "max-timeout-ms": { type: "string", default: "60000" },
        "max-body-mb": { type: "string", default: "64" },
        threads: { type: "string", default: "0" },
      },
    }));
  } catch (error) {
    throw badRequest(error instanceof Error ? error.message : String(error));
  }
  const token = env.ORIGIN_TOKEN ?? "";
  if (token.length < 8) throw badRequest("ORIGIN_TOKEN must be set in the environment (at least 8 characters): the secret shared with the edge");
  if (values.ep !== "cpu" && values.ep !== "webgpu") throw badRequest(`--ep must be cpu or webgpu, got '${values.ep}'`);
  if (values.batching !== "on" && values.batching !== "off") throw badRequest(`--batching must be on or off, got '${values.batching}'`);
  let edge: URL;
  try {
    edge = new URL(values.edge);
  } catch {
    throw badRequest(`--edge must be a URL, got '${values.edge}'`);
  }
  const port = int(values.port, "--port", 0, 65535);
  const defaultTimeoutMs = int(values["default-timeout-ms"], "--default-timeout-ms", 1, 3_600_000);
  return {
    host: values.host,
    port,
    id: values.id ?? `${hostname()}:${port}`,
    edge: edge.href.replace(/\/$/, ""),
    token,
    ep: values.ep,
    strict: values.strict,
    cacheDir: values["cache-dir"],
    models: parseModelList(values.models),
    batching: values.batching === "on",
    maxQueueLength: int(values["max-queue"], "--max-queue", 1, 100_000),
    defaultPriority: int(values["default-priority"], "--default-priority", 1, 1_000),
    defaultTimeoutMs,
    maxTimeoutMs: int(values["max-timeout-ms"], "--max-timeout-ms", defaultTimeoutMs, 3_600_000),
    maxBodyBytes: int(values["max-body-mb"], "--max-body-mb", 1, 4096) * 1024 * 1024,
    maxTensorElements: 1 << 26,
    threads: int(values.threads, "--threads", 0, 1024),
  };
}

/**
 * `a@1,b@2,b@2~int8` to refs (a variant by its served version, the version holding both); names
 * and versions become cache paths, so they are held to the registry's pattern.
 */
export function parseModelList(list: string): ModelRef[] {
  return list
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "")
    .map((item) => {
      const [name = "", version = "", ...rest] = item.split("@");
      if (rest.length > 0 || !NAME_PATTERN.test(name) || !splitServedVersion(version)) {
        throw badRequest(`--models entries are name@version or name@version~variant (letters, digits, . _ -), got '${item}'`);
      }
      return { name, version };
    });
}

function int(raw: string, flag: string, min: number, max: number): number {
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min || value > max) throw badRequest(`${flag} must be an integer from ${min} to ${max}, got '${raw}'`);
  return value;
}
