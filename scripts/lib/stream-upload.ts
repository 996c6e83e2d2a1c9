/**
 * @module A file PUT to the admin API as a stream with a Content-Length (the Worker refuses
 * uploads without one and never buffers them), reporting the bytes handed to the socket: what a
 * version upload and a variant upload share.
 */
import { createReadStream, statSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { readAnswer } from "./admin-answer.ts";

export interface StreamUpload {
  url: URL;
  token: string;
  filePath: string;
  /** What is uploaded, for the timeout's message: `mlp-tiny@2`, `mlp-heavy@1 variant int8`. */
  label: string;
  /** Longest the socket may go without progress (the server proves the model loads after the last byte). */
  idleTimeoutMs: number;
  onProgress?: (sent: number, total: number) => void;
}

export function streamUpload<T>({ url, token, filePath, label, idleTimeoutMs, onProgress }: StreamUpload): Promise<T> {
  const total = statSync(filePath).size;
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;

  return new Promise<T>((resolvePromise, reject) => {
    let answered = false;
    const req = send(url, {
      method: "PUT",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/octet-stream",
        "content-length": String(total),
      },
    });
    req.setTimeout(idleTimeoutMs, () => req.destroy(new Error(`upload of ${label}: no progress for ${idleTimeoutMs} ms`)));
    req.on("response", (response: IncomingMessage) => {
      answered = true;
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("error", reject);
      response.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        // Inside an event handler a throw would crash the process: every outcome goes through the promise.
        try {
          resolvePromise(readAnswer<T>(response.statusCode ?? 0, response.headers["content-type"] ?? "", text, `PUT ${url.pathname}`));
        } catch (error) {
          reject(error);
        }
      });
    });
    // The server may refuse early (409, 413) and close while we still write: its answer wins.
    req.on("error", (error) => {
      if (!answered) reject(error);
    });

    const file = createReadStream(filePath, { highWaterMark: 1 << 20 });
    let sent = 0;
    onProgress?.(0, total);
    file.on("error", (error) => req.destroy(error));
    file.on("data", (chunk) => {
      sent += chunk.length;
      if (!req.write(chunk)) {
        file.pause();
        req.once("drain", () => file.resume());
      }
      onProgress?.(sent, total);
    });
    file.on("end", () => req.end());
  });
}
