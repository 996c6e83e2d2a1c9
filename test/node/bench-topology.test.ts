/**
 * The benchmark's split topology tooling: the router session's wrangler config (ModelHost bound
 * to the host session by script_name), finding a process's listening sockets through /proc, and
 * pinning a process to a core with taskset. Linux-only parts skip where /proc or taskset is missing.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { test } from "node:test";
import { allCpus, allowedCpus, pin } from "../../scripts/bench/cpu-affinity.ts";
import { routerConfig } from "../../scripts/bench/split-stack.ts";
import { listeningPorts, REPO_ROOT } from "../../scripts/lib/wrangler-dev.ts";

const hasProc = existsSync("/proc/self/fd");
const hasTaskset = spawnSync("taskset", ["-p", String(process.pid)]).status === 0;

test("the router config binds ModelHost to the host session and defines no ModelHost of its own", () => {
  const toml = routerConfig("hotpath-host-test");
  assert.match(toml, /class_name = "ModelHost"\nscript_name = "hotpath-host-test"/);
  assert.match(toml, /new_sqlite_classes = \["ModelRegistry"\]/);
  assert.doesNotMatch(toml, /new_sqlite_classes = \[[^\]]*"ModelHost"/);
  // main is absolute: the config is written to a temp dir, and wrangler resolves main from there.
  assert.ok(toml.includes(`main = ${JSON.stringify(resolve(REPO_ROOT, "router/index.ts"))}`), "main is not the absolute router entry");
  // Everything else (bindings, vars) stays as in wrangler.toml.
  const original = readFileSync(resolve(REPO_ROOT, "wrangler.toml"), "utf8");
  for (const line of original.split("\n").filter((l) => /^(binding|name|bucket_name|id) = /.test(l))) assert.ok(toml.includes(line), `lost: ${line}`);
});

test("listeningPorts finds the port a process listens on, and not one it has closed", { skip: !hasProc && "no /proc" }, async () => {
  const server = createServer((_, res) => res.end("ok"));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  assert.ok(listeningPorts(process.pid).includes(port), `${port} not in ${listeningPorts(process.pid).join(",")}`);
  await new Promise<void>((r) => server.close(() => r()));
  assert.ok(!listeningPorts(process.pid).includes(port), "a closed port is still listed");
  assert.deepEqual(listeningPorts(2 ** 22 + 12345), [], "a process that does not exist listens on nothing");
});

test("pin moves every thread of a process to the cores given", { skip: (!hasProc || !hasTaskset) && "no /proc or taskset" }, async () => {
  const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30_000)"], { stdio: "ignore" });
  try {
    const pid = child.pid!;
    const last = allCpus().at(-1)!;
    assert.equal(pin(pid, [last]), true);
    const allowed = readFileSync(`/proc/${pid}/status`, "utf8").match(/^Cpus_allowed_list:\s*(\S+)$/m)?.[1];
    assert.equal(allowed, String(last));
    assert.deepEqual(allowedCpus(pid), [last]);
    assert.equal(pin(pid, allCpus()), true);
    assert.deepEqual(allowedCpus(pid), allCpus());
    assert.equal(pin(2 ** 22 + 12345, [last]), false, "pinning a process that does not exist reports failure");
  } finally {
    child.kill();
  }
});
