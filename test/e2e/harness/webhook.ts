/**
 * @module A local webhook receiver for the alert tests: it keeps, in order, every notice the
 * Alerts object posts to `/hook` on 127.0.0.1, and is closed by the file's cleanup.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { AlertNotice } from "../../../durable-objects/alerts/contract.ts";
import type { Cleanup } from "./cleanup.ts";

export interface WebhookReceiver {
  /** The URL to give a rule as its webhook. */
  url: string;
  /** The notices received so far, oldest first. */
  notices: AlertNotice[];
}

export async function startWebhookReceiver(cleanup: Cleanup, host = "127.0.0.1"): Promise<WebhookReceiver> {
  const notices: AlertNotice[] = [];
  const receiver = createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += String(chunk);
    if (req.method === "POST" && req.url === "/hook") notices.push(JSON.parse(body) as AlertNotice);
    res.writeHead(req.method === "POST" ? 204 : 405).end();
  });
  await new Promise<void>((resolve) => receiver.listen(0, host, resolve));
  cleanup.add(() => new Promise((resolve) => receiver.close(resolve)));
  return { url: `http://${host}:${(receiver.address() as AddressInfo).port}/hook`, notices };
}
