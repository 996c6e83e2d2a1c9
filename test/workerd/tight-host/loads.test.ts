/**
 * Cold loads on a ModelHost with a 16 MB memory budget (stored-models.ts has the sizes): sessions
 * count what they hold warm (warmSessionBytes), a load first releases the idle sessions it needs
 * the room of and is refused with 503 and Retry-After, never started, when the rest are in use or
 * the model alone is over the budget; one load runs at a time however many versions are asked
 * for at once; and R2 failing under a load is a 503 with Retry-After.
 */
import { describe, expect, it } from "vitest";
import { warmSessionBytes } from "../../../protocol/session-memory.ts";
import { freshName } from "../refusals.ts";
import { callOf, freshHost, MB, NARROW, stateOf, storedModel, TINY, versionsHeld, WIDE, wideRows, tinyRow } from "./stored-models.ts";

describe("loads admitted against the memory budget", () => {
  it("counts each session as what it holds warm, and releases an idle one whose room a new version needs", async () => {
    const host = freshHost("admit-idle");
    const name = freshName("admit-idle");
    const [v1, v2] = await Promise.all([storedModel(WIDE, name, "1"), storedModel(WIDE, name, "2")]);
    expect((await host.warm(v1)).ok).toBe(true);
    const warm = warmSessionBytes(v1.bytes);
    const before = await stateOf(host);
    expect(before.memoryBudgetBytes).toBe(16 * MB);
    expect(before.sessions.map((s) => [s.version, s.bytes, s.memoryBytes])).toEqual([["1", v1.bytes, warm]]);
    expect(before.memoryEstimateBytes).toBe(warm);

    const reply = await host.infer(callOf(v2, "v2", wideRows(1)));
    expect(reply.ok, JSON.stringify(!reply.ok && reply.error)).toBe(true);
    const after = await stateOf(host);
    expect(versionsHeld(after), "version 1 released for version 2").toEqual(["2"]);
    expect(after.memoryEstimateBytes).toBe(warm);
    expect(after.loads.started).toBe(2);
  });

  it("refuses a load while the sessions in use leave no room, without starting it, and loads it once they are idle", async () => {
    const host = freshHost("admit-busy");
    const name = freshName("admit-busy");
    const [v1, v2] = await Promise.all([storedModel(WIDE, name, "1"), storedModel(WIDE, name, "2")]);
    // Version 1 is loading (its room taken) when the request for version 2 arrives.
    const warming = host.warm(v1);
    const refused = await host.infer(callOf(v2, "v2", wideRows(1)));
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.error.status).toBe(503);
      expect(refused.error.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(refused.error.message).toBe("no room to load the model on this host now: sessions in use hold 14.0 of its 16.0 MB");
    }
    expect((await warming).ok).toBe(true);
    const state = await stateOf(host);
    expect(versionsHeld(state)).toEqual(["1"]);
    expect(state.loads.started, "version 2's load never started").toBe(1);

    const served = await host.infer(callOf(v2, "v2-again", wideRows(1)));
    expect(served.ok, JSON.stringify(!served.ok && served.error)).toBe(true);
    expect(versionsHeld(await stateOf(host))).toEqual(["2"]);
  });

  it("refuses a model over the whole budget at once, keeping what it holds", async () => {
    const host = freshHost("admit-too-large");
    const name = freshName("admit-too-large");
    const [tiny, narrow] = await Promise.all([storedModel(TINY, freshName("admit-tiny"), "1"), storedModel(NARROW, name, "1")]);
    expect((await host.warm(tiny)).ok).toBe(true);
    const expected = "the model needs about 18.5 MB warm, more than a model host's 16.0 MB";
    for (const reply of [await host.infer(callOf(narrow, "narrow", [])), await host.warm(narrow)]) {
      expect(reply.ok).toBe(false);
      if (!reply.ok) expect(reply.error).toMatchObject({ status: 503, message: expected, retryAfterSeconds: expect.any(Number) });
    }
    const state = await stateOf(host);
    expect(versionsHeld(state), "the idle tiny session was not released for nothing").toEqual(["1"]);
    expect(state.loads.started).toBe(1);
  });
});

describe("concurrent cold loads", () => {
  it("runs one load at a time when several versions are asked for at once, and answers them all", async () => {
    const host = freshHost("one-load");
    const name = freshName("one-load");
    const versions = await Promise.all(["1", "2", "3", "4", "5", "6"].map((version) => storedModel(TINY, name, version)));
    // Warm-ups (a default-version swap, a new replica, an upload's check) and requests together.
    const replies = await Promise.all([
      ...versions.slice(0, 4).map((model) => host.warm(model)),
      ...versions.slice(4).map((model, k) => host.infer(callOf(model, `load-${k}`, tinyRow()))),
    ]);
    for (const reply of replies) expect(reply.ok, JSON.stringify(!reply.ok && reply.error)).toBe(true);
    const { loads, sessions } = await stateOf(host);
    expect(loads).toMatchObject({ started: 6, running: 0, waiting: 0, mostAtOnce: 1 });
    expect(sessions.filter((s) => s.ready).length).toBe(6);
  });
});

describe("R2 failing under a load", () => {
  it("is a 503 with Retry-After for the request, naming no key, and the next load is tried again", async () => {
    const host = freshHost("r2-throws");
    const stored = await storedModel(TINY, freshName("r2-throws"), "1");
    // R2 refuses keys over 1024 bytes: MODELS.get throws, as it does when R2 is unreachable.
    const unreadable = { ...stored, r2Key: `models/${"k".repeat(1100)}.onnx` };
    for (const reply of [await host.infer(callOf(unreadable, "unreadable", tinyRow())), await host.warm(unreadable)]) {
      expect(reply.ok).toBe(false);
      if (!reply.ok) {
        expect(reply.error.status).toBe(503);
        expect(reply.error.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      }
    }
    const tenantReply = await host.infer(callOf(unreadable, "unreadable-again", tinyRow()));
    expect(!tenantReply.ok && tenantReply.error.message).toBe("the model's bytes are unavailable on this host now");
    expect((await stateOf(host)).sessions, "a failed load holds nothing").toEqual([]);
    expect((await host.infer(callOf(stored, "readable", tinyRow()))).ok).toBe(true);
  });
});
