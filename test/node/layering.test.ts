/**
 * @module The tree is the architecture: each floor imports only from the floors below it
 * (config -> protocol -> scheduler -> durable-objects -> router; origin beside router, on protocol
 * and scheduler only), no module imports itself back through others, no file grows past 400 lines,
 * and nothing points outside the repository.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { test } from "node:test";
import { REPO_ROOT } from "../../scripts/lib/wrangler-dev.ts";

/** What each top folder of the runtime code may import (besides itself and npm packages). */
const MAY_IMPORT: Record<string, readonly string[]> = {
  config: [],
  protocol: ["config"],
  scheduler: ["config", "protocol"],
  functions: ["config", "protocol"],
  "durable-objects": ["config", "protocol", "scheduler", "functions"],
  router: ["config", "protocol", "scheduler", "functions", "durable-objects"],
  origin: ["config", "protocol", "scheduler", "functions"],
};

const tracked = execFileSync("git", ["ls-files"], { cwd: REPO_ROOT, encoding: "utf8" }).split("\n").filter(Boolean);
const sources = tracked.filter((f) => /\.(ts|mts)$/.test(f) && !f.endsWith(".d.ts"));
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+["'](\.{1,2}\/[^"']+)["']/g;

function importsOf(file: string): string[] {
  const text = readFileSync(join(REPO_ROOT, file), "utf8");
  return [...text.matchAll(IMPORT)].map((m) => normalize(join(dirname(file), m[1]!)));
}

const graph = new Map(sources.map((file) => [file, importsOf(file)]));
const floor = (file: string) => file.split("/")[0]!;

test("each floor imports only from the floors below it", () => {
  const upward: string[] = [];
  for (const [file, imports] of graph) {
    const allowed = MAY_IMPORT[floor(file)];
    if (!allowed) continue; // scripts/ and test/ may use everything
    for (const target of imports) {
      if (floor(target) !== floor(file) && !allowed.includes(floor(target))) upward.push(`${file} -> ${target}`);
    }
  }
  assert.deepEqual(upward, []);
});

test("no import cycles", () => {
  const cycles: string[] = [];
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (file: string) => {
    const at = path.indexOf(file);
    if (at >= 0) return void cycles.push([...path.slice(at), file].join(" -> "));
    if (done.has(file)) return;
    path.push(file);
    for (const target of graph.get(file) ?? []) visit(target);
    path.pop();
    done.add(file);
  };
  for (const file of graph.keys()) visit(file);
  assert.deepEqual(cycles, []);
});

test("every import resolves to a tracked file", () => {
  const missing = [...graph].flatMap(([file, imports]) => imports.filter((t) => !graph.has(t) && !tracked.includes(t)).map((t) => `${file} -> ${t}`));
  assert.deepEqual(missing, []);
});

test("no source or test file is over 400 lines", () => {
  const long = sources.map((file) => [file, readFileSync(join(REPO_ROOT, file), "utf8").split("\n").length - 1] as const).filter(([, lines]) => lines > 400);
  assert.deepEqual(long, []);
});

test("nothing points outside the repository", () => {
  const outside = tracked
    .filter((f) => f !== "package-lock.json" && /\.(ts|mts|md|sh|json|toml)$/.test(f) && f !== "test/node/layering.test.ts")
    .filter((f) => /\.\.\/shared\b|\b(GPU|DESIGN)\.md\b/.test(readFileSync(join(REPO_ROOT, f), "utf8")));
  assert.deepEqual(outside, []);
});
