#!/usr/bin/env node
// The `hotpath` command (package.json "bin"). The CLI is TypeScript, run as Node runs it with its
// types stripped: `npx hotpath` puts the project's own Node 24 (the `node` devDependency) first
// on PATH, so it loads directly. Started by an older Node (the system's 20, a direct path), it
// runs again under the project's Node rather than failing on the first type annotation.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

if (process.features.typescript) {
  // Errors surface as one line; this only catches what escaped main (a bug), still without a stack.
  process.on("uncaughtException", (error) => {
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
  const { main } = await import("../scripts/cli/main.ts");
  process.exitCode = await main(process.argv.slice(2));
} else {
  const projectNode = fileURLToPath(new URL("../node_modules/node/bin/node", import.meta.url));
  if (!existsSync(projectNode)) {
    process.stderr.write(`error: hotpath needs Node 22.18 or newer (this is ${process.version}); run \`npm ci\` in the project for its own Node 24\n`);
    process.exit(1);
  }
  const child = spawn(projectNode, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: "inherit" });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}
