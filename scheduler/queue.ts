/**
 * @module The contract of a ModelHost's waiting room, apart from how it is kept.
 * Invariants every implementation keeps:
 * - strict priority: nothing of a lower priority (higher number) leaves before a higher one;
 * - inside one priority, tenants share fairly: the tenant with the least service so far goes
 *   next, and a tenant that (re)appears starts level with the others, not with banked credit;
 * - inside one tenant, earliest deadline first, and first in, first out among equal deadlines.
 */

export interface Schedulable {
  /** Lower runs first (tier priority). */
  priority: number;
  /** Absolute deadline, epoch milliseconds. */
  deadline: number;
  tenant: string;
  /** What serving this item costs its tenant's fair share (e.g. predicted milliseconds). */
  cost: number;
}

export interface SchedulingQueue<T extends Schedulable> {
  readonly size: number;
  push(item: T): void;
  /** The next item to run, removed from the queue. */
  pop(): T | undefined;
  /** The next item to run, left in place. */
  peek(): T | undefined;
  /**
   * Removes an item that leaves to run (the head, or a request taken into its batch) and charges
   * its cost to its tenant's share; false if it was not queued. pop() is peek() then serve().
   */
  serve(item: T): boolean;
  /** Removes an item that leaves without running (expired, cancelled, shed): nothing is charged; false if it was not queued. */
  remove(item: T): boolean;
  /** Items in the order they would run if nothing else arrived. */
  inOrder(): T[];
  /** How many queued items would run before a new item of this priority. */
  countAhead(priority: number): number;
  /** The queued items that would run before a new item of this priority, in serving order. */
  itemsAhead(priority: number): T[];
  /**
   * The queued items that would run before a new item of this tenant and priority, queued last in
   * its tenant's lane (whatever its deadline), in serving order: under fair share a tenant with
   * little queued goes ahead of another's backlog, so this is what that tenant would wait behind,
   * not the whole tier's queue.
   */
  itemsAheadOf(tenant: string, priority: number): T[];
  /**
   * The item to shed to make room for a newcomer of this priority and tenant, if any: a less
   * important one first (lowest priority, then latest deadline, then newest); else, within the
   * newcomer's tier, the latest of the tenant holding the most queued items, when that is at
   * least two more than the newcomer's tenant holds (so one tenant cannot fill the room alone);
   * with no tenant, only less important items.
   */
  sheddableFor(priority: number, tenant?: string): T | undefined;
}
