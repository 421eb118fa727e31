import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { bullBoardRoutes } from "./admin/bull-board.routes.ts";
import { authenticate } from "./auth/auth.middleware.ts";
import { TokenVerifier } from "./auth/jwt.ts";
import type { Config } from "./config/config.ts";
import { devicesRoutes } from "./devices/devices.routes.ts";
import { DevicesService } from "./devices/devices.service.ts";
import { healthRoutes } from "./http/health.routes.ts";
import { createHttpApp } from "./http/http.app.ts";
import { metricsRoutes } from "./http/metrics.routes.ts";
import { openApiRoutes } from "./http/openapi.routes.ts";
import { MediaJobs } from "./media/media.queue.ts";
import { mediaRoutes } from "./media/media.routes.ts";
import { MediaService } from "./media/media.service.ts";
import { MediaViews } from "./media/media.views.ts";
import { localFilesRoutes } from "./media/storage/local-files.routes.ts";
import { createMediaStorage } from "./media/storage/storage.factory.ts";
import { AcceptRepository } from "./messages/accept.repository.ts";
import { FanoutJobs } from "./messages/forward.queue.ts";
import { ForwardService } from "./messages/forward.service.ts";
import { MessageReader } from "./messages/message.reader.ts";
import { MessageOpsService } from "./messages/message-ops.service.ts";
import { messagesRoutes } from "./messages/messages.routes.ts";
import { MessagesService } from "./messages/messages.service.ts";
import { MessageOpsRepository } from "./messages/ops.repository.ts";
import { PendingRepository } from "./messages/pending.repository.ts";
import { PersistProducer, persistQueue } from "./messages/persist.queue.ts";
import { RoomCounters } from "./messages/room-counters.repository.ts";
import { SearchService } from "./messages/search.service.ts";
import { StarsService } from "./messages/stars.service.ts";
import { NotifyJobs } from "./notify/notify.queue.ts";
import { createLogger, type Logger } from "./observability/logger.ts";
import { API_METRICS_OFFSET, serveMetrics } from "./observability/metrics.server.ts";
import { watchBacklog } from "./observability/metrics.ts";
import { JobProducer } from "./queues/queue.ts";
import { RateLimits } from "./rate-limits/rate-limits.ts";
import { SocketDeviceEvents } from "./realtime/device.events.ts";
import { SocketMessageEvents } from "./realtime/message.events.ts";
import { Presence } from "./realtime/presence.ts";
import { SocketRoomEvents } from "./realtime/room.events.ts";
import { registerSocketHandlers } from "./realtime/socket.handlers.ts";
import { type ChatServer, createSocketServer } from "./realtime/socket.server.ts";
import { Typing } from "./realtime/typing.ts";
import { createRedis, Keys, requireDurableRedis } from "./redis/redis.ts";
import { BlocksService } from "./rooms/blocks.service.ts";
import { GroupsService } from "./rooms/groups.service.ts";
import { MembershipCache } from "./rooms/membership.cache.ts";
import { MembershipChange } from "./rooms/membership-change.ts";
import { ReceiptsService } from "./rooms/receipts.service.ts";
import { RoomLocks } from "./rooms/room-lock.ts";
import { roomsRoutes } from "./rooms/rooms.routes.ts";
import { RoomsService } from "./rooms/rooms.service.ts";
import { UnreadCounter } from "./rooms/unread.ts";
import { usersRoutes } from "./rooms/users.routes.ts";
import { createStore } from "./store/store.factory.ts";
import { syncRoutes } from "./sync/sync.routes.ts";
import { SyncService } from "./sync/sync.service.ts";

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
  const queueConn = createRedis(config.REDIS_URL, "api", "chat-api-queue");
  for (const [name, conn] of Object.entries({ redis, pub, sub, queueConn })) {
    conn.on("error", (err) => logger.warn({ conn: name, err: err.message }, "redis connection error"));
  }
  const store = createStore(config, logger);
  const verifier = new TokenVerifier({
    key: config.jwt,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
  });

  const server = createServer();
  const io = createSocketServer({
    pub,
    sub,
    adapterKey: keys.socketKey,
    verifier,
    store,
    logger,
    corsOrigins: config.CORS_ORIGINS,
  });
  const members = new MembershipCache(redis, keys, store, config.MEMBERSHIP_CACHE_TTL_S);
  const limits = new RateLimits(redis, keys, {
    sendPerS: config.SEND_RATE_PER_S,
    messageOpsPerS: config.MESSAGE_OPS_RATE_PER_S,
    roomCreatesPerMin: config.ROOM_CREATES_PER_MIN,
    memberAddsPerMin: config.MEMBER_ADDS_PER_MIN,
    typingPerS: config.TYPING_RATE_PER_S,
    mediaUploadsPerMin: config.MEDIA_UPLOADS_PER_MIN,
  });
  const roomEvents = new SocketRoomEvents(io, logger);
  const counters = new RoomCounters(redis, keys, store);
  const membershipJobs = new JobProducer(persistQueue, queueConn, keys.bullPrefix);
  const membershipChange = new MembershipChange(membershipJobs, members, logger);
  const blocks = new BlocksService(store, membershipChange);
  const pending = new PendingRepository(redis, keys, config.IDEMPOTENCY_TTL_S);
  watchBacklog(pending);
  const media = createMediaStorage(config);
  const mediaViews = new MediaViews(store, media.storage, config.MEDIA_URL_TTL_S);
  const localFiles = media.local && media.signer ? localFilesRoutes(media.local, media.signer) : null;
  const reader = new MessageReader(store, pending, mediaViews);
  const rooms = new RoomsService({
    store,
    members,
    events: roomEvents,
    config: { maxGroupMembers: config.GROUP_MAX_MEMBERS },
    unread: new UnreadCounter(redis, keys, store),
    counters,
    blocks,
    limits,
    media: reader,
  });
  const notifyJobs = new NotifyJobs(queueConn, keys.bullPrefix);
  const receipts = new ReceiptsService({ store, members, counters, events: roomEvents, notify: notifyJobs });

  const persist = new PersistProducer(queueConn, keys.bullPrefix, {
    maxDelayMs: config.PERSIST_BATCH_MS,
    maxMessages: config.PERSIST_BATCH_MAX,
    minIntervalMs: config.PERSIST_JOB_INTERVAL_MS,
  });
  const mediaJobs = new MediaJobs(queueConn, keys.bullPrefix);
  const fanoutJobs = new FanoutJobs(queueConn, keys.bullPrefix);
  const mediaService = new MediaService({
    store,
    storage: media.storage,
    jobs: mediaJobs,
    views: mediaViews,
    reader,
    limits,
    config: {
      maxBytes: {
        image: config.MEDIA_MAX_IMAGE_BYTES,
        video: config.MEDIA_MAX_VIDEO_BYTES,
        audio: config.MEDIA_MAX_AUDIO_BYTES,
        file: config.MEDIA_MAX_FILE_BYTES,
      },
      uploadTtlS: config.MEDIA_UPLOAD_URL_TTL_S,
      pendingMaxBytes: config.MEDIA_PENDING_MAX_BYTES,
    },
  });
  const backlog = { maxMessages: config.PENDING_MAX_MESSAGES, maxBytes: config.PENDING_MAX_BYTES };
  const messageEvents = new SocketMessageEvents(io);
  const messageOps = new MessageOpsService({
    store,
    members,
    reader,
    ops: new MessageOpsRepository(redis, keys, counters, backlog),
    persist,
    events: messageEvents,
    config: {
      editWindowS: config.EDIT_WINDOW_S,
      deleteWindowS: config.DELETE_WINDOW_S,
      maxTextChars: config.MESSAGE_MAX_CHARS,
    },
    limits,
  });
  const messages = new MessagesService({
    store,
    members,
    accept: new AcceptRepository(redis, keys, backlog),
    counters,
    reader,
    persist,
    events: messageEvents,
    config: { maxTextChars: config.MESSAGE_MAX_CHARS, maxMentions: config.MESSAGE_MAX_MENTIONS },
    limits,
    media: mediaService,
  });
  const devices = new DevicesService(store, new SocketDeviceEvents(io), config.DEVICES_MAX_PER_USER);
  const typing = new Typing(io, members, limits, {
    expireMs: config.TYPING_EXPIRE_MS,
    throttleMs: Math.min(2000, Math.floor(config.TYPING_EXPIRE_MS / 3)),
  });
  const groups = new GroupsService({
    store,
    members,
    change: membershipChange,
    counters,
    messages,
    events: roomEvents,
    view: (user, roomId) => rooms.get(user, roomId),
    config: { maxGroupMembers: config.GROUP_MAX_MEMBERS },
    blocks,
    locks: new RoomLocks(redis, keys),
    limits,
    media: mediaService,
  });
  const presence = new Presence({
    io,
    redis,
    keys,
    store,
    config: { ttlMs: config.PRESENCE_TTL_MS, heartbeatMs: config.PRESENCE_HEARTBEAT_MS },
    logger,
  });
  presence.start();
  const sync = new SyncService({ store, devices, counters, pending, reader, rooms });
  registerSocketHandlers(io, { messages, receipts, typing, presence, sync, logger });

  let closing: Promise<void> | undefined;
  const auth = authenticate(verifier);
  const app = createHttpApp({
    isClosing: () => closing !== undefined,
    logger,
    trustProxy: config.TRUST_PROXY,
    requestLogging: config.HTTP_REQUEST_LOG,
    corsOrigins: config.CORS_ORIGINS,
    root: [
      healthRoutes([redis, queueConn], store),
      openApiRoutes(),
      metricsRoutes(auth),
      ...(localFiles ? [localFiles.router] : []),
      bullBoardRoutes(
        [membershipJobs.queue, mediaJobs.queue, fanoutJobs.queue, notifyJobs.queue],
        verifier,
        config.publicUrl.startsWith("https:"),
      ),
    ],
    chat: [
      roomsRoutes(rooms, receipts, groups),
      messagesRoutes(
        messages,
        messageOps,
        new SearchService(store, members, reader),
        new StarsService(store, members, reader),
        new ForwardService({ members, reader, jobs: fanoutJobs, limits }),
      ),
      usersRoutes(blocks, presence),
      mediaRoutes(mediaService),
      devicesRoutes(devices),
      syncRoutes(sync),
    ],
    authenticate: auth,
  });
  server.on("request", app);
  // After Express: engine.io wraps the request listeners and alone answers /socket.io/.
  io.attach(server);

  // Under PM2 cluster mode one port answers for whichever instance: each instance also serves
  // its own metrics on a port of its own, so a scrape sees every one.
  const instance = Number(process.env.NODE_APP_INSTANCE ?? 0) || 0;
  const ownMetrics =
    config.METRICS_PORT > 0
      ? await serveMetrics({
          host: config.METRICS_HOST,
          port: config.METRICS_PORT + API_METRICS_OFFSET + instance,
          verifier,
          logger,
        })
      : null;
  // Production refuses a Redis that may lose or evict accepted work; development warns.
  if (config.NODE_ENV === "production") await requireDurableRedis(redis, true, (m) => logger.warn(m));
  else void requireDurableRedis(redis, false, (m) => logger.warn(m));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.PORT, config.HOST, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ port, store: config.STORE, prefix: config.REDIS_PREFIX }, "api listening");

  return {
    server,
    io,
    logger,
    port: () => port,
    close: () => {
      closing ??= (async () => {
        // Stop taking connections and let in-flight requests finish (each answers only once its
        // message's job is stored), then flush what is left and disconnect.
        presence.stop();
        await ownMetrics?.close();
        localFiles?.abortUploads();
        const stopped = new Promise<void>((resolve) => io.close(() => resolve()));
        server.closeIdleConnections();
        await stopped;
        await persist.close();
        await membershipJobs.close();
        await mediaJobs.close();
        await fanoutJobs.close();
        await notifyJobs.close();
        await Promise.allSettled([redis.quit(), pub.quit(), sub.quit(), queueConn.quit()]);
        await store.close();
      })();
      return closing;
    },
  };
}
