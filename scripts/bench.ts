/**
 * @module `npm run bench [-- --scenario overhead|cost|overload|overload-one-session|batching|spill|origin-batching|functions|start|variants] [--quick]`:
 * prepares the models and fixtures it needs (as `npm run models` does; quick when they are up to date), starts its own local
 * stacks (wrangler dev on 127.0.0.1:882x, `npm start` on 8861-8865, temporary state) and origins, runs the scenarios one by one
 * with progress on stderr, prints BENCHMARKS.md-ready markdown on stdout, and writes
 * results.json, report.md and SVG charts under .hotpath/bench/. Every stack it starts is stopped,
 * on success, failure or Ctrl-C.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { batching } from "./bench/batching.ts";
import { cost } from "./bench/cost.ts";
import { functions } from "./bench/functions.ts";
import { StackPool, type Scenario, type ScenarioResult } from "./bench/context.ts";
import { overhead } from "./bench/overhead.ts";
import { originBatching } from "./bench/origin-batching.ts";
import { originEp } from "./bench/origin-ep.ts";
import { overloadIn } from "./bench/overload.ts";
import { spill } from "./bench/spill.ts";
import { start } from "./bench/start-scenario.ts";
import { variants } from "./bench/variants.ts";
import { REPO_ROOT } from "./lib/wrangler-dev.ts";

const SCENARIOS: Record<string, Scenario> = {
  overhead,
  cost,
  overload: overloadIn("split"),
  "overload-one-session": overloadIn("one-session"),
  batching,
  spill,
  "origin-batching": originBatching,
  functions,
  start,
  variants,
};
/** Run only when asked for: it needs a GPU machine to say anything (docs/gpu.md). */
const ON_REQUEST: Record<string, Scenario> = { "origin-ep": originEp };

const USAGE = `usage: npm run bench [-- --scenario overhead|cost|overload|overload-one-session|batching|spill|origin-batching|functions|start|variants|origin-ep ...] [--quick] [--out DIR]

  --scenario, -s  run only these (repeat or comma-separate); default: all but origin-ep, in the order above
                  (origin-ep compares the origin on webgpu and cpu: run it on a GPU machine, see docs/gpu.md)
  --quick         short runs (about a minute in all) to check the setup, not to quote
  --out           where results.json, report.md and the SVG charts go (default .hotpath/bench)

Prepares the models and fixtures under .hotpath/ first (\`npm run models\`; quick when they are up to date).
Uses ports 8821-8838, 8861-8863 (\`start\`: the \`npm start\` stack, its origin and a plain peer) and 8864-8865
(\`variants\`: its own \`npm start\` stack and origin).`;

/**
 * The models and fixtures every scenario reads, made as `npm run models` makes them (each step
 * skips what is up to date), so a fresh clone runs the benchmark without a step of its own.
 * Their output goes to stderr: stdout is the report. Returns why it failed, or undefined.
 */
function prepareInputs(log: (line: string) => void): string | undefined {
  for (const script of ["scripts/prepare-models.ts", "scripts/make-fixtures.ts"]) {
    log(`preparing: node ${script}`);
    const result = spawnSync(process.execPath, [join(REPO_ROOT, script)], { cwd: REPO_ROOT, stdio: ["ignore", 2, 2] });
    if (result.status !== 0) {
      return (
        `${script} failed (${result.error?.message ?? `exit ${result.status ?? result.signal}`}); its output is above. ` +
        "The fixtures need espeak-ng, sox, imagemagick and fonts-dejavu-core (see README.md, Requirements)."
      );
    }
  }
  return undefined;
}

