/**
 * @module End to end: an `origin_down` rule against a real origin and a real webhook receiver. A
 * real local stack (wrangler dev on a free port, the Alerts object's alarm every second) lists
 * one real origin server (origin/server.ts); a Node HTTP server on 127.0.0.1 is the receiver.
 * While the origin answers its readiness check the rule stays quiet; the origin killed, the rule
 * fires once it has been down for `for_seconds`; the origin started again, it resolves; the
 * receiver sees exactly `firing` then `resolved`.
 *
 * Built for a busy 2-core machine: nothing waits a fixed time for the alarm; each phase waits
 * until the receiver has the notice (or a generous limit passes).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { AlertNotice, AlertView } from "../../durable-objects/alerts/contract.ts";
import { Cleanup } from "./harness/cleanup.ts";
import { call } from "./harness/http.ts";
import { log, sleep, waitFor } from "./harness/load.ts";
import { PoolStack } from "./harness/pool-stack.ts";
import { startWebhookReceiver } from "./harness/webhook.ts";

const HOST = "127.0.0.1";
const RULE = "e2e-origin-down";
const FOR_SECONDS = 2;
/** Well past what the alarm every second needs, for a machine shared with other test runs. */
const NOTICE_TIMEOUT_MS = Number(process.env.E2E_NOTICE_TIMEOUT_MS ?? 90_000);

const cleanup = new Cleanup();
let stack: PoolStack;
let notices: AlertNotice[] = [];
let webhook: string;

before(async () => {
  ({ url: webhook, notices } = await startWebhookReceiver(cleanup, HOST));
  stack = await PoolStack.start(cleanup, { label: "origin-down", origins: ["o1"], vars: { ALERT_EVAL_INTERVAL_MS: "1000" } });
});
after(() => cleanup.run());

async function ruleState(): Promise<AlertView["state"]> {
  const response = await call(stack.edgeUrl, `/admin/alerts/${RULE}`, { key: stack.adminToken });
  const text = await response.text();
  assert.equal(response.status, 200, text);
  return (JSON.parse(text) as AlertView).state;
}

async function noticesReach(count: number): Promise<void> {
  await waitFor(
    `${count} notices (have ${JSON.stringify(notices)}, rule ${JSON.stringify(await ruleState())})`,
    async () => notices.length >= count,
    NOTICE_TIMEOUT_MS,
  );
}

test("an origin_down rule fires once when the origin has been down for its time and resolves once when it is back", { timeout: 300_000 }, async () => {
  const rule = { kind: "origin_down", for_seconds: FOR_SECONDS, origin: "o1", webhook };
  const put = await call(stack.edgeUrl, `/admin/alerts/${RULE}`, { method: "PUT", key: stack.adminToken, body: JSON.stringify(rule) });
  assert.equal(put.status, 201, await put.text());

  // Up: evaluations come and go (each asks the origin) and nothing fires.
  const firstAt = (await ruleState()).evaluatedAt;
  await waitFor("two evaluations with the origin up", async () => ((await ruleState()).evaluatedAt ?? 0) > (firstAt ?? 0), NOTICE_TIMEOUT_MS);
  await sleep(1_500);
  assert.equal(notices.length, 0, `no notice while the origin is up: ${JSON.stringify(notices)}`);
  assert.equal((await ruleState()).firing, false);

  await stack.killOrigin("o1");
  const killedAt = Date.now();
  await noticesReach(1);
  log(`firing after ${Date.now() - killedAt} ms down: ${JSON.stringify(notices[0])}`);
  assert.equal(notices[0]!.alert, RULE);
  assert.equal(notices[0]!.status, "firing");
  assert.equal(notices[0]!.threshold, FOR_SECONDS);
  assert.ok(notices[0]!.value !== null && notices[0]!.value >= FOR_SECONDS, `down for ${notices[0]!.value} s`);
  assert.ok(Date.now() - killedAt >= FOR_SECONDS * 1000, "not before the origin was down for its time");

  await stack.startOrigin("o1", []);
  await noticesReach(2);
  log(`resolved: ${JSON.stringify(notices[1])}`);
  assert.equal(notices[1]!.status, "resolved");
  assert.equal(notices[1]!.value, 0, "the origin is up: down for 0 s");

  // Up again for a few evaluations: nothing more.
  await sleep(3_000);
  assert.deepEqual(
    notices.map((n) => n.status),
    ["firing", "resolved"],
  );
  assert.equal((await ruleState()).firing, false);
});
