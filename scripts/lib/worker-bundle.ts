/**
 * @module The Worker bundled exactly as `wrangler deploy` bundles it (`wrangler deploy --dry-run
 * --outdir`), as a list of modules Miniflare can load: the entry script plus the modules that
 * wrangler.toml's module rules (and wrangler's defaults) split out of it, such as the
 * onnxruntime .wasm (CompiledWasm) and the OCR dictionary .txt (Text). Running the deploy
 * bundle locally means the local stack runs the code a deploy would upload, not a dev build.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT, WRANGLER_JS } from "./wrangler-dev.ts";

export type BundleModuleType = "ESModule" | "CompiledWasm" | "Text" | "Data";

export interface BundleModule {
  type: BundleModuleType;
  path: string;
}

export interface WorkerBundle {
  dir: string;
  modules: BundleModule[];
  /** Removes the bundle's temporary directory. */
  remove(): void;
}

/**
 * wrangler's output file types, from its module rules: what each file was bundled as. A file a rule
 * split out of the bundle is written as `<sha1>-<name>`; the only rule for `.js` and `.css` files
 * is wrangler.toml's Text rule (the dashboard's page and uPlot), so such a file is Text, while the
 * entry and its chunks (no hash) are ES modules.
 */
const TYPE_BY_EXTENSION: [RegExp, BundleModuleType][] = [
  [/^[0-9a-f]{40}-.+\.(m?js|css)$/, "Text"],
  [/\.css$/, "Text"],
  [/\.m?js$/, "ESModule"],
  [/\.wasm$/, "CompiledWasm"],
  [/\.(txt|html|sql)$/, "Text"],
  [/\.bin$/, "Data"],
];

/** The output folder's files as modules, the entry first (Miniflare takes the first module as the entry point). */
export function bundleModules(dir: string, entry = "index.js"): BundleModule[] {
  const modules: BundleModule[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name.endsWith(".map") || name === "README.md") continue;
    const type = TYPE_BY_EXTENSION.find(([pattern]) => pattern.test(name))?.[1];
    if (!type) throw new Error(`the Worker bundle has ${name}, whose module type is unknown: add it to scripts/lib/worker-bundle.ts`);
    modules.push({ type, path: join(dir, name) });
  }
  const at = modules.findIndex((m) => m.path === join(dir, entry));
  if (at < 0) throw new Error(`the Worker bundle in ${dir} has no ${entry}`);
  modules.unshift(...modules.splice(at, 1));
  return modules;
}

/** Bundles the repository's Worker with `wrangler deploy --dry-run` into a temporary directory. */
export async function buildWorkerBundle(signal?: AbortSignal): Promise<WorkerBundle> {
  const dir = mkdtempSync(join(tmpdir(), "hotpath-worker-"));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    await new Promise<void>((done, fail) => {
      const child = spawn(process.execPath, [WRANGLER_JS, "deploy", "--dry-run", "--outdir", dir], {
        cwd: REPO_ROOT,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, WRANGLER_SEND_METRICS: "false", FORCE_COLOR: "0" },
        signal,
      });
      let output = "";
      child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
      child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
      child.once("error", fail);
      child.once("exit", (code) => (code === 0 ? done() : fail(new Error(`wrangler deploy --dry-run exited ${code}:\n${output.slice(-2_000)}`))));
    });
    return { dir, modules: bundleModules(dir), remove };
  } catch (error) {
    remove();
    throw error;
  }
}