function versionOf(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(join(REPO_ROOT, "node_modules", pkg, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "?";
  }
}

export function machine() {
  const cores = cpus();
  return {
    cpu: cores[0]?.model.trim() ?? "unknown",
    cores: cores.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    kernel: `${process.platform} ${release()}`,
    wrangler: versionOf("wrangler"),
    workerd: versionOf("workerd"),
    onnxruntimeWeb: versionOf("onnxruntime-web"),
    loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
    date: new Date().toISOString(),
  };
}

const controller = new AbortController();
let interrupted = 0;
const onSignal = (signal: string) => {
  interrupted++;
  if (interrupted > 1) {
    console.error(`second ${signal}: exiting without waiting`);
    process.exit(130);
  }
  console.error(`\n${signal}: stopping the benchmark's stacks`);
  controller.abort();
};
process.on("SIGINT", () => onSignal("SIGINT"));
process.on("SIGTERM", () => onSignal("SIGTERM"));

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      scenario: { type: "string", short: "s", multiple: true },
      quick: { type: "boolean", default: false },
      out: { type: "string", default: join(REPO_ROOT, ".hotpath/bench") },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const names = (values.scenario ?? Object.keys(SCENARIOS))
    .flatMap((s) => s.split(","))
    .map((s) => s.trim())
    .filter(Boolean);
  const known = { ...SCENARIOS, ...ON_REQUEST };
  for (const name of names) if (!known[name]) throw new Error(`unknown scenario '${name}'; choose from ${Object.keys(known).join(", ")}`);
  const outDir = resolve(values.out);
  mkdirSync(outDir, { recursive: true });
  const quick = values.quick;
  const host = machine();
  const started = performance.now();
  const log = (line: string) => console.error(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s] ${line}`);
  log(
    `machine: ${host.cpu}, ${host.cores} cores, ${host.memoryGiB} GiB, Node ${host.node}, wrangler ${host.wrangler}, load average ${host.loadAverageAtStart.join(" ")}`,
  );

  const unprepared = prepareInputs(log);
  if (unprepared) {
    console.error(`bench: ${unprepared}`);
    return 1;
  }

  const results: ScenarioResult[] = [];
  const pool = new StackPool();
  // Ctrl-C: stop the stacks at once, so the requests in flight fail fast and the scenario ends.
  controller.signal.addEventListener("abort", () => void pool.stopAll(), { once: true });
  try {
    for (const name of names) {
      if (controller.signal.aborted) break;
      log(`scenario ${name}${quick ? " (quick)" : ""}`);
      const scenarioStarted = performance.now();
      try {
        results.push(
          await known[name]!({
            quick,
            log,
            signal: controller.signal,
            startStack: (options) => pool.start({ ...options, signal: controller.signal }),
            track: (process) => pool.track(process),
          }),
        );
      } finally {
        await pool.stopAll();
      }
      log(`scenario ${name} done in ${((performance.now() - scenarioStarted) / 1000).toFixed(0)} s`);
    }
  } catch (error) {
    if (controller.signal.aborted) return 130; // a consequence of stopping the stacks
    throw error;
  } finally {
    await pool.stopAll();
  }
  if (controller.signal.aborted) return 130;

  const totalS = (performance.now() - started) / 1000;
  const charts: string[] = [];
  for (const result of results) {
    for (const [file, svg] of Object.entries(result.charts)) {
      writeFileSync(join(outDir, file), svg);
      charts.push(file);
    }
  }
  const machineLine =
    `Machine: ${host.cpu}, ${host.cores} cores, ${host.memoryGiB} GiB RAM, ${host.kernel}; Node ${host.node}, wrangler ${host.wrangler} (workerd ${host.workerd}), ` +
    `onnxruntime-web ${host.onnxruntimeWeb}; load average at start ${host.loadAverageAtStart.join(" ")}; ${host.date}; ` +
    `${quick ? "`--quick` run" : "full run"} of ${names.join(", ")} in ${totalS.toFixed(0)} s.`;
  const markdown = [
    machineLine,
    "",
    ...results.map((r) => r.markdown + "\n"),
    ...(charts.length > 0 ? [`Charts: ${charts.map((c) => `\`${relative(REPO_ROOT, join(outDir, c))}\``).join(", ")}.`] : []),
    "",
  ].join("\n");
  writeFileSync(
    join(outDir, "results.json"),
    `${JSON.stringify({ machine: host, quick, totalSeconds: totalS, scenarios: Object.fromEntries(results.map((r) => [r.name, r.data])) })}\n`,
  );
  writeFileSync(join(outDir, "report.md"), markdown);
  process.stdout.write(markdown);
  log(`wrote ${relative(REPO_ROOT, outDir)}/results.json, report.md and ${charts.length} charts; ${totalS.toFixed(0)} s in all`);
  return 0;
}

try {
  process.exitCode = await main();
} catch (error) {
  console.error(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exitCode = 1;
}
