/**
 * @module `hotpath models push <name> <version> <file>`: a version from an .onnx file, or with
 * `--variant <name>` other bytes of an existing version (an int8 copy from `models quantize`).
 * One command for both because a variant is addressed as its version is, plus a name (the admin
 * route is `.../versions/{v}/variants/{variant}`): the user learns one upload, and the options
 * that only make sense for one of the two are refused for the other before anything is sent.
 */
import { Command, Option } from "commander";
import { createHash } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import { resolve } from "node:path";
import { CACHE_SCOPES, PLACEMENTS, type CacheScope, type Placement } from "../../../protocol/model-record.ts";
import type { ModelVersion, UploadResult, VariantUploadResult } from "../../lib/admin-client.ts";
import { nonNegativeInteger, nonNegativeNumber, positiveInteger, rate } from "../arguments.ts";
import { contextOf } from "../context.ts";
import { CliError } from "../errors.ts";
import { answer, fields, formatBytes, formatError } from "../output.ts";
import { uploadProgress } from "../upload-progress.ts";

interface PushOptions {
  placement?: Placement;
  maxBatch?: number;
  maxQueueDelayUs?: number;
  minReplicas?: number;
  maxReplicas?: number;
  logPayloads?: number;
  cacheTtl?: number;
  cacheScope?: CacheScope;
  stateful?: boolean;
  variant?: string;
  maxError?: number;
  probes?: number;
}

/** The options each kind of push takes, by their flags: the rest are refused for it. */
const VERSION_ONLY: [keyof PushOptions, string][] = [
  ["placement", "--placement"],
  ["maxBatch", "--max-batch"],
  ["maxQueueDelayUs", "--max-queue-delay-us"],
  ["minReplicas", "--min-replicas"],
  ["maxReplicas", "--max-replicas"],
  ["logPayloads", "--log-payloads"],
  ["cacheTtl", "--cache-ttl"],
  ["cacheScope", "--cache-scope"],
  ["stateful", "--stateful"],
];
const VARIANT_ONLY: [keyof PushOptions, string][] = [
  ["maxError", "--max-error"],
  ["probes", "--probes"],
];

