import type { Server as HttpServer } from "node:http";
import type { Platform } from "../platform/platform.ts";
import { adapterReady, roomsReady } from "../realtime/adapter.ts";
import { SocketAdmission } from "../realtime/admission.ts";
import { createSocketServer } from "../realtime/socket.server.ts";

/** The API's Socket.IO server on the Redis adapter; `attach` serves it once every route is mounted. */
export function openSocketServer(p: Platform) {
  const { config, keys } = p;
  const cluster = config.redis.clusterNodes !== null;
  const pub = p.connection("subscriber", "pub");
  const sub = p.connection("subscriber", "sub");
  const ready = roomsReady(sub, keys.socketKey, cluster);
  const admission = new SocketAdmission({
    maxHandshakes: config.SOCKET_MAX_HANDSHAKES,
    slowHandshakeMs: config.SOCKET_SLOW_HANDSHAKE_MS,
    retryAfterS: 2,
  });
  const io = createSocketServer({
    admission,
    pub,
    sub,
    adapterKey: keys.socketKey,
    cluster,
    roomsReady: ready,
    verifier: p.verifier,
    store: p.store,
    logger: p.logger,
    corsOrigins: config.CORS_ORIGINS,
  });
  return {
    io,
    roomsReady: ready,
    /** After Express: engine.io wraps the request listeners and alone answers /socket.io/. */
    async attach(server: HttpServer): Promise<void> {
      io.attach(server);
      admission.guard(io);
      await adapterReady(sub, keys.socketKey, (io.of("/").adapter as { uid?: string }).uid, cluster);
    },
  };
}
