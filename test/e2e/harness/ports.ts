/**
 * @module Free TCP ports for the end-to-end tests: the system picks them (listen on port 0, read
 * the port, close), so no two files, and no engineer's own stack, ever ask for the same fixed
 * port. A port is free when chosen; whoever is given it must check it got it (launchOrigin and
 * startWranglerDev do, and fail clearly when another process took it meanwhile).
 */
import { createServer, type Server } from "node:net";

/** `count` distinct free ports on `host`: all held open together, so none is handed out twice. */
export async function freePorts(count: number, host = "127.0.0.1"): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, host, () => resolve());
      });
    }
    return servers.map((server) => {
      const address = server.address();
      if (address === null || typeof address === "string") throw new Error(`no TCP port for ${host}`);
      return address.port;
    });
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()))));
  }
}

export async function freePort(host = "127.0.0.1"): Promise<number> {
  const [port] = await freePorts(1, host);
  return port!;
}
