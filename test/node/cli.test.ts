/**
 * @module The `hotpath` CLI without a hotpath server: its command line (refusals with the usage
 * line, exit 2), `npx hotpath` from the project, `usage` and `status` against a server that
 * answers as hotpath does for a route it lacks, a failure that needs no server (a host that
 * does not resolve), and the upload progress on a terminal and off one. The commands against a
 * real stack are in test/e2e/cli.test.ts.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { PassThrough } from "node:stream";
import { promisify } from "node:util";
import { CommanderError } from "commander";
import { HttpError } from "../../protocol/errors.ts";
import { errorResponse } from "../../protocol/http/error-response.ts";
import { REPO_ROOT } from "../../scripts/lib/wrangler-dev.ts";
import { buildProgram } from "../../scripts/cli/program.ts";
import { uploadProgress } from "../../scripts/cli/upload-progress.ts";
import { runCli } from "../e2e/harness/cli.ts";

/** Parses a command line that must be refused; returns what commander wrote to stderr. */
async function refused(...args: string[]): Promise<string> {
  let stderr = "";
  const program = buildProgram({ writeOut: () => undefined, writeErr: (text) => (stderr += text) });
  const error = await program.parseAsync(args, { from: "user" }).then(
    () => assert.fail(`accepted: ${args.join(" ")}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof CommanderError, String(error));
  assert.notEqual(error.exitCode, 0);
  return stderr;
}

describe("the command line", () => {
  test("a missing argument names it and shows the command's usage line", async () => {
    const stderr = await refused("models", "push", "m", "1");
    assert.match(stderr, /^error: missing required argument 'file'\nusage: hotpath models push \[options\] <name> <version> <file> \(--help for more\)\n$/);
  });

  test("bad option values are refused before anything is sent", async () => {
    assert.match(
      await refused("models", "push", "m", "1", "f.onnx", "--max-batch", "0"),
      /'--max-batch <n>' argument '0' is invalid\. must be a whole number, 1 or more/,
    );
    assert.match(await refused("models", "push", "m", "1", "f.onnx", "--max-queue-delay-us", "1.5"), /must be a whole number, 0 or more/);
    assert.match(await refused("models", "push", "m", "1", "f.onnx", "--placement", "moon"), /Allowed choices are edge, origin, auto/);
    assert.match(await refused("models", "push", "m", "1", "f.onnx", "--log-payloads", "1.5"), /must be a number from 0 to 1/);
    assert.match(await refused("tenants", "put", "acme"), /required option '--tier <tier>' not specified\nusage: hotpath tenants put/);
    assert.match(await refused("tenants", "put", "acme", "--tier", "gold"), /Allowed choices are/);
    assert.match(await refused("keys", "create", "acme", "--models", "a,b"), /--models needs --tier/);
    assert.match(await refused("models", "default", "m"), /give either a version to pin or --unpin\nusage: hotpath models default/);
    assert.match(await refused("models", "default", "m", "2", "--unpin"), /give either a version to pin or --unpin/);
  });

  test("variant and response cache options: bad values and options of the other kind of push are refused before anything is sent", async () => {
    assert.match(
      await refused("models", "push", "m", "1", "f.onnx", "--variant", "int8", "--max-error", "-1"),
      /'--max-error <x>' argument '-1' is invalid\. must be a number, 0 or more/,
    );
    assert.match(await refused("models", "push", "m", "1", "f.onnx", "--variant", "int8", "--probes", "0"), /must be a whole number, 1 or more/);
    assert.match(await refused("models", "push", "m", "1", "f.onnx", "--cache-ttl", "soon"), /'--cache-ttl <seconds>' argument 'soon' is invalid/);
    assert.match(await refused("models", "push", "m", "1", "f.onnx", "--cache-scope", "world"), /Allowed choices are tenant, shared/);
    assert.match(
      await refused("models", "push", "m", "1", "f.onnx", "--max-error", "0.1", "--probes", "4"),
      /^error: --max-error, --probes need --variant \(they measure a variant against its version\)\nusage: hotpath models push /,
    );
    assert.match(
      await refused("models", "push", "m", "1", "f.onnx", "--variant", "int8", "--max-batch", "8", "--cache-ttl", "60", "--no-stateful"),
      /^error: --max-batch, --cache-ttl, --stateful are options of a version push: a variant runs at the edge with its version's settings\n/,
    );
    assert.match(await refused("models", "delete", "m", "1", "--variant", "int8", "--force"), /--force deletes versions; a variant is deleted without it/);
  });

  test("an unknown command suggests the nearest one", async () => {
    assert.match(await refused("modles", "list"), /unknown command 'modles'\n\(Did you mean models\?\)/);
  });

  test("the process exits 2 on a refused command line, without a stack trace", async () => {
    const result = await runCli(["keys", "revoke", "acme"]);
    assert.equal(result.code, 2);
    assert.equal(result.stderr, "error: missing required argument 'keyId'\nusage: hotpath keys revoke [options] <tenant> <keyId> (--help for more)\n");
  });
});

test("`npx hotpath --help` runs from the project with its own Node", async () => {
  const { stdout } = await promisify(execFile)("npx", ["--no-install", "hotpath", "--help"], { cwd: REPO_ROOT, timeout: 60_000 });
  assert.match(stdout, /^Usage: hotpath \[options\] \[command\]/);
  for (const command of ["models", "tenants", "keys", "usage", "status"]) assert.match(stdout, new RegExp(`^  ${command} `, "m"));
});

test("a host that does not resolve is one line, exit 1", async () => {
  const result = await runCli(["models", "list", "--url", "http://no-such-host.invalid", "--admin-token", "t"]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^error: cannot reach http:\/\/no-such-host\.invalid: the host 'no-such-host\.invalid' does not resolve \(DNS E[A-Z_]+\)\n$/);
});

describe("usage and status", () => {
  /** Answers like hotpath: the routes in `routes` with their body, every other path with hotpath's own 404. */
  const routes = new Map<string, { type: string; body: string }>();
  /** The last request the server got: method, path and body. */
  let last: { method: string; path: string; body: string } | undefined;
  let server: Server;
  let url: string;
  before(async () => {
    server = createServer(async (req, res) => {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      let body = "";
      for await (const chunk of req) body += String(chunk);
      last = { method: req.method ?? "", path, body };
      const route = routes.get(path);
      const answer = route
        ? new Response(route.body, { headers: { "content-type": route.type } })
        : errorResponse(new HttpError(404, `no route for ${req.method} ${path}`));
      res.writeHead(answer.status, Object.fromEntries(answer.headers)).end(await answer.text());
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test("a server without their routes: one line saying so, exit 1", async () => {
    routes.clear();
    for (const [command, route] of [
      ["usage", "GET /admin/usage"],
      ["status", "GET /admin/metrics/summary"],
    ] as const) {
      const result = await runCli([command, "--url", url, "--admin-token", "t"]);
      assert.equal(result.code, 1);
      assert.equal(result.stderr, `error: \`hotpath ${command}\` is not available on this server yet: it has no ${route} route\n`);
    }
  });

  test("a server with the usage route: a table, or JSON with --json", async () => {
    const figures = { requests: 3, rows: 7, inferenceMs: 1.6, bytesIn: 120, bytesOut: 2048 };
    const usageAnswer = {
      from: "2026-01-01",
      to: "2026-01-02",
      rows: [{ day: "2026-01-02", tenant: "acme", model: "m", ...figures }],
      totals: figures,
      truncated: false,
    };
    routes.set("/admin/usage", { type: "application/json", body: JSON.stringify(usageAnswer) });
    const usage = await runCli(["usage", "--tenant", "acme", "--url", url, "--admin-token", "t"]);
    assert.equal(
      usage.stdout,
      [
        "DAY         TENANT  MODEL  REQUESTS  ROWS  INFERENCE MS  BYTES IN  BYTES OUT",
        "2026-01-02  acme    m      3         7     2             120       2048",
        "total                      3         7     2             120       2048",
        "",
      ].join("\n"),
      usage.stderr,
    );
    const usageJson = await runCli(["usage", "--json", "--from", "2026-01-01", "--url", url, "--admin-token", "t"]);
    assert.deepEqual(JSON.parse(usageJson.stdout), usageAnswer);
  });

  test("alerts: put sends the rule as JSON, list shows each rule's state, delete names it", async () => {
    const rule = { kind: "error_rate", webhook: "https://hooks.example.com/h", threshold: 0.05, window_seconds: 300, model: "m" };
    routes.set("/admin/alerts/errors", { type: "application/json", body: JSON.stringify({ name: "errors", rule }) });
    const put = await runCli([
      "alerts",
      "put",
      "errors",
      "--kind",
      "error_rate",
      "--threshold",
      "0.05",
      "--window",
      "300",
      "--model",
      "m",
      "--webhook",
      rule.webhook,
      "--url",
      url,
      "--admin-token",
      "t",
    ]);
    assert.equal(put.stdout, "alert errors: error_rate, m > 0.05 over 300 s, to https://hooks.example.com/h\n", put.stderr);
    assert.deepEqual(last && { method: last.method, path: last.path, body: JSON.parse(last.body) as unknown }, {
      method: "PUT",
      path: "/admin/alerts/errors",
      body: { kind: "error_rate", webhook: rule.webhook, threshold: 0.05, window_seconds: 300, model: "m" },
    });
    const state = { firing: true, since: Date.UTC(2026, 0, 2, 3, 4, 5), value: 0.25 };
    routes.set("/admin/alerts", { type: "application/json", body: JSON.stringify({ alerts: [{ name: "errors", rule, state }] }) });
    const list = await runCli(["alerts", "list", "--url", url, "--admin-token", "t"]);
    assert.match(
      list.stdout,
      /^NAME +KIND +CONDITION +STATE +VALUE +SINCE +WEBHOOK\nerrors +error_rate +m > 0\.05 over 300 s +FIRING +0\.25 +\S.* +https:\/\/hooks\.example\.com\/h\n$/,
      list.stderr,
    );
    routes.set("/admin/alerts/errors", { type: "application/json", body: JSON.stringify({ deleted: "errors" }) });
    const deleted = await runCli(["alerts", "delete", "errors", "--url", url, "--admin-token", "t"]);
    assert.equal(deleted.stdout, "deleted alert errors\n");
    assert.equal(last?.method, "DELETE");
    const refused = await runCli(["alerts", "put", "x", "--kind", "latency", "--webhook", "https://h", "--url", url, "--admin-token", "t"]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /Allowed choices are slo, error_rate, origin_down/);
  });
});

