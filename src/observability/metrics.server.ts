import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { bearerToken } from "../auth/auth.middleware.ts";
import { AuthError, type TokenVerifier } from "../auth/jwt.ts";
import type { Logger } from "./logger.ts";
import { registry } from "./metrics.ts";

/** API instances' own metrics ports start here above METRICS_PORT (pools use 0, 10, 20, 30). */
export const API_METRICS_OFFSET = 40;

/**
 * A process's own Prometheus endpoint (workers serve no HTTP otherwise; API instances under
 * PM2 cluster mode share one port): `GET /metrics` with an admin bearer token, like the API's
 * (never a cookie). A port already taken is logged, not fatal: the pool's
 * work matters more than its metrics.
 */
export async function serveMetrics(opts: {
  host: string;
  port: number;
  verifier: TokenVerifier;
  logger: Logger;
}): Promise<{ port: number | null; close(): Promise<void> }> {
  const server: Server = createServer(async (req, res) => {
    if (req.method !== "GET" || req.url !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    const token = bearerToken(req.headers.authorization);
    try {
      if (!token) throw new AuthError("missing bearer token");
      if (!opts.verifier.verify(token).admin) {
        res.writeHead(403).end();
        return;
      }
    } catch (err) {
      if (!(err instanceof AuthError)) throw err;
      res.writeHead(401).end();
      return;
    }
    res.writeHead(200, { "content-type": registry.contentType });
    res.end(await registry.metrics());
  });
  const port = await new Promise<number | null>((resolve) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      opts.logger.warn({ port: opts.port, code: err.code }, "metrics endpoint not served");
      resolve(null);
    });
    server.listen(opts.port, opts.host, () => resolve((server.address() as AddressInfo).port));
  });
  if (port !== null) opts.logger.info({ port }, "metrics endpoint listening");
  return {
    port,
    close: () => new Promise<void>((resolve) => (port === null ? resolve() : server.close(() => resolve()))),
  };
}
