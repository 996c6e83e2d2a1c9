/**
 * @module A TCP relay between the CLI and the edge that passes client bytes at a bounded rate and
 * counts them, so a test can act when exactly half of an upload has reached the server: kill the
 * client there, or cut both connections there itself. Loopback is too fast (and its socket
 * buffers too deep) to catch an upload halfway from the client's own progress.
 */
import { connect, createServer, type Socket } from "node:net";

export interface UploadRelay {
  url: string;
  /** Client bytes passed to the edge so far, all connections together. */
  readonly forwarded: number;
  /** Resolves once `bytes` client bytes have reached the edge. */
  reached(bytes: number): Promise<void>;
  /** Destroys every connection both ways, as a network failure would. */
  cut(): void;
  close(): Promise<void>;
}

export async function startUploadRelay(options: { host: string; port: number; bytesPerSecond: number }): Promise<UploadRelay> {
  const sockets = new Set<Socket>();
  const waiters: { bytes: number; resolve: () => void }[] = [];
  let forwarded = 0;
  const count = (bytes: number): void => {
    forwarded += bytes;
    for (const waiter of waiters.filter((w) => forwarded >= w.bytes)) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  };
  const server = createServer((client) => {
    const upstream = connect(options.port, options.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => undefined); // the other side's close says it
    }
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    upstream.pipe(client);
    client.on("data", (chunk: Buffer) => {
      upstream.write(chunk);
      count(chunk.length);
      // Hold the client back for as long as this chunk takes at the chosen rate.
      client.pause();
      setTimeout(() => client.resume(), (chunk.length / options.bytesPerSecond) * 1000);
    });
    client.on("end", () => upstream.end());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, options.host, () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the relay has no TCP port");
  const cut = (): void => {
    for (const socket of sockets) socket.destroy();
  };
  return {
    url: `http://${options.host}:${address.port}`,
    get forwarded() {
      return forwarded;
    },
    reached: (bytes) => (forwarded >= bytes ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ bytes, resolve }))),
    cut,
    close: () =>
      new Promise<void>((resolve) => {
        cut();
        server.close(() => resolve());
      }),
  };
}
