/**
 * @module SchedulingQueue kept as priority levels of per-tenant lanes.
 * Each lane is a sorted array (binary-search insert on deadline, then arrival), so EDF and FIFO
 * hold inside a tenant. Each level keeps a virtual clock: a lane's `served` grows by the cost of
 * what it ran, the lane with the least `served` goes next, and a new lane starts at the clock
 * (start-time fair queuing), which is what stops a burst from starving a trickle. A lane that
 * empties leaves its `served` behind (`finished`), and the tenant's next lane starts no earlier:
 * otherwise a tenant that keeps one request queued at a time, each sent while the one before
 * runs, would start every lane at the start of its own last service, forgetting what it was just
 * charged, and go ahead of every other tenant of its tier each time.
 */
import type { Schedulable, SchedulingQueue } from "./queue.ts";

interface Entry<T> {
  item: T;
  seq: number;
}

interface Lane<T> {
  tenant: string;
  entries: Entry<T>[];
  served: number;
}

interface Level<T> {
  priority: number;
  lanes: Map<string, Lane<T>>;
  clock: number;
  /** Where the lanes that emptied had got to, by tenant; pruned once the clock passes them. */
  finished: Map<string, number>;
}

/** Emptied lanes remembered per level before those the clock has passed are forgotten. */
const FINISHED_KEPT = 256;

export class TieredFairQueue<T extends Schedulable> implements SchedulingQueue<T> {
  /** Ascending priority number, so levels[0] is the most important non-empty level. */
  #levels: Level<T>[] = [];
  #seq = 0;
  #size = 0;
  readonly #seqOf = new Map<T, number>();
  /**
   * The serving order, kept until the queue changes: a host asks for it several times between two
   * changes (the wait ahead of each tier in load(), the batch gathered for the next run), and each
   * time it is a replay of the whole queue.
   */
  #order: T[] | undefined;

  get size(): number {
    return this.#size;
  }

