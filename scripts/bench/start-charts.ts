/**
 * @module The `start` scenario's charts, where a person would rather look than read: each tier's
 * latency over time under overload (and the refusals, which come back fast), the trickle beside
 * the flood over time, what a Silero request costs a replica with and without batching beside
 * what the model itself gains from it, and where a Silero request's CPU goes stage by stage.
 */
import { TIERS, type Tier } from "../../config/tiers.ts";
import type { Outcome } from "./load.ts";
import { TIER_ORDER } from "./overload-config.ts";
import { barChart, COLORS, xyChart } from "./svg.ts";

const REFUSED_COLOR = "#bbbbbb";

const points = (outcomes: readonly Outcome[], keep: (o: Outcome) => boolean) =>
  outcomes.filter(keep).map((o) => [o.sentAt / 1000, o.latencyMs] as [number, number]);

/** Every answer over the run: successes per tier, refusals (any status but 200) in grey, drawn last so they show. */
export function overloadLatencyChart(outcomes: readonly Outcome[], premiumBoundMs: number): string {
  const yMax = 1.1 * Math.max(premiumBoundMs, ...outcomes.filter((o) => o.status !== 0).map((o) => o.latencyMs));
  const lines = [
    { y: premiumBoundMs, label: "premium p99 bound", color: COLORS.premium },
    ...TIER_ORDER.map((tier: Tier) => ({ y: TIERS[tier].defaultDeadlineMs, label: `${tier} deadline`, color: COLORS[tier] })),
  ];
  return xyChart({
    title: "start/overload: latency of each answer over time, 2.2x capacity",
    xLabel: "time since the load started (s)",
    yLabel: "latency at the client (ms)",
    kind: "scatter",
    series: [
      ...TIER_ORDER.map((tier: Tier) => ({
        name: `${tier} served`,
        color: COLORS[tier],
        points: points(outcomes, (o) => o.label === tier && o.status === 200),
      })),
      { name: "refused (503)", color: REFUSED_COLOR, points: points(outcomes, (o) => o.status !== 200 && o.status !== 0) },
    ],
    yMax,
    hLines: lines.filter((line) => line.y <= yMax),
  });
}

/** The trickle's and the flood's successful requests over time, on one axis. */
export function fairnessLatencyChart(trickle: readonly Outcome[], flood: readonly Outcome[]): string {
  const served = (o: Outcome) => o.status === 200;
  return xyChart({
    title: "start/fairness: a standard tenant's trickle beside another's flood",
    xLabel: "time since the flood started (s)",
    yLabel: "latency at the client (ms)",
    kind: "scatter",
    series: [
      { name: "flood", color: COLORS.fifo, points: points(flood, served) },
      { name: "trickle", color: COLORS.tiered, points: points(trickle, served) },
    ],
  });
}

export interface BatchingCosts {
  /** ModelHost process CPU per request, ms, batching off and on. */
  hostOff: number;
  hostOn: number;
  /** The model's own run per frame in onnxruntime-web, alone and in a batch. */
  modelAlone: number;
  modelBatched: number;
  maxBatch: number;
}

/** Per request: what the replica's thread spends, and what the model's run alone accounts for. */
export function batchingCostChart(costs: BatchingCosts): string {
  return barChart({
    title: `start/batching: silero-vad, cost of one request, max_batch 1 vs ${costs.maxBatch}`,
    yLabel: "ms per request",
    format: (v) => v.toFixed(3),
    groups: [
      {
        label: "ModelHost process CPU",
        bars: [
          { name: "max_batch 1", value: costs.hostOff, color: COLORS.off },
          { name: `max_batch ${costs.maxBatch}`, value: costs.hostOn, color: COLORS.on },
        ],
      },
      {
        label: "the model's own run (onnxruntime-web)",
        bars: [
          { name: "max_batch 1", value: costs.modelAlone, color: COLORS.off },
          { name: `max_batch ${costs.maxBatch}`, value: costs.modelBatched, color: COLORS.on },
        ],
      },
    ],
  });
}

export interface StageCost {
  stage: string;
  /** CPU ms per request the stage adds to the one before it, in each process. */
  router: number;
  host: number;
}

/** What each stage of the bare path adds, the router's process beside the ModelHosts'. */
export function breakdownChart(stages: readonly StageCost[]): string {
  return barChart({
    title: "start/breakdown: CPU a Silero request's stage adds, per process",
    yLabel: "ms per request",
    format: (v) => v.toFixed(2),
    groups: stages.map((s) => ({
      label: s.stage,
      bars: [
        { name: "router process", value: s.router, color: COLORS.off },
        { name: "ModelHost process", value: s.host, color: COLORS.on },
      ],
    })),
  });
}
