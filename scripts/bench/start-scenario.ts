/**
 * @module Scenario `start`: the default `npm start` stack (scripts/start.ts itself: the router
 * and the ModelHosts in two workerd processes, the local origin) measured against its
 * targets, each as a ratio or bound against a baseline measured in the same run: a plain Node
 * peer on onnxruntime-node, overload with tiers on a compute-bound model, fair share between two
 * tenants of a tier, dynamic batching at saturation, and cold starts. Parts run one after the
 * other on one stack; the cold starts come last, as they restart it.
 */
import { batchingPart } from "./start-batching.ts";
import { breakdownPart } from "./start-breakdown.ts";
import { coldPart } from "./start-cold.ts";
import { PORTS, type Scenario } from "./context.ts";
import { fairnessPart } from "./start-fairness.ts";
import { NpmStartStack } from "./npm-start-stack.ts";
import { measureCapacity, overloadPart, overloadTenants, uploadComputeModel } from "./start-overload.ts";
import { partMarkdown, type PartContext, type PartResult } from "./start-part.ts";
import { peerPart } from "./start-peer.ts";
import { startPlainServer } from "./plain-functions.ts";
import { table } from "./stats.ts";

export const start: Scenario = async ({ quick, log, signal, track }) => {
  log(`start: npm start on ${PORTS.startEdge} (origin ${PORTS.startOrigin}), as a user runs it`);
  // BENCH_ROUTES: the bare path beside the full one (start-peer.ts) and cut short (start-breakdown.ts); 404 without it.
  const stack = track(await NpmStartStack.start({ port: PORTS.startEdge, originPort: PORTS.startOrigin, vars: { BENCH_ROUTES: "1" }, signal }));
  const context: PartContext = { stack, quick, log, signal };
  // Each part under its name in the report's data, whatever order the parts run in.
  const named: Record<string, PartResult> = {};

  log(`start: the plain peer on ${PORTS.startPlain}`);
  const plain = track(await startPlainServer(PORTS.startPlain));
  try {
    named.peer = await peerPart(context, plain);
  } finally {
    await plain.stop(); // its idle process must not share the machine with the parts that follow
  }
  named.breakdown = await breakdownPart(context);

  named.batching = await batchingPart(context);

  await uploadComputeModel(stack);
  const keys = await overloadTenants(stack);
  const { capacity, rounds } = await measureCapacity(context, keys.premium[0]!);
  log(`start: compute-bound model, capacity ${rounds.map((r) => r.toFixed(1)).join(", ")} req/s`);
  named.fairness = await fairnessPart(context);
  named.overload = await overloadPart(context, capacity, keys);

  named.cold = await coldPart(context);
  const parts = Object.values(named);

  const summary = table(
    ["part", "measured", "value", "target", "met"],
    parts.flatMap((part) => part.targets.map((t) => [part.title.split(":")[0]!, t.what, t.measured, t.target, t.met ? "**met**" : "**not met**"])),
  );
  const markdown = [
    "### start: the default `npm start` stack against its targets",
    "",
    "scripts/start.ts itself (the router and the ModelHosts in two workerd processes, the local origin), each target a ratio or bound against a baseline of the same run.",
    "",
    summary,
    "",
    ...parts.flatMap((part) => [partMarkdown(part), ""]),
  ].join("\n");
  const data = Object.fromEntries(Object.entries(named).map(([name, part]) => [name, { targets: part.targets, ...(part.data as object) }]));
  return { name: "start", markdown, data: { capacity: { rounds, capacity }, ...data }, charts: Object.assign({}, ...parts.map((part) => part.charts ?? {})) };
};
