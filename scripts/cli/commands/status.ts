/**
 * @module `hotpath status`: the dashboard's figures in the terminal, from the JSON the dashboard
 * polls (`GET /admin/metrics/summary`): per tier throughput, p50/p99 and SLO attainment, refusals
 * and spills, queue length and sessions per replica, origin health. Live and redrawn in place on
 * a terminal until Ctrl-C; one snapshot with `--once`, with `--json`, or when stdout is not a terminal.
 */
import { Command } from "commander";
import { positiveInteger } from "../arguments.ts";
import { contextOf } from "../context.ts";
import { describeFailure } from "../errors.ts";
import { answer } from "../output.ts";
import { statusLive, statusOnce, type StatusLoop } from "../status/live.ts";
import { renderStatus } from "../status/render.ts";
import type { Summary } from "../status/snapshot.ts";
import { missingRoute } from "./operations.ts";

const SUMMARY_PATH = "/admin/metrics/summary";
/** A poll slower than this is a failed poll: the view must not freeze behind one hung request. */
const POLL_TIMEOUT_MS = 10_000;

export function statusCommand(): Command {
  return new Command("status")
    .description("live view of the dashboard's figures (GET /admin/metrics/summary): per tier req/s, p50/p99, SLO; refusals, spills, queues, sessions, origins")
    .option("--once", "print one snapshot and exit (also with --json, or when stdout is not a terminal)")
    .option("--interval <seconds>", "seconds between polls; with --once, the span the rates are measured over", positiveInteger, 1)
    .action(async (options: { once?: boolean; interval: number }, command: Command) => {
      const { client, json, url } = contextOf(command, POLL_TIMEOUT_MS);
      const loop: StatusLoop = {
        poll: () =>
          client.get<Summary>(SUMMARY_PATH).catch((error: unknown) => {
            throw missingRoute(error, "status", `GET ${SUMMARY_PATH}`);
          }),
        intervalMs: options.interval * 1000,
        url,
        describe: (error) => describeFailure(error, url),
      };
      if (options.once === true || json || process.stdout.isTTY !== true) {
        answer(json, await statusOnce(loop), (snapshot) => renderStatus(snapshot, url));
        return;
      }
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      try {
        await statusLive(loop, process.stdout, stop.signal);
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
    });
}
