/**
 * @module `hotpath models list | push | default | delete | load | unload`: the model catalog and
 * its variants through the admin API; `push` is ./models-push.ts, and `quantize` (./quantize.ts)
 * works on local files.
 */
import { Command } from "commander";
import type { Model } from "../../lib/admin-client.ts";
import { contextOf } from "../context.ts";
import { answer, formatBytes, formatError, formatTime, table } from "../output.ts";
import { pushCommand } from "./models-push.ts";
import { quantizeCommand } from "./quantize.ts";

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
  const versions = table(["model", "version", "state", "placement", "max batch", "size", "default", "created"], rows);
  return [versions, describeVariants(models)].filter(Boolean).join("\n\n");
}

/** A second table, when any version has variants: each with what the accuracy guard measured at its upload. */
function describeVariants(models: Model[]): string {
  const rows = models.flatMap((model) =>
    model.versions.flatMap((v) =>
      (v.variants ?? []).map((variant) => [
        `${model.name}@${v.version}`,
        variant.variant,
        variant.placement,
        formatBytes(variant.bytes),
        formatError(variant.accuracy.maxAbsError),
        formatError(variant.accuracy.maxRelError),
        variant.accuracy.top1Agreement === null ? undefined : `${(variant.accuracy.top1Agreement * 100).toFixed(1)}%`,
        variant.maxError ?? undefined,
        formatTime(variant.createdAt),
      ]),
    ),
  );
  if (rows.length === 0) return "";
  return table(["variant of", "variant", "placement", "size", "max abs error", "max rel error", "top-1", "max error", "created"], rows);
}

export function modelsCommand(): Command {
  const models = new Command("models").description(
    "the model catalog: upload versions and their variants, list, pin the default, delete, load and unload; quantize a local file",
  );

  models
    .command("list")
    .description("every model and version: state, placement, size, which is the default; then the variants with their measured error")
    .action(async (_options: object, command: Command) => {
      const { client, json } = contextOf(command);
      const list = await client.listModels();
      answer(json, { models: list }, (value) => describeModels(value.models));
    });

  models.addCommand(pushCommand());

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
    .description("delete a version (the default or last ready one only with --force), or with --variant one of its variants")
    .argument("<name>", "model name")
    .argument("<version>", "version to delete, or whose variant to delete")
    .option("--force", "also delete the default or the last ready version")
    .option("--variant <variant>", "delete only this variant of the version; requests pinning it then get 400")
    .action(async (name: string, version: string, options: { force?: boolean; variant?: string }, command: Command) => {
      if (options.variant !== undefined && options.force) command.error("error: --force deletes versions; a variant is deleted without it");
      const { client, json } = contextOf(command);
      if (options.variant !== undefined) {
        const deleted = await client.deleteVariant(name, version, options.variant);
        const { deleted: d } = deleted;
        answer(json, deleted, () => `deleted variant ${d.variant} of ${d.name}@${d.version}; its bytes leave storage at ${deleted.bytesRemovedAt}`);
        return;
      }
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
