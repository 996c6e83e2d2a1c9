/**
 * Property tests of the ModelHost queue: strict priority, EDF and FIFO inside a tenant, fair
 * share between tenants of one tier, removal, and the helpers admission uses.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { TieredFairQueue } from "../../scheduler/tiered-fair-queue.ts";

interface Item {
  id: number;
  priority: number;
  deadline: number;
  tenant: string;
  cost: number;
}

const itemArb = fc.record({
  priority: fc.integer({ min: 1, max: 3 }),
  deadline: fc.integer({ min: 0, max: 20 }), // few values, so equal deadlines are common
  tenant: fc.constantFrom("a", "b", "c"),
  cost: fc.constant(1),
});
const itemsArb = fc.array(itemArb, { maxLength: 60 }).map((items) => items.map((item, id) => ({ ...item, id })));

function drain(queue: TieredFairQueue<Item>): Item[] {
  const out: Item[] = [];
  for (let item = queue.pop(); item; item = queue.pop()) out.push(item);
  return out;
}

function filled(items: Item[]): TieredFairQueue<Item> {
  const queue = new TieredFairQueue<Item>();
  for (const item of items) queue.push(item);
  return queue;
}

describe("TieredFairQueue", () => {
  test("pops everything once, in priority order", () => {
    fc.assert(
      fc.property(itemsArb, (items) => {
        const out = drain(filled(items));
        assert.deepEqual(
          out.map((i) => i.id).sort((x, y) => x - y),
          items.map((i) => i.id),
        );
        for (let k = 1; k < out.length; k++) assert.ok(out[k - 1]!.priority <= out[k]!.priority, "a lower priority ran first");
      }),
    );
  });

  test("inside a tenant: earliest deadline first, FIFO among equal deadlines", () => {
    fc.assert(
      fc.property(itemsArb, (items) => {
        const out = drain(filled(items));
        for (const tenant of ["a", "b", "c"]) {
          for (const priority of [1, 2, 3]) {
            const mine = out.filter((i) => i.tenant === tenant && i.priority === priority);
            const expected = [...mine].sort((x, y) => x.deadline - y.deadline || x.id - y.id);
            assert.deepEqual(
              mine.map((i) => i.id),
              expected.map((i) => i.id),
            );
          }
        }
      }),
    );
  });

  test("a single tenant in a tier gets pure EDF", () => {
    fc.assert(
      fc.property(itemsArb, (items) => {
        const one = items.map((i) => ({ ...i, tenant: "solo", priority: 1 }));
        const out = drain(filled(one));
        for (let k = 1; k < out.length; k++) assert.ok(out[k - 1]!.deadline <= out[k]!.deadline);
      }),
    );
  });

  test("fair share: while two tenants both wait, neither gets more than one ahead", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 50 }), (burst, trickle) => {
        const items: Item[] = [];
        // the burst arrives first and with earlier deadlines: only fairness lets the trickle in
        for (let k = 0; k < burst; k++) items.push({ id: items.length, priority: 2, deadline: k, tenant: "burst", cost: 1 });
        for (let k = 0; k < trickle; k++) items.push({ id: items.length, priority: 2, deadline: 1000 + k, tenant: "trickle", cost: 1 });
        const out = drain(filled(items));
        let served = { burst: 0, trickle: 0 };
        for (const item of out) {
          served = { ...served, [item.tenant]: served[item.tenant as "burst"] + 1 };
          if (served.burst < burst && served.trickle < trickle) assert.ok(Math.abs(served.burst - served.trickle) <= 1);
        }
      }),
    );
  });

  test("a tenant that returns starts level, not with credit banked while it was away", () => {
    const queue = new TieredFairQueue<Item>();
    let id = 0;
    for (let k = 0; k < 10; k++) queue.push({ id: id++, priority: 1, deadline: k, tenant: "a", cost: 1 });
    for (let k = 0; k < 5; k++) queue.pop(); // a has been served 5 while b was away
    for (let k = 0; k < 5; k++) queue.push({ id: id++, priority: 1, deadline: k, tenant: "b", cost: 1 });
    const out = drain(queue).map((i) => i.tenant);
    // b starts at the level's clock (one behind a at most): a runs within b's first three turns,
    // instead of b taking five in a row on credit it never earned
    assert.ok(out.slice(0, 3).includes("a"), out.join(""));
    assert.equal(out.filter((t) => t === "b").length, 5);
  });

  test("a tenant that sends its next request each time its last one starts gets its share, not the tier", () => {
    const queue = new TieredFairQueue<Item>();
    let id = 0;
    for (let k = 0; k < 30; k++) queue.push({ id: id++, priority: 2, deadline: 1000 + k, tenant: "b", cost: 1 });
    queue.push({ id: id++, priority: 2, deadline: 0, tenant: "a", cost: 1 });
    const served: string[] = [];
    for (let k = 0; k < 20; k++) {
      const item = queue.pop()!;
      served.push(item.tenant);
      // a's lane is empty now: its next request arrives while this one runs
      if (item.tenant === "a") queue.push({ id: id++, priority: 2, deadline: 0, tenant: "a", cost: 1 });
    }
    assert.ok(served.filter((t) => t === "b").length >= 9, served.join(""));
    for (let k = 1; k < served.length; k++) assert.ok(!(served[k] === "a" && served[k - 1] === "a"), served.join(""));
  });

  test("serve() charges the tenant as pop() does, remove() charges nothing", () => {
    // The Scheduler takes a run's requests out with serve() (the head and its batch), and expired,
    // cancelled or shed ones with remove(): only served work may cost a tenant its turn.
    const queue = new TieredFairQueue<Item>();
    const flood = Array.from({ length: 6 }, (_, k) => ({ id: k, priority: 2, deadline: k, tenant: "flood", cost: 1 }));
    for (const item of flood) queue.push(item);
    assert.ok(queue.serve(queue.peek()!));
    assert.ok(queue.serve(flood[3]!), "a request taken into the head's batch, out of order");
    assert.equal(queue.serve(flood[3]!), false, "not queued any more");
    const trickle = [10, 11].map((id) => ({ id, priority: 2, deadline: 100 + id, tenant: "trickle", cost: 1 }));
    for (const item of trickle) queue.push(item);
    assert.equal(queue.peek(), trickle[0], "the flood was charged for what it ran: the newcomer goes next");
    assert.ok(queue.remove(trickle[0]!), "it expired");
    assert.equal(queue.peek(), trickle[1], "an expired request cost its tenant no turn");
    assert.deepEqual(
      drain(queue).map((i) => i.id),
      [11, 1, 2, 4, 5],
    );
  });

  test("removed items never run; size follows", () => {
    fc.assert(
      fc.property(itemsArb, fc.array(fc.nat(), { maxLength: 30 }), (items, picks) => {
        const queue = filled(items);
        const removed = new Set<number>();
        for (const pick of picks) {
          const victim = items[pick % Math.max(1, items.length)];
          if (!victim) continue;
          assert.equal(queue.remove(victim), !removed.has(victim.id));
          removed.add(victim.id);
        }
        assert.equal(queue.size, items.length - removed.size);
        const out = drain(queue);
        assert.ok(out.every((i) => !removed.has(i.id)));
        assert.equal(out.length, items.length - removed.size);
      }),
    );
  });

  test("inOrder() is the order pop() serves; peek() is its head", () => {
    fc.assert(
      fc.property(itemsArb, (items) => {
        const queue = filled(items);
        const shown = queue.inOrder();
        assert.equal(queue.peek(), shown[0]);
        assert.deepEqual(drain(queue), shown);
      }),
    );
  });

  test("countAhead counts every item of equal or higher priority", () => {
    fc.assert(
      fc.property(itemsArb, fc.integer({ min: 0, max: 4 }), (items, priority) => {
        assert.equal(filled(items).countAhead(priority), items.filter((i) => i.priority <= priority).length);
      }),
    );
  });

  test("sheddableFor a newcomer: the least important if less important than it, else its tier's biggest holder by two, latest first", () => {
    const newcomerArb = fc.record({ priority: fc.integer({ min: 1, max: 3 }), tenant: fc.constantFrom("a", "b", "c", "new", undefined) });
    fc.assert(
      fc.property(itemsArb, newcomerArb, (items, newcomer) => {
        const victim = filled(items).sheddableFor(newcomer.priority, newcomer.tenant);
        const latestFirst = (x: Item, y: Item) => y.deadline - x.deadline || y.id - x.id;
        const lessImportant = items.filter((i) => i.priority > newcomer.priority);
        if (lessImportant.length > 0) {
          const lowest = Math.max(...lessImportant.map((i) => i.priority));
          return assert.equal(victim, lessImportant.filter((i) => i.priority === lowest).sort(latestFirst)[0]);
        }
        if (newcomer.tenant === undefined) return assert.equal(victim, undefined, "no tenant: only less important items");
        const tier = items.filter((i) => i.priority === newcomer.priority);
        const held = (tenant: string) => tier.filter((i) => i.tenant === tenant);
        const own = held(newcomer.tenant).length;
        const holders = [...new Set(tier.map((i) => i.tenant))].filter((t) => t !== newcomer.tenant && held(t).length >= own + 2);
        if (holders.length === 0) return assert.equal(victim, undefined);
        const most = Math.max(...holders.map((t) => held(t).length));
        const latestOfEach = holders.filter((t) => held(t).length === most).map((t) => held(t).sort(latestFirst)[0]!);
        assert.equal(victim, latestOfEach.sort(latestFirst)[0]);
      }),
    );
  });

  test("itemsAheadOf is what pop() serves before a newcomer pushed last in its tenant's lane", () => {
    const costed = fc.array(
      fc.record({
        priority: fc.integer({ min: 1, max: 3 }),
        deadline: fc.integer({ min: 0, max: 20 }),
        tenant: fc.constantFrom("a", "b", "c"),
        cost: fc.integer({ min: 1, max: 3 }),
      }),
      { maxLength: 40 },
    );
    const newcomerArb = fc.record({ priority: fc.integer({ min: 1, max: 3 }), tenant: fc.constantFrom("a", "b", "c", "new") });
    fc.assert(
      fc.property(costed, fc.integer({ min: 0, max: 10 }), newcomerArb, (raw, served, newcomer) => {
        const items = raw.map((item, id) => ({ ...item, id }));
        const queue = filled(items);
        const twin = filled(items);
        for (let k = 0; k < served; k++) (queue.pop(), twin.pop()); // lanes with service behind them
        const marker: Item = { id: -1, ...newcomer, deadline: Number.POSITIVE_INFINITY, cost: 1 };
        twin.push(marker);
        const before: number[] = [];
        for (let item = twin.pop(); item && item !== marker; item = twin.pop()) before.push(item.id);
        const ahead = queue.itemsAheadOf(newcomer.tenant, newcomer.priority).map((i) => i.id);
        assert.deepEqual(
          [...ahead].sort((x, y) => x - y),
          [...before].sort((x, y) => x - y),
        );
      }),
    );
  });
});
