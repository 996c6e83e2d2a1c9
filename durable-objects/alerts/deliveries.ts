/**
 * @module Webhook deliveries of the Alerts object: each firing or resolved notice is written to
 * an outbox in SQLite in the evaluation that decided it, then POSTed after the evaluation has
 * been saved, with a timeout, so a slow or failing receiver never holds an evaluation back. A
 * failed delivery is tried again at each later evaluation, up to MAX_ATTEMPTS, then dropped
 * (and logged). A rule's notices go out in order: its next one waits until the one before is
 * delivered or dropped, so a receiver never sees `resolved` before its `firing`. While a receiver
 * is down a rule keeps two notices at most, the one being tried and the newest: a rule that flips
 * every evaluation would otherwise queue one every 15 s against one dropped every 75 s, and its
 * receiver would hear of today's state hours late.
 */
import type { AlertNotice } from "./contract.ts";

export const DELIVERY_TIMEOUT_MS = 5_000;
export const MAX_ATTEMPTS = 5;

export function createOutbox(sql: SqlStorage): void {
  sql.exec(
    `CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, alert TEXT NOT NULL, webhook TEXT NOT NULL, notice TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0)`,
  );
}

export function enqueue(sql: SqlStorage, webhook: string, notice: AlertNotice): void {
  // The newest supersedes every notice of the rule still waiting behind its head.
  sql.exec(`DELETE FROM outbox WHERE alert = ? AND seq > (SELECT MIN(seq) FROM outbox WHERE alert = ?)`, notice.alert, notice.alert);
  sql.exec(`INSERT INTO outbox (alert, webhook, notice) VALUES (?, ?, ?)`, notice.alert, webhook, JSON.stringify(notice));
}

export function pendingDeliveries(sql: SqlStorage): number {
  return sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM outbox`).one().n;
}

/** Tries the oldest pending notice of every rule, all at once; resolves when each has answered, failed or timed out. */
export async function deliver(sql: SqlStorage): Promise<void> {
  const heads = sql
    .exec<{ seq: number; webhook: string; notice: string; attempts: number }>(
      `SELECT seq, webhook, notice, attempts FROM outbox WHERE seq IN (SELECT MIN(seq) FROM outbox GROUP BY alert)`,
    )
    .toArray();
  await Promise.all(
    heads.map(async (head) => {
      const failure = await post(head.webhook, head.notice);
      if (failure === undefined) {
        sql.exec(`DELETE FROM outbox WHERE seq = ?`, head.seq);
      } else if (head.attempts + 1 >= MAX_ATTEMPTS) {
        // The origin only: a webhook's path often holds its secret (Slack, Discord).
        console.error(`alert notice dropped after ${MAX_ATTEMPTS} attempts to ${originOf(head.webhook)}: ${failure}; notice ${head.notice}`);
        sql.exec(`DELETE FROM outbox WHERE seq = ?`, head.seq);
      } else {
        sql.exec(`UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?`, head.seq);
      }
    }),
  );
}

/** POSTs a notice; undefined when the receiver took it (2xx), else why not. */
async function post(webhook: string, notice: string): Promise<string | undefined> {
  try {
    const response = await fetch(webhook, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: notice,
      signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
    });
    await response.body?.cancel();
    return response.ok ? undefined : `answered ${response.status}`;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

function originOf(webhook: string): string {
  try {
    return new URL(webhook).origin;
  } catch {
    return "a malformed webhook";
  }
}
