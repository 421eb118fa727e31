import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { adminModule } from "./admin/admin.module.ts";
import { apiFeatures } from "./app/api-features.ts";
import { openSocketServer } from "./app/socket.ts";
import { apiStartupChecks } from "./app/startup-checks.ts";
import { authenticate } from "./auth/auth.middleware.ts";
import type { Config } from "./config/config.ts";
import { demoLoginModule } from "./demo-login/demo-login.module.ts";
import { healthRoutes } from "./http/health.routes.ts";
import { createHttpApp } from "./http/http.app.ts";
import { metricsRoutes } from "./http/metrics.routes.ts";
import { openApiRoutes } from "./http/openapi.routes.ts";
import { createLogger, type Logger } from "./observability/logger.ts";
import { API_METRICS_OFFSET, serveMetrics } from "./observability/metrics.server.ts";
import { Platform } from "./platform/platform.ts";
import type { ChatServer } from "./realtime/socket.server.ts";
import { webModule } from "./web/web.module.ts";

export type Api = {
  server: HttpServer;
  io: ChatServer;
  logger: Logger;
  port(): number;
  close(): Promise<void>;
};

/** One API process: compose the features on the platform, mount their routes, listen. */
export async function startApi(config: Config): Promise<Api> {
  const logger = createLogger(config.LOG_LEVEL, "api");
  const p = await Platform.open(config, logger, "api");

  // Compose.
  const socket = openSocketServer(p);
  const features = apiFeatures(p, socket);
  const files = features.media.fileRoutes();

  // Mount.
  let closing: Promise<void> | undefined;
  const auth = authenticate(p.verifier);
  const server = createServer();
  const app = createHttpApp({
    isClosing: () => closing !== undefined,
    logger,
    trustProxy: config.TRUST_PROXY,
    requestLogging: config.HTTP_REQUEST_LOG,
    corsOrigins: config.CORS_ORIGINS,
    root: [
      healthRoutes([p.redis, p.queueConn], p.store, () => p.redisErrors.outage),
      openApiRoutes(),
      ...demoLoginModule(p).routes(),
      ...webModule(p).routes(),
      metricsRoutes(auth),
      ...files.routes,
      ...adminModule(p).routes(),
    ],
    chat: features.chatRoutes(),
    authenticate: auth,
  });
  server.on("request", app);
  await socket.attach(server);
  // Under PM2 cluster mode one port answers for whichever instance: each instance also serves
  // its own metrics on a port of its own, so a scrape sees every one.
  const instance = Number(process.env.NODE_APP_INSTANCE ?? 0) || 0;
  const ownMetrics =
    config.METRICS_PORT > 0
      ? await serveMetrics({
          host: config.METRICS_HOST,
          port: config.METRICS_PORT + API_METRICS_OFFSET + instance,
          verifier: p.verifier,
          logger,
        })
      : null;
  await apiStartupChecks(p);

  // Listen.
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.PORT, config.HOST, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ port, store: config.STORE, prefix: config.REDIS_PREFIX }, "api listening");

  // Closed first (the latest close runs first): stop taking connections and let in-flight
  // requests finish (each answers only once its message's job is stored); the features' and
  // the platform's closes follow (pending batches flushed, queues, connections, the store).
  p.onClose(async () => {
    await ownMetrics?.close();
    files.abortUploads();
    const stopped = new Promise<void>((resolve) => socket.io.close(() => resolve()));
    server.closeIdleConnections();
    await stopped;
  });
  return {
    server,
    io: socket.io,
    logger,
    port: () => port,
    close: () => {
      closing ??= p.close();
      return closing;
    },
  };
}
