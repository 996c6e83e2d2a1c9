/**
 * @module Vars fail closed: a missing or malformed numeric var takes its safe default instead of
 * NaN (with which every limit check is false, so no limit at all), a policy var with an unknown
 * value stops with an error that names it, and the defaults are what wrangler.toml ships.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { choiceVar, positiveVar, VAR_DEFAULTS } from "../../config/vars.ts";
import { limitsOf } from "../../router/limits.ts";
import { REPO_ROOT } from "../../scripts/lib/wrangler-dev.ts";

test("a missing or malformed numeric var takes the default; a valid one is read", () => {
  for (const raw of [undefined, "", " ", "abc", "-1", "0", "NaN", "Infinity", "12abc"]) {
    assert.equal(positiveVar("X", raw, 7), 7, `'${raw}'`);
  }
  assert.equal(positiveVar("X", "1.5", 7), 1.5);
  assert.equal(positiveVar("X", "1.5", 7, { integer: true }), 7);
  assert.equal(positiveVar("X", "4096", 7, { integer: true }), 4096);
});

test("limitsOf gives the defaults for missing or malformed vars, never NaN", () => {
  const defaults = {
    maxInferBodyBytes: VAR_DEFAULTS.MAX_INFER_BODY_BYTES,
    maxUploadBytes: VAR_DEFAULTS.MAX_UPLOAD_BYTES,
    maxTensorElements: VAR_DEFAULTS.MAX_TENSOR_ELEMENTS,
    replicaScaleDownAfterMs: VAR_DEFAULTS.REPLICA_SCALE_DOWN_AFTER_MS,
    routerBodyBudgetBytes: VAR_DEFAULTS.ROUTER_BODY_BUDGET_MB * 1024 * 1024,
    maxReplicasPerRegion: VAR_DEFAULTS.MAX_REPLICAS_PER_REGION,
  };
  assert.deepEqual(limitsOf({}), defaults);
  const junk = {
    MAX_INFER_BODY_BYTES: "",
    MAX_UPLOAD_BYTES: "abc",
    MAX_TENSOR_ELEMENTS: "-1",
    REPLICA_SCALE_DOWN_AFTER_MS: "NaN",
    ROUTER_BODY_BUDGET_MB: "0",
    MAX_REPLICAS_PER_REGION: "1.5",
  };
  assert.deepEqual(limitsOf(junk), defaults);
  const set = {
    MAX_INFER_BODY_BYTES: "100",
    MAX_UPLOAD_BYTES: "200",
    MAX_TENSOR_ELEMENTS: "300",
    REPLICA_SCALE_DOWN_AFTER_MS: "400",
    ROUTER_BODY_BUDGET_MB: "0.5",
    MAX_REPLICAS_PER_REGION: "1",
  };
  assert.deepEqual(limitsOf(set), {
    maxInferBodyBytes: 100,
    maxUploadBytes: 200,
    maxTensorElements: 300,
    replicaScaleDownAfterMs: 400,
    routerBodyBudgetBytes: 512 * 1024,
    maxReplicasPerRegion: 1,
  });
});

test("limitsOf reads an env's vars once: the same env gives the same limits object, another env its own", () => {
  const env = { MAX_INFER_BODY_BYTES: "100" };
  const first = limitsOf(env);
  assert.equal(limitsOf(env), first);
  assert.equal(limitsOf({ ...env, MAX_INFER_BODY_BYTES: "200" }).maxInferBodyBytes, 200);
});

test("a policy var: missing or empty takes the default, a known value is read, an unknown one throws naming the var", () => {
  const policies = ["tiered", "fifo"] as const;
  assert.equal(choiceVar("SCHEDULER_POLICY", undefined, policies, "tiered"), "tiered");
  assert.equal(choiceVar("SCHEDULER_POLICY", "", policies, "tiered"), "tiered");
  assert.equal(choiceVar("SCHEDULER_POLICY", "fifo", policies, "tiered"), "fifo");
  assert.throws(() => choiceVar("SCHEDULER_POLICY", "fifoo", policies, "tiered"), /SCHEDULER_POLICY must be one of tiered, fifo, got 'fifoo'/);
});

test("the defaults are the values wrangler.toml ships", () => {
  const toml = readFileSync(join(REPO_ROOT, "wrangler.toml"), "utf8");
  for (const [name, value] of Object.entries(VAR_DEFAULTS)) {
    assert.equal(toml.match(new RegExp(`^${name} = "([^"]*)"`, "m"))?.[1], String(value), name);
  }
});
