import type { IncomingMessage } from "node:http";
import { Server, type Socket } from "socket.io";
import { AuthError, type AuthUser, type TokenVerifier } from "../auth/jwt.ts";
import type { ClientToServerEvents, InterServerEvents, ServerToClientEvents } from "../contract/events.ts";
import type { Logger } from "../observability/logger.ts";
import type { RedisClient } from "../redis/redis.ts";
import type { Store } from "../store/store.ts";
import { type RoomsReady, socketAdapter } from "./adapter.ts";
import { roomChannel, userChannel } from "./channels.ts";

type SocketData = { user: AuthUser };
/** The contract's events (src/contract/events.ts): every `on` and `emit` is checked against them. */
export type ChatServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
export type ChatSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

export type SocketServerDeps = {
  pub: RedisClient;
  sub: RedisClient;
  adapterKey: string;
  /** Redis Cluster: the sharded adapter (adapter.ts). */
  cluster: boolean;
  /** Waits until this node receives broadcasts to these rooms (adapter.ts). */
  roomsReady: RoomsReady;
  verifier: TokenVerifier;
  store: Store;
  logger: Logger;
  /** Browser origins allowed for the polling transport (CORS_ORIGINS); none when empty. */
  corsOrigins: string[] | "*";
  /** Told when a new session is decided (load shedding counts handshakes under way: admission.ts). */
  admission?: { settle(req: IncomingMessage): void };
};

/** Same-origin pages (the host they were served from) and configured origins may connect. */
function originAllowed(origin: string, allowed: string[] | "*", host: string | undefined): boolean {
  if (allowed === "*" || allowed.includes(origin)) return true;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** Longest setTimeout Node accepts; tokens living longer are re-armed. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * The server is not attached to the HTTP server here: the caller attaches it after Express
 * (`io.attach(server)`), so engine.io wraps Express and alone answers `/socket.io/` requests.
 * Attached first, Express would answer them too, and engine.io then wrote to a response that
 * was already sent (ERR_HTTP_HEADERS_SENT: the process died on one unauthenticated request).
 */
export function createSocketServer(deps: SocketServerDeps): ChatServer {
  const cors = deps.corsOrigins === "*" || deps.corsOrigins.length > 0;
  const io: ChatServer = new Server({
    adapter: socketAdapter(deps.pub, deps.sub, deps.adapterKey, deps.cluster),
    serveClient: false,
    // engine.io's defaults: a ping every 25 s is most of what an idle socket costs the process
    // (~0.1 ms of CPU each); a dead peer is noticed within 45 s.
    pingInterval: 25_000,
    pingTimeout: 20_000,
    // The same cap as a REST body: a larger packet closes the connection (engine.io's default is 1 MB).
    maxHttpBufferSize: 64 * 1024,
    ...(cors ? { cors: { origin: deps.corsOrigins } } : {}),
    // Browsers send Origin on WebSocket upgrades too, and CORS does not cover them: a page on
    // another origin is refused here. Clients that are not browsers send no Origin.
    allowRequest: (req, callback) => {
      const origin = req.headers.origin;
      callback(null, origin === undefined || originAllowed(origin, deps.corsOrigins, req.headers.host));
    },
  });

  /** The token's user, or why the session is refused. */
  const authenticate = (socket: ChatSocket): Error | undefined => {
    const auth: unknown = socket.handshake.auth;
    const token = typeof auth === "object" && auth !== null && "token" in auth ? auth.token : undefined;
    if (typeof token !== "string") return new Error("unauthenticated: missing auth.token");
    try {
      socket.data.user = deps.verifier.verify(token);
      return undefined;
    } catch (err) {
      return new Error(`unauthenticated: ${err instanceof AuthError ? err.message : "invalid token"}`);
    }
  };

  // The socket joins its channels before the client is told it is connected, and only once
  // this node receives their broadcasts: what is sent after the client's connect (a sync it
  // starts then included) reaches it.
  const joinChannels = async (socket: ChatSocket): Promise<Error | undefined> => {
    const { user } = socket.data;
    try {
      const roomIds = await deps.store.listRoomIdsForUser(user.id);
      const channels = [userChannel(user.id), ...roomIds.map(roomChannel)];
      await socket.join(channels);
      await deps.roomsReady(channels);
      return undefined;
    } catch (err) {
      deps.logger.error({ err, user: user.id }, "could not join rooms; refusing the connection");
      // A refused socket must not stay in the adapter's rooms.
      for (const room of [...socket.rooms]) socket.leave(room);
      return new Error("unavailable: could not join rooms; retry");
    }
  };

  io.use(async (socket, next) => {
    const refused = authenticate(socket) ?? (await joinChannels(socket));
    deps.admission?.settle(socket.conn.request);
    next(refused);
  });

  io.on("connection", (socket) => {
    armExpiry(socket, socket.data.user.expiresAt);
  });

  return io;
}

/** A socket lives no longer than its token: it is disconnected when the token expires. */
function armExpiry(socket: ChatSocket, expiresAt: number): void {
  const delay = expiresAt - Date.now();
  const timer = setTimeout(
    () => {
      if (expiresAt <= Date.now()) socket.disconnect(true);
      else armExpiry(socket, expiresAt);
    },
    Math.max(0, Math.min(delay, MAX_TIMER_MS)),
  );
  timer.unref();
  socket.once("disconnect", () => clearTimeout(timer));
}
