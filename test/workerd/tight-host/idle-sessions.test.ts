/**
 * Sessions left unused for HOST_SESSION_IDLE_MS (3 s here) are released by the ModelHost's
 * Durable Object alarm: the old version after traffic moved to a new one goes, the version in use
 * stays, and once nothing is held no alarm is left set.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { freshName } from "../refusals.ts";
import { freshHost, stateOf, storedModel, TINY, until, versionsHeld } from "./stored-models.ts";

const IDLE_MS = Number(env.HOST_SESSION_IDLE_MS);

const alarmOf = (host: ReturnType<typeof freshHost>) => runInDurableObject(host, (_instance, state) => state.storage.getAlarm());

describe("idle sessions", () => {
  it("the alarm releases the version nothing uses any more, keeps the one in use, and stops once nothing is held", async () => {
    expect(IDLE_MS).toBe(3000);
    const host = freshHost("idle");
    const name = freshName("idle");
    const [old, current] = await Promise.all([storedModel(TINY, name, "1"), storedModel(TINY, name, "2")]);
    // Before the call: the host's last use of version 1 is no earlier.
    const oldLastUsed = Date.now();
    expect((await host.warm(old)).ok).toBe(true);
    expect(await alarmOf(host), "an alarm, not a timer, watches the session").toBeGreaterThanOrEqual(oldLastUsed + IDLE_MS);

    // Traffic moves to version 2 and keeps using it.
    let using = true;
    const traffic = (async () => {
      while (using) {
        expect((await host.warm(current)).ok).toBe(true);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    const oldGone = await until(host, "version 1 released", (s) => !versionsHeld(s).includes("1"), 4 * IDLE_MS);
    const releasedAfter = Date.now() - oldLastUsed;
    using = false;
    await traffic;
    expect(releasedAfter, "not before it was idle that long").toBeGreaterThanOrEqual(IDLE_MS);
    expect(versionsHeld(oldGone), "the version in use stays").toEqual(["2"]);

    await until(host, "version 2 released once unused", (s) => s.sessions.length === 0, 4 * IDLE_MS);
    expect((await stateOf(host)).memoryEstimateBytes).toBe(0);
    expect(await alarmOf(host), "no alarm once nothing is held").toBeNull();
  });
});