  push(item: T): void {
    const level = this.#level(item.priority);
    let lane = level.lanes.get(item.tenant);
    if (!lane) {
      lane = { tenant: item.tenant, entries: [], served: startOf(level, item.tenant) };
      level.lanes.set(item.tenant, lane);
      level.finished.delete(item.tenant);
    }
    const entry = { item, seq: this.#seq++ };
    lane.entries.splice(insertionIndex(lane.entries, entry), 0, entry);
    this.#seqOf.set(item, entry.seq);
    this.#size += 1;
    this.#order = undefined;
  }

  peek(): T | undefined {
    const level = this.#levels[0];
    return level ? nextLane(level)?.entries[0]?.item : undefined;
  }

  pop(): T | undefined {
    const item = this.peek();
    if (item !== undefined) this.serve(item);
    return item;
  }

  serve(item: T): boolean {
    const found = this.#find(item);
    if (!found) return false;
    // The level's clock is the start of the service in progress: a lane that (re)appears starts there.
    found.level.clock = Math.max(found.level.clock, found.lane.served);
    found.lane.served += item.cost;
    this.#unlink(found, item);
    const { finished, clock } = found.level;
    if (finished.size > FINISHED_KEPT) for (const [tenant, served] of finished) if (served <= clock) finished.delete(tenant);
    return true;
  }

  remove(item: T): boolean {
    const found = this.#find(item);
    if (!found) return false;
    this.#unlink(found, item);
    return true;
  }

  inOrder(): T[] {
    this.#order ??= this.#replay();
    return [...this.#order];
  }

  itemsAheadOf(tenant: string, priority: number): T[] {
    // Computed, not replayed (a host asks on every admission and for each tier's report): the
    // newcomer goes last in its tenant's lane, so it starts when that lane's service reaches
    // `start`, and another lane's item goes first when it starts no later (it wins the tie: its
    // deadline is earlier than the newcomer's, taken as unknown). Items of more important levels all go first.
    const ahead: { item: T; start: number }[] = [];
    for (const level of this.#levels) {
      if (level.priority > priority) break;
      if (level.priority < priority) {
        for (const lane of level.lanes.values()) for (const entry of lane.entries) ahead.push({ item: entry.item, start: Number.NEGATIVE_INFINITY });
        continue;
      }
      const own = level.lanes.get(tenant);
      const start = own ? own.entries.reduce((served, entry) => served + entry.item.cost, own.served) : startOf(level, tenant);
      for (const lane of level.lanes.values()) {
        let served = lane.served;
        for (const entry of lane.entries) {
          if (lane !== own && served > start) break;
          ahead.push({ item: entry.item, start: served });
          served += entry.item.cost;
        }
      }
    }
    return ahead.sort((a, b) => a.start - b.start).map((a) => a.item);
  }

  /** Replays pop() on copies, so the order shown is exactly the order served. */
  #replay(): T[] {
    const copy = this.#copy();
    const order: T[] = [];
    for (let item = copy.pop(); item !== undefined; item = copy.pop()) order.push(item);
    return order;
  }

  /** A queue in the same state (levels, lanes, their service and clocks) over the same items. */
  #copy(): TieredFairQueue<T> {
    const copy = new TieredFairQueue<T>();
    copy.#levels = this.#levels.map((level) => ({
      priority: level.priority,
      clock: level.clock,
      finished: new Map(level.finished),
      lanes: new Map([...level.lanes].map(([tenant, lane]) => [tenant, { tenant, served: lane.served, entries: [...lane.entries] }])),
    }));
    copy.#size = this.#size;
    copy.#seq = this.#seq; // an item pushed onto the copy arrives after every queued one
    for (const [item, seq] of this.#seqOf) copy.#seqOf.set(item, seq);
    return copy;
  }

  countAhead(priority: number): number {
    let count = 0;
    for (const level of this.#levels) {
      if (level.priority > priority) break;
      for (const lane of level.lanes.values()) count += lane.entries.length;
    }
    return count;
  }

  itemsAhead(priority: number): T[] {
    this.#order ??= this.#replay();
    return this.#order.filter((item) => item.priority <= priority);
  }

  sheddableFor(priority: number, tenant?: string): T | undefined {
    const least = this.#levels.at(-1);
    if (least && least.priority > priority) {
      let worst: Entry<T> | undefined;
      for (const lane of least.lanes.values()) {
        const last = lane.entries.at(-1);
        if (last && (!worst || compareEntries(last, worst) > 0)) worst = last;
      }
      return worst?.item;
    }
    if (tenant === undefined) return undefined;
    const level = this.#levels.find((l) => l.priority === priority);
    const own = level?.lanes.get(tenant)?.entries.length ?? 0;
    let longest: Lane<T> | undefined;
    // Among tenants holding as many, the one whose latest item is latest.
    for (const lane of level?.lanes.values() ?? []) {
      if (lane.tenant === tenant || lane.entries.length <= own + 1) continue;
      const [count, most] = [lane.entries.length, longest?.entries.length ?? 0];
      if (count > most || (count === most && compareEntries(lane.entries.at(-1)!, longest!.entries.at(-1)!) > 0)) longest = lane;
    }
    return longest?.entries.at(-1)?.item;
  }

  #level(priority: number): Level<T> {
    let index = this.#levels.findIndex((l) => l.priority >= priority);
    if (index === -1) index = this.#levels.length;
    const found = this.#levels[index];
    if (found?.priority === priority) return found;
    const level: Level<T> = { priority, lanes: new Map(), clock: 0, finished: new Map() };
    this.#levels.splice(index, 0, level);
    return level;
  }

  /** Where a queued item sits: its level, its tenant's lane and its index in that lane. */
  #find(item: T): { level: Level<T>; lane: Lane<T>; at: number } | undefined {
    const seq = this.#seqOf.get(item);
    const level = this.#levels.find((l) => l.priority === item.priority);
    const lane = level?.lanes.get(item.tenant);
    if (seq === undefined || !level || !lane) return undefined;
    const at = insertionIndex(lane.entries, { item, seq }) - 1;
    return lane.entries[at]?.item === item ? { level, lane, at } : undefined;
  }

  #unlink({ level, lane, at }: { level: Level<T>; lane: Lane<T>; at: number }, item: T): void {
    this.#order = undefined;
    lane.entries.splice(at, 1);
    this.#seqOf.delete(item);
    this.#size -= 1;
    if (lane.entries.length === 0) {
      level.lanes.delete(lane.tenant);
      level.finished.set(lane.tenant, lane.served);
    }
    if (level.lanes.size === 0) this.#levels.splice(this.#levels.indexOf(level), 1);
  }
}

function compareEntries<T extends Schedulable>(a: Entry<T>, b: Entry<T>): number {
  return a.item.deadline - b.item.deadline || a.seq - b.seq;
}

/** Where a new lane of `tenant` starts: the level's clock, or later where its last lane got to. */
function startOf<T>(level: Level<T>, tenant: string): number {
  return Math.max(level.clock, level.finished.get(tenant) ?? level.clock);
}

/** Index after every entry that sorts before or equal to `entry` (keeps FIFO among equals). */
function insertionIndex<T extends Schedulable>(entries: Entry<T>[], entry: Entry<T>): number {
  let low = 0;
  let high = entries.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (compareEntries(entries[mid]!, entry) <= 0) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** The lane with the least service; ties go to the earlier head deadline, then the older head. */
function nextLane<T extends Schedulable>(level: Level<T>): Lane<T> | undefined {
  let best: Lane<T> | undefined;
  for (const lane of level.lanes.values()) {
    if (!best || lane.served < best.served || (lane.served === best.served && compareEntries(lane.entries[0]!, best.entries[0]!) < 0)) best = lane;
  }
  return best;
}