/** The file's size, refusing what is not there, not a file, or empty before anything is sent. */
function fileSize(file: string): number {
  let size: number;
  try {
    const stats = statSync(file);
    if (!stats.isFile()) throw new CliError(`${file} is not a file`);
    size = stats.size;
  } catch (error) {
    if (error instanceof CliError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(code === "ENOENT" ? `no such file: ${file}` : `cannot read ${file} (${code ?? String(error)})`);
  }
  if (size === 0) throw new CliError(`${file} is empty`);
  return size;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

const signature = (specs: ModelVersion["inputs"]): string => specs.map((s) => `${s.name} ${s.datatype}[${s.shape.join(",")}]`).join(", ");

function describeUpload(result: UploadResult): string {
  const v = result.version;
  return fields([
    ["registered", `${result.name}@${v.version}`],
    ["state", v.state],
    ["placement", v.placement],
    ["max batch", v.maxBatch],
    ["size", formatBytes(v.bytes)],
    ["sha256", v.sha256],
    ["inputs", signature(v.inputs)],
    ["outputs", signature(v.outputs)],
    ["response cache", v.cache ? `${v.cache.ttlSeconds} s, ${v.cache.scope}` : "off"],
    ["default version", result.defaultVersion ?? "(none ready)"],
  ]);
}

function describeVariantUpload(result: VariantUploadResult): string {
  const variant = result.variant;
  const accuracy = variant.accuracy;
  return fields([
    ["registered", `${result.name}@${result.version} variant ${variant.variant}`],
    ["placement", variant.placement],
    ["size", formatBytes(variant.bytes)],
    ["sha256", variant.sha256],
    ["max abs error", `${formatError(accuracy.maxAbsError)} on ${accuracy.probes} ${accuracy.source} probes (bound: ${variant.maxError ?? "none"})`],
    ["max rel error", formatError(accuracy.maxRelError)],
    ["top-1 agreement", accuracy.top1Agreement === null ? "-" : `${(accuracy.top1Agreement * 100).toFixed(1)}%`],
    ["variants", result.variants.map((v) => v.variant).join(", ")],
  ]);
}

/** Refuses, as a command-line error (exit 2), the options the other kind of push takes. */
function refuseForeignOptions(options: PushOptions, command: Command): void {
  const [foreign, kind] = options.variant === undefined ? [VARIANT_ONLY, "--variant"] : [VERSION_ONLY, "a version push"];
  const given = foreign.filter(([key]) => options[key] !== undefined).map(([, flag]) => flag);
  if (given.length === 0) return;
  command.error(
    options.variant === undefined
      ? `error: ${given.join(", ")} ${given.length > 1 ? "need" : "needs"} ${kind} (they measure a variant against its version)`
      : `error: ${given.join(", ")} ${given.length > 1 ? "are options of" : "is an option of"} ${kind}: a variant runs at the edge with its version's settings`,
  );
}

async function push(name: string, version: string, file: string, options: PushOptions, command: Command): Promise<void> {
  refuseForeignOptions(options, command);
  const path = resolve(file);
  const size = fileSize(path);
  const { client, url, json } = contextOf(command);
  // Hashed locally first so the digest the server computed proves the bytes arrived intact.
  const localSha = await sha256File(path);
  const label = options.variant === undefined ? `${name}@${version}` : `${name}@${version}:${options.variant}`;
  process.stderr.write(`pushing ${label} (${formatBytes(size)}, sha256 ${localSha.slice(0, 12)}) to ${url}\n`);
  const progress = uploadProgress(label, size);
  const onProgress = (sent: number) => progress.update(sent);
  try {
    if (options.variant !== undefined) {
      const result = await client.uploadVariant(name, version, options.variant, path, { maxError: options.maxError, probes: options.probes }, onProgress);
      progress.finish("uploaded");
      if (result.variant.sha256 !== localSha) throw new CliError(`the server stored sha256 ${result.variant.sha256}, the file has ${localSha}`);
      answer(json, result, describeVariantUpload);
      return;
    }
    const result = await client.uploadModel(
      name,
      version,
      path,
      {
        placement: options.placement,
        maxBatch: options.maxBatch,
        maxQueueDelayMicroseconds: options.maxQueueDelayUs,
        minReplicas: options.minReplicas,
        maxReplicas: options.maxReplicas,
        logPayloads: options.logPayloads,
        cacheTtlSeconds: options.cacheTtl,
        cacheScope: options.cacheScope,
        stateful: options.stateful,
      },
      onProgress,
    );
    progress.finish("uploaded");
    if (result.version.sha256 !== localSha) throw new CliError(`the server stored sha256 ${result.version.sha256}, the file has ${localSha}`);
    answer(json, result, describeUpload);
  } catch (error) {
    progress.finish("failed"); // a no-op once it finished
    throw error;
  }
}

export function pushCommand(): Command {
  return new Command("push")
    .description("upload a version from an .onnx file, or with --variant other bytes of a version (streamed, with progress; checked before served)")
    .argument("<name>", "model name")
    .argument("<version>", "version to create (409 if it exists), or whose variant this is")
    .argument("<file>", "the .onnx file")
    .addOption(new Option("--placement <where>", "where it runs (server default: edge)").choices(PLACEMENTS))
    .option("--max-batch <n>", "rows batched into one run (server default: 1)", positiveInteger)
    .option("--max-queue-delay-us <us>", "longest a request waits for a batch to fill, microseconds", nonNegativeInteger)
    .option("--min-replicas <n>", "replicas per region at least", positiveInteger)
    .option("--max-replicas <n>", "replicas per region at most", positiveInteger)
    .option("--log-payloads <rate>", "share of inferences whose request and answer are logged to R2 (0 to 1; server default 0)", rate)
    .option("--cache-ttl <seconds>", "keep answers in the edge's response cache this long (1 to 86400; server default 0: off)", nonNegativeInteger)
    .addOption(new Option("--cache-scope <scope>", "who may get a cached answer: its tenant (server default) or any tenant").choices(CACHE_SCOPES))
    .option("--stateful", "the model carries state between requests: never cache its answers (server default: read from its input and output names)")
    .option("--no-stateful", "the model carries no state, whatever its input and output names say")
    .option("--variant <variant>", "upload the file as this variant of the existing version (int8, fp16, ...), run at the edge")
    .option("--max-error <x>", "with --variant: refuse it (422) when its max absolute error against the version is over x", nonNegativeNumber)
    .option("--probes <n>", "with --variant: generated probe inputs the error is measured on (server default: 16, at most 256)", positiveInteger)
    .action(push);
}
