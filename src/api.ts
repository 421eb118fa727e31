import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { authenticate } from "./auth/auth.middleware.ts";
import { TokenVerifier } from "./auth/jwt.ts";
import type { Config } from "./config/config.ts";
import { healthRoutes } from "./http/health.routes.ts";
import { createHttpApp } from "./http/http.app.ts";
import { createLogger, type Logger } from "./observability/logger.ts";
import { SocketRoomEvents } from "./realtime/room.events.ts";
import { type ChatServer, createSocketServer } from "./realtime/socket.server.ts";
import { createRedis, isRedisDown, Keys } from "./redis/redis.ts";
import { MembershipCache } from "./rooms/membership.cache.ts";
import { roomsRoutes } from "./rooms/rooms.routes.ts";
import { RoomsService } from "./rooms/rooms.service.ts";
import { createStore } from "./store/store.factory.ts";

export type Api = {
  server: HttpServer;
  io: ChatServer;
  logger: Logger;
  port(): number;
  close(): Promise<void>;
};

/** Composition root of one API process: wires adapters into services, services into routes. */
export async function startApi(config: Config): Promise<Api> {
  const logger = createLogger(config.LOG_LEVEL, "api");
  const keys = new Keys(config.REDIS_PREFIX);
  const redis = createRedis(config.REDIS_URL, "api", "chat-api");
  const pub = createRedis(config.REDIS_URL, "subscriber", "chat-api-pub");
  const sub = createRedis(config.REDIS_URL, "subscriber", "chat-api-sub");
  for (const [name, conn] of Object.entries({ redis, pub, sub })) {
    conn.on("error", (err) => logger.warn({ conn: name, err: err.message }, "redis connection error"));
  }
  const store = createStore(config);
  const verifier = new TokenVerifier({
    key: config.jwt,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
  });

  const server = createServer();
  const io = createSocketServer({
    httpServer: server,
    pub,
    sub,
    adapterKey: keys.socketKey,
    verifier,
    store,
    logger,
  });
  const members = new MembershipCache(redis, keys, store, config.MEMBERSHIP_CACHE_TTL_S);
  const rooms = new RoomsService(store, members, new SocketRoomEvents(io), {
    maxGroupMembers: config.GROUP_MAX_MEMBERS,
  });

  const app = createHttpApp({
    logger,
    trustProxy: config.TRUST_PROXY,
    redisDown: () => isRedisDown(redis),
    root: [healthRoutes(redis, store)],
    chat: [roomsRoutes(rooms)],
    authenticate: authenticate(verifier),
  });
  server.on("request", app);

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.PORT, config.HOST, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ port, store: config.STORE, prefix: config.REDIS_PREFIX }, "api listening");

  let closing: Promise<void> | undefined;
  return {
    server,
    io,
    logger,
    port: () => port,
    close: () => {
      closing ??= (async () => {
        await new Promise<void>((resolve) => io.close(() => resolve()));
        await Promise.allSettled([redis.quit(), pub.quit(), sub.quit()]);
        await store.close();
      })();
      return closing;
    },
  };
}
