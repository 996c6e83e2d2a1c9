/**
 * @module End to end: an alert against a real webhook receiver. A real local stack (wrangler dev
 * on a free port, the Alerts object's alarm every second), a Node HTTP server on 127.0.0.1 as the
 * receiver, an `error_rate` rule put through the CLI. Real traffic to a model unloaded through the
 * repository API gets 503s and the rule fires; the model loaded again, healthy traffic resolves
 * it; the receiver sees exactly `firing` then `resolved`, and nothing more while traffic goes on.
 * `hotpath status --once --json` against the same stack shows the traffic and the refusals.
 *
 * The rule watches the premium tier, not the model: a 503 for an unloaded model is counted
 * before the model is resolved (`model=""`, `placement="none"`), so a rule scoped to the model
 * would not see it.
 *
 * Built for a busy 2-core machine: nothing waits a fixed time for the alarm; each phase keeps its
 * traffic going until the receiver has the notice (or a generous limit passes), and the resolved
 * notice must carry a measured value, so it was healthy traffic that resolved the rule and not
 * a window left empty.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { StatusSnapshot } from "../../scripts/cli/status/snapshot.ts";
import { Cleanup } from "./harness/cleanup.ts";
import { runCli } from "./harness/cli.ts";
import { call } from "./harness/http.ts";
import { closedLoop, log, tally, waitFor } from "./harness/load.ts";
import { assertPrepared, TINY } from "./harness/models.ts";
import { PoolStack } from "./harness/pool-stack.ts";
import { startWebhookReceiver } from "./harness/webhook.ts";
import type { AlertNotice } from "../../durable-objects/alerts/contract.ts";

const HOST = "127.0.0.1";
const RULE = "e2e-errors";
/** Well past what the alarm every second needs, for a machine shared with other test runs. */
const NOTICE_TIMEOUT_MS = Number(process.env.E2E_NOTICE_TIMEOUT_MS ?? 90_000);
const ROW = JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: [1, 16], data: Array.from({ length: 16 }, (_, i) => i / 16) }] });

const cleanup = new Cleanup();
let stack: PoolStack;
let env: Record<string, string>;
let notices: AlertNotice[] = [];
let webhook: string;

before(async () => {
  assertPrepared(TINY);
  ({ url: webhook, notices } = await startWebhookReceiver(cleanup, HOST));
  stack = await PoolStack.start(cleanup, { label: "alerts", origins: [], vars: { ALERT_EVAL_INTERVAL_MS: "1000", HOST_MAX_QUEUE_LENGTH: "128" } });
  env = { HOTPATH_URL: stack.edgeUrl, HOTPATH_ADMIN_TOKEN: stack.adminToken };
  await stack.upload(TINY, {});
});
after(() => cleanup.run());

const inferStatus = async (): Promise<number> => {
  const response = await call(stack.edgeUrl, `/v2/models/${TINY.name}/infer`, { method: "POST", key: stack.key, body: ROW, timeoutMs: 30_000 });
  await response.body?.cancel();
  return response.status;
};

/** Two clients sending until the receiver holds `count` notices; the statuses they got. */
async function trafficUntilNotices(count: number): Promise<Record<string, number>> {
  const statuses = await closedLoop(2, NOTICE_TIMEOUT_MS, inferStatus, () => notices.length >= count);
  if (notices.length < count) {
    // What the Alerts object saw, and the request counters it measures, say which side failed.
    const rules = await stack.admin.get<unknown>("/admin/alerts");
    const counters = (await stack.admin.getText("/metrics")).split("\n").filter((line) => line.startsWith("hotpath_requests_total"));
    assert.fail(
      `${notices.length} notices after ${NOTICE_TIMEOUT_MS} ms of traffic ${JSON.stringify(tally(statuses, String))}: ${JSON.stringify(notices)}; rules ${JSON.stringify(rules)}; ${counters.join("; ")}`,
    );
  }
  return tally(statuses, String);
}

test("an error_rate rule fires once on real 503s and resolves once on healthy traffic; status shows the traffic", async () => {
  const put = await runCli(
    ["alerts", "put", RULE, "--kind", "error_rate", "--threshold", "0.5", "--window", "10", "--min-requests", "5", "--tier", "premium", "--webhook", webhook],
    env,
  );
  assert.equal(put.code, 0, put.stderr);
  assert.match(put.stdout, new RegExp(`^alert ${RULE}: error_rate, premium > 0\\.5 over 10 s, to ${webhook}\\n$`));

  // Unloaded, the model answers 503 to every request: the error rate is 1.
  await stack.admin.setLoaded(TINY.name, false);
  await waitFor("503 once unloaded", async () => (await inferStatus()) === 503, 30_000);
  const failing = await trafficUntilNotices(1);
  log(`while unloaded: ${JSON.stringify(failing)}`);
  assert.ok((failing["503"] ?? 0) >= 5, JSON.stringify(failing));
  assert.deepEqual(notices[0] && { alert: notices[0].alert, status: notices[0].status, threshold: notices[0].threshold }, {
    alert: RULE,
    status: "firing",
    threshold: 0.5,
  });
  assert.ok(notices[0]!.value !== null && notices[0]!.value > 0.5, `firing value ${notices[0]!.value}`);

  // Loaded again: healthy traffic until the 503s leave the 10 s window.
  await stack.admin.setLoaded(TINY.name, true);
  await waitFor("200 once loaded", async () => (await inferStatus()) === 200, 30_000);
  const healthy = await trafficUntilNotices(2);
  log(`once loaded: ${JSON.stringify(healthy)}`);
  assert.equal(notices[1]?.status, "resolved", JSON.stringify(notices));
  assert.ok(notices[1]!.value !== null && notices[1]!.value <= 0.5, `resolved by measured healthy traffic, value ${notices[1]!.value}`);

  // Healthy traffic goes on for several evaluations, `status` measuring it meanwhile: no further notice.
  let sent = 0;
  const [statuses, status] = await Promise.all([
    closedLoop(2, 6_000, async () => {
      sent++;
      return inferStatus();
    }),
    runCli(["status", "--once", "--json", "--interval", "2"], env),
  ]);
  assert.deepEqual(Object.keys(tally(statuses, String)), ["200"]);
  assert.deepEqual(
    notices.map((n) => n.status),
    ["firing", "resolved"],
    "exactly one firing and one resolved notice",
  );
  const view = JSON.parse((await runCli(["--json", "alerts", "list"], env)).stdout) as { alerts: { name: string; state: { firing: boolean } }[] };
  assert.deepEqual(
    view.alerts.map((a) => [a.name, a.state.firing]),
    [[RULE, false]],
  );

  assert.equal(status.code, 0, status.stderr);
  const snapshot = JSON.parse(status.stdout) as StatusSnapshot;
  const premium = snapshot.tiers.premium!;
  log(`status: ${JSON.stringify(premium)}`);
  const sentBefore = Object.values(failing).reduce((a, b) => a + b, 0) + Object.values(healthy).reduce((a, b) => a + b, 0);
  assert.ok(premium.requests >= sentBefore, `premium requests ${premium.requests} < ${sentBefore} sent before status ran`);
  assert.ok(premium.refused >= (failing["503"] ?? 0), `premium refused ${premium.refused}, 503s ${failing["503"]}`);
  assert.ok(premium.perSecond !== null && premium.perSecond > 0, `premium req/s ${premium.perSecond} while traffic ran`);
  assert.ok(premium.p50 !== null && premium.p99 !== null, "latency measured");
  assert.ok(sent > 0);
});
