/** @module `hotpath models list | push | default | delete | load | unload`: the model catalog through the admin API; `quantize` (./quantize.ts) works on local files. */
import { Command, Option } from "commander";
import { createHash } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import { resolve } from "node:path";
import { PLACEMENTS, type Placement } from "../../../protocol/model-record.ts";
import type { Model, ModelVersion, UploadResult } from "../../lib/admin-client.ts";
import { nonNegativeInteger, positiveInteger, rate } from "../arguments.ts";
import { contextOf } from "../context.ts";
import { CliError } from "../errors.ts";
import { answer, fields, formatBytes, formatTime, table } from "../output.ts";
import { uploadProgress } from "../upload-progress.ts";
import { quantizeCommand } from "./quantize.ts";

interface PushOptions {
  placement?: Placement;
  maxBatch?: number;
  maxQueueDelayUs?: number;
  minReplicas?: number;
  maxReplicas?: number;
  logPayloads?: number;
}

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
    ["default version", result.defaultVersion ?? "(none ready)"],
  ]);
}

function describeModels(models: Model[]): string {
  if (models.length === 0) return "no models registered";
  const rows = models.flatMap((model) =>
    model.versions.map((v) => [
      model.name,
      v.version,
      v.state,
      v.placement,
      v.maxBatch,
      formatBytes(v.bytes),
      v.version === model.defaultVersion ? (model.pinnedVersion === v.version ? "pinned" : "yes") : "",
      formatTime(v.createdAt),
    ]),
  );
  return table(["model", "version", "state", "placement", "max batch", "size", "default", "created"], rows);
}

async function push(name: string, version: string, file: string, options: PushOptions, command: Command): Promise<void> {
  const path = resolve(file);
  const size = fileSize(path);
  const { client, url, json } = contextOf(command);
  // Hashed locally first so the digest the server computed proves the bytes arrived intact.
  const localSha = await sha256File(path);
  process.stderr.write(`pushing ${name}@${version} (${formatBytes(size)}, sha256 ${localSha.slice(0, 12)}) to ${url}\n`);
  const progress = uploadProgress(`${name}@${version}`, size);
  let result: UploadResult;
  try {
    result = await client.uploadModel(
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
      },
      (sent) => progress.update(sent),
    );
  } catch (error) {
    progress.finish("failed");
    throw error;
  }
  progress.finish("uploaded");
  if (result.version.sha256 !== localSha) throw new CliError(`the server stored sha256 ${result.version.sha256}, the file has ${localSha}`);
  answer(json, result, describeUpload);
}

export function modelsCommand(): Command {
  const models = new Command("models").description("the model catalog: upload, list, pin the default, delete, load and unload; quantize a local file");

  models
    .command("list")
    .description("every model and version: state, placement, size, which is the default")
    .action(async (_options: object, command: Command) => {
      const { client, json } = contextOf(command);
      const list = await client.listModels();
      answer(json, { models: list }, (value) => describeModels(value.models));
    });

  models
    .command("push")
    .description("upload a version from an .onnx file (streamed, with progress; checked to load before it is served)")
    .argument("<name>", "model name")
    .argument("<version>", "version to create (409 if it exists)")
    .argument("<file>", "the .onnx file")
    .addOption(new Option("--placement <where>", "where it runs (server default: edge)").choices(PLACEMENTS))
    .option("--max-batch <n>", "rows batched into one run (server default: 1)", positiveInteger)
    .option("--max-queue-delay-us <us>", "longest a request waits for a batch to fill, microseconds", nonNegativeInteger)
    .option("--min-replicas <n>", "replicas per region at least", positiveInteger)
    .option("--max-replicas <n>", "replicas per region at most", positiveInteger)
    .option("--log-payloads <rate>", "share of inferences whose request and answer are logged to R2 (0 to 1; server default 0)", rate)
    .action(push);

  models
    .command("default")
    .description("pin the version served when a request names none, or --unpin to serve the highest ready one")
    .argument("<name>", "model name")
    .argument("[version]", "the version to pin")
    .option("--unpin", "serve the highest ready version again")
    .action(async (name: string, version: string | undefined, options: { unpin?: boolean }, command: Command) => {
      if ((version === undefined) === (options.unpin !== true)) command.error("error: give either a version to pin or --unpin");
      const { client, json } = contextOf(command);
      const record = await client.setDefault(name, version ?? null);
      answer(json, record, (m) => `${m.name}: default version ${m.defaultVersion ?? "(none ready)"}${m.pinnedVersion ? " (pinned)" : " (highest ready)"}`);
    });

  models
    .command("delete")
    .description("delete a version (the default or last ready one only with --force)")
    .argument("<name>", "model name")
    .argument("<version>", "version to delete")
    .option("--force", "also delete the default or the last ready version")
    .action(async (name: string, version: string, options: { force?: boolean }, command: Command) => {
      const { client, json } = contextOf(command);
      const deleted = await client.deleteVersion(name, version, options.force === true);
      answer(json, deleted, (d) => `deleted ${d.deleted.name}@${d.deleted.version}; its bytes leave storage at ${d.bytesRemovedAt}`);
    });

  for (const load of [true, false]) {
    models
      .command(load ? "load" : "unload")
      .description(load ? "serve every version of the model again (OIP repository load)" : "stop serving the model (OIP repository unload; 503 until loaded)")
      .argument("<name>", "model name")
      .action(async (name: string, _options: object, command: Command) => {
        const { client, json } = contextOf(command);
        const change = await client.setLoaded(name, load);
        answer(
          json,
          change,
          (c) =>
            `${c.name} ${load ? "loaded" : "unloaded"}\n${table(
              ["version", "state"],
              c.versions.map((v) => [v.version, v.state]),
            )}`,
        );
      });
  }
  models.addCommand(quantizeCommand());
  return models;
}
