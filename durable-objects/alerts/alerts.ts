/**
 * @module Alerts: the one Durable Object that holds the alert rules and evaluates them on its
 * alarm, every ALERT_EVAL_INTERVAL_MS (15 s) while a rule exists. Each evaluation snapshots the
 * Metrics object's request counters (windows.ts keeps an hour of them to measure windows from),
 * checks the origins when a rule watches them (origin-watch.ts), and compares each rule's state
 * with what it held before: a rule that starts holding fires once, one that stops resolves once,
 * each change a notice in the outbox, POSTed after the evaluation is saved (deliveries.ts).
 *
 * An alarm, not a timer: the runtime keeps it across evictions and restarts, and retries it when
 * it throws.
 *
 * A rule put again unchanged keeps its state (a firing one goes on firing). A rule replaced by
 * another (any setting changed: a new threshold or window measures something else) starts
 * afresh, not firing, and a rule deleted is gone; either way a firing it had gets its `resolved`
 * notice, to the webhook that was told it fired, so no receiver is left with a firing that never
 * resolves. If the new rule holds, its next evaluation fires it anew.
 */
import { DurableObject } from "cloudflare:workers";
import { positiveVar, VAR_DEFAULTS } from "../../config/vars.ts";
import { METRICS_NAME } from "../metrics/contract.ts";
import { MAX_WINDOW_SECONDS, type AlertNotice, type AlertRule, type AlertView } from "./contract.ts";
import { createOutbox, deliver, enqueue, pendingDeliveries } from "./deliveries.ts";
import { checkOrigins, createOriginTable } from "./origin-watch.ts";
import { measure, snapshotOf, type Snapshot, type TakenSnapshot } from "./windows.ts";

interface RuleRow {
  name: string;
  rule: string;
  firing: number;
  since: number | null;
  value: number | null;
  evaluated_at: number | null;
  [column: string]: SqlStorageValue;
}

