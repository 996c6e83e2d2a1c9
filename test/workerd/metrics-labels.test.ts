/**
 * A model that exists but is refused for its state (unloaded) is counted under its own name, with
 * placement `none`: alert rules and dashboards scoped to a model must see those refusals, which
 * used to be counted under an empty model label.
 */
import { beforeAll, expect, it } from "vitest";
import { ADMIN, call, createTenant, fixtureBytes, inferJson, uploadModel } from "./helpers.ts";
import { loadFixture, type Fixture } from "./fixtures.ts";
import { parsePrometheusText, sampleSum } from "./prometheus-text.ts";
import { freshName } from "./refusals.ts";

let key: string;
let fixture: Fixture;

beforeAll(async () => {
  key = await createTenant(freshName("metrics-labels"), "premium");
  fixture = await loadFixture("mlp-tiny");
});

it("a request for an unloaded model is counted under the model's name with placement none", async () => {
  const name = freshName("unloaded-counted");
  const upload = await uploadModel(name, "1", await fixtureBytes("models/mlp-tiny/1/model.onnx"));
  expect(upload.status, await upload.clone().text()).toBe(201);
  expect((await call(`/v2/repository/models/${name}/unload`, { method: "POST", key: ADMIN })).status).toBe(200);

  for (let i = 0; i < 3; i++) expect((await inferJson(name, key, { inputs: fixture.inputs })).status).toBe(503);
  const families = parsePrometheusText(await (await call("/metrics", { key: ADMIN })).text());
  expect(sampleSum(families, "hotpath_requests_total", { model: name, status: "503", placement: "none" })).toBe(3);
});