describe("upload progress", () => {
  /** A stream that records what is written, claiming to be a terminal or not. */
  const recorder = (isTTY: boolean) => {
    const stream = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number };
    let text = "";
    stream.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
    stream.isTTY = isTTY;
    stream.columns = 120;
    return { stream, text: () => text };
  };

  test("on a terminal: a cli-progress bar, then the outcome", () => {
    const { stream, text } = recorder(true);
    const progress = uploadProgress("m@1", 2_000_000, stream);
    progress.update(1_000_000);
    progress.update(2_000_000);
    progress.finish("uploaded");
    assert.match(text(), /m@1 \[#{40}\] 100% \| 2\.0 MB of 2\.0 MB/);
    assert.match(text(), /m@1: uploaded\n$/);
  });

  test("elsewhere: one plain line per tenth, each tenth once", () => {
    const { stream, text } = recorder(false);
    const progress = uploadProgress("m@1", 1000, stream);
    for (const sent of [0, 50, 120, 130, 450, 1000]) progress.update(sent);
    progress.finish("failed");
    assert.equal(
      text(),
      ["0% (0 B of 1.0 kB)", "12% (120 B of 1.0 kB)", "45% (450 B of 1.0 kB)", "100% (1.0 kB of 1.0 kB)", "failed"].map((l) => `m@1: ${l}\n`).join(""),
    );
  });
});