export class Alerts extends DurableObject<Env> {
  readonly #sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#sql.exec(
      `CREATE TABLE IF NOT EXISTS rules (name TEXT PRIMARY KEY, rule TEXT NOT NULL, firing INTEGER NOT NULL, since INTEGER, value REAL, evaluated_at INTEGER)`,
    );
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS snapshots (at INTEGER PRIMARY KEY, counts TEXT NOT NULL)`);
    createOriginTable(this.#sql);
    createOutbox(this.#sql);
  }

  /** Creates or replaces a rule (validated by the router, router/alerts/rule-input.ts); true when it is new. */
  async putRule(name: string, rule: AlertRule): Promise<boolean> {
    const existing = this.#sql.exec<RuleRow>(`SELECT * FROM rules WHERE name = ?`, name).toArray()[0];
    // The same rule put again (a config tool re-applying its file) keeps its state: nothing changed.
    if (!existing || !sameRule(JSON.parse(existing.rule) as AlertRule, rule)) {
      if (existing) this.#resolveIfFiring(existing);
      this.#sql.exec(
        `INSERT INTO rules (name, rule, firing) VALUES (?, ?, 0) ON CONFLICT (name) DO UPDATE SET rule = excluded.rule, firing = 0, since = NULL, value = NULL, evaluated_at = NULL`,
        name,
        JSON.stringify(rule),
      );
    }
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + this.#intervalMs());
    return !existing;
  }

  getRule(name: string): AlertView | undefined {
    const row = this.#sql.exec<RuleRow>(`SELECT * FROM rules WHERE name = ?`, name).toArray()[0];
    return row ? viewOf(row) : undefined;
  }

  listRules(): AlertView[] {
    return this.#sql.exec<RuleRow>(`SELECT * FROM rules ORDER BY name`).toArray().map(viewOf);
  }

  /** False when there was no such rule. Notices it already decided are still delivered, and a firing one's `resolved` with them. */
  deleteRule(name: string): boolean {
    const deleted = this.#sql.exec<RuleRow>(`DELETE FROM rules WHERE name = ? RETURNING *`, name).toArray()[0];
    if (deleted) this.#resolveIfFiring(deleted);
    return deleted !== undefined;
  }

  /**
   * The `resolved` notice of a rule that is replaced or deleted while firing, to the webhook its
   * `firing` went to, with the value it last measured. It is delivered at the next evaluation,
   * after any notice of the rule still pending (the outbox keeps a rule's notices in order); the
   * alarm runs while the outbox holds one, rules or not.
   */
  #resolveIfFiring(row: RuleRow): void {
    if (row.firing !== 1) return;
    const rule = JSON.parse(row.rule) as AlertRule;
    enqueue(this.#sql, rule.webhook, { alert: row.name, status: "resolved", value: row.value, threshold: thresholdOf(rule), at: new Date().toISOString() });
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    const rules = this.#sql.exec<RuleRow>(`SELECT * FROM rules`).toArray();
    if (rules.length > 0) await this.#evaluate(rules, now);
    // The next one before the deliveries: a receiver that hangs delays nothing but its own notice.
    if (rules.length > 0 || pendingDeliveries(this.#sql) > 0) await this.ctx.storage.setAlarm(now + this.#intervalMs());
    await deliver(this.#sql);
  }

  async #evaluate(rules: RuleRow[], now: number): Promise<void> {
    const parsed = rules.map((row) => ({ row, rule: JSON.parse(row.rule) as AlertRule }));
    const history = parsed.some(({ rule }) => rule.kind !== "origin_down") ? await this.#snapshot(now) : [];
    const downFor = parsed.some(({ rule }) => rule.kind === "origin_down") ? await checkOrigins(this.#sql, this.env, now) : new Map<string, number>();
    for (const { row, rule } of parsed) {
      let value: number | null;
      let holds: boolean;
      const threshold = thresholdOf(rule);
      if (rule.kind === "origin_down") {
        const downMs = rule.origin === undefined ? Math.max(0, ...downFor.values()) : (downFor.get(rule.origin) ?? 0);
        value = downMs / 1000;
        holds = value >= threshold;
      } else {
        ({ value, holds } = measure(rule, history));
      }
      const changed = holds !== (row.firing === 1);
      this.#sql.exec(
        `UPDATE rules SET firing = ?, since = ?, value = ?, evaluated_at = ? WHERE name = ?`,
        holds ? 1 : 0,
        changed ? now : row.since,
        value,
        now,
        row.name,
      );
      if (changed) {
        const notice: AlertNotice = { alert: row.name, status: holds ? "firing" : "resolved", value, threshold, at: new Date(now).toISOString() };
        enqueue(this.#sql, rule.webhook, notice);
      }
    }
  }

  /** Takes a snapshot of the request counters now and returns the history kept, oldest first. */
  async #snapshot(now: number): Promise<TakenSnapshot[]> {
    const counters = await this.env.METRICS.getByName(METRICS_NAME).requestCounters();
    this.#sql.exec(`INSERT OR REPLACE INTO snapshots (at, counts) VALUES (?, ?)`, now, JSON.stringify(snapshotOf(counters)));
    // Keep one snapshot older than the longest window, so that window always has its start.
    const keepFrom = now - MAX_WINDOW_SECONDS * 1000;
    this.#sql.exec(`DELETE FROM snapshots WHERE at < (SELECT COALESCE(MAX(at), 0) FROM snapshots WHERE at <= ?)`, keepFrom);
    return this.#sql
      .exec<{ at: number; counts: string }>(`SELECT at, counts FROM snapshots ORDER BY at`)
      .toArray()
      .map((row) => ({ at: row.at, counts: JSON.parse(row.counts) as Snapshot }));
  }

  #intervalMs(): number {
    return positiveVar("ALERT_EVAL_INTERVAL_MS", this.env.ALERT_EVAL_INTERVAL_MS, VAR_DEFAULTS.ALERT_EVAL_INTERVAL_MS, { integer: true });
  }
}

/** What a notice names as the rule's threshold: the share, or for `origin_down` the seconds down. */
function thresholdOf(rule: AlertRule): number {
  return rule.kind === "origin_down" ? rule.for_seconds : rule.threshold;
}

/** The same settings, whatever order their fields came in. */
function sameRule(a: AlertRule, b: AlertRule): boolean {
  const canonical = (rule: AlertRule) => JSON.stringify(Object.entries(rule).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
  return canonical(a) === canonical(b);
}

function viewOf(row: RuleRow): AlertView {
  return {
    name: row.name,
    rule: JSON.parse(row.rule) as AlertRule,
    state: { firing: row.firing === 1, since: row.since ?? undefined, value: row.value, evaluatedAt: row.evaluated_at ?? undefined },
  };
}
