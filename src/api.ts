import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { BoardSessions } from "./admin/admin-auth.ts";
import { bullBoardRoutes } from "./admin/bull-board.routes.ts";
import { authenticate } from "./auth/auth.middleware.ts";
import { TokenVerifier } from "./auth/jwt.ts";
import type { Config } from "./config/config.ts";
import { demoLoginRoutes } from "./demo-login/demo-login.routes.ts";
import { DemoLogin } from "./demo-login/demo-login.service.ts";
import { SocketDeviceEvents } from "./devices/device.events.ts";
import { devicesRoutes } from "./devices/devices.routes.ts";
import { DevicesService } from "./devices/devices.service.ts";
import { FanoutJobs } from "./fanout/fanout.queue.ts";
import { healthRoutes } from "./http/health.routes.ts";
import { createHttpApp } from "./http/http.app.ts";
import { metricsRoutes } from "./http/metrics.routes.ts";
import { openApiRoutes } from "./http/openapi.routes.ts";
import { MediaJobs } from "./media/media.queue.ts";
import { mediaRoutes } from "./media/media.routes.ts";
import { MediaService } from "./media/media.service.ts";
import { MediaViews } from "./media/media.views.ts";
import { localFilesRoutes } from "./media-storage/local-files.routes.ts";
import { createMediaStorage } from "./media-storage/storage.factory.ts";
import { MembershipCache } from "./membership/membership.cache.ts";
import { MembershipChange } from "./membership/membership-change.ts";
import { RoomLocks } from "./membership/room-lock.ts";
import { AcceptRepository } from "./messages/accept.repository.ts";
import { BacklogGauge } from "./messages/backlog.gauge.ts";
import { ForwardService } from "./messages/forward.service.ts";
import { SocketMessageEvents } from "./messages/message.events.ts";
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
import { Presence } from "./presence/presence.ts";
import { Typing } from "./presence/typing.ts";
import { JobProducer } from "./queues/queue.ts";
import { RateLimits } from "./rate-limits/rate-limits.ts";
import { adapterReady, roomsReady } from "./realtime/adapter.ts";
import { registerSocketHandlers } from "./realtime/socket.handlers.ts";
import { type ChatServer, createSocketServer } from "./realtime/socket.server.ts";
import { createRedis, durabilityPolicy, Keys, masters, requireDurableRedis } from "./redis/redis.ts";
import { RedisErrorLog } from "./redis/redis-errors.ts";
import { ReplicaWait } from "./redis/replica-wait.ts";
import { BlocksService } from "./rooms/blocks.service.ts";
import { GroupsService } from "./rooms/groups.service.ts";
import { ReceiptsService } from "./rooms/receipts.service.ts";
import { SocketRoomEvents } from "./rooms/room.events.ts";
import { roomsRoutes } from "./rooms/rooms.routes.ts";
import { RoomsService } from "./rooms/rooms.service.ts";
import { UnreadCounter } from "./rooms/unread.ts";
import { usersRoutes } from "./rooms/users.routes.ts";
import { createStore } from "./store/store.factory.ts";
import { syncRoutes } from "./sync/sync.routes.ts";
import { SyncService } from "./sync/sync.service.ts";
import { webClientCsp } from "./web/web-client.csp.ts";
import { webClientRoutes } from "./web/web-client.routes.ts";

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
  const redis = createRedis(config.redis, "api", "chat-api");
  const pub = createRedis(config.redis, "subscriber", "chat-api-pub");
  const sub = createRedis(config.redis, "subscriber", "chat-api-sub");
  const queueConn = createRedis(config.redis, "api", "chat-api-queue");
  // Every connection's and queue's errors: one throttled line while Redis is away.
  const redisErrors = new RedisErrorLog(logger, config.redis);
  redisErrors.watch({ redis, pub, sub, queueConn });
  const store = await createStore(config, logger);
  const verifier = new TokenVerifier({
    key: config.jwt,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
  });

  const server = createServer();
  const ready = roomsReady(sub, keys.socketKey, config.redis.clusterNodes !== null);
  const io = createSocketServer({
    pub,
    sub,
    adapterKey: keys.socketKey,
    cluster: config.redis.clusterNodes !== null,
    roomsReady: ready,
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
    demoLoginsPerMin: config.DEMO_LOGINS_PER_MIN,
  });
  const roomEvents = new SocketRoomEvents(io, logger, ready);
  const counters = new RoomCounters(redis, keys, store);
  const membershipJobs = new JobProducer(persistQueue, queueConn, keys);
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
  const notifyJobs = new NotifyJobs(queueConn, keys);
  const receipts = new ReceiptsService({ store, members, counters, events: roomEvents, notify: notifyJobs });

  const persist = new PersistProducer(queueConn, keys, {
    maxDelayMs: config.PERSIST_BATCH_MS,
    maxMessages: config.PERSIST_BATCH_MAX,
    minIntervalMs: config.PERSIST_JOB_INTERVAL_MS,
  });
  const mediaJobs = new MediaJobs(queueConn, keys);
  const fanoutJobs = new FanoutJobs(queueConn, keys);
  const mediaService = new MediaService({
    store,
    storage: media.storage,
    jobs: mediaJobs,
    views: mediaViews,
    reader,
    limits,
    // Groups are built further down (they check avatars through this service).
    avatars: { mediaDeleted: (mediaId, actorId) => groups.mediaDeleted(mediaId, actorId) },
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
  // WAIT blocks its connection: the replica waits get one of their own (replica-wait.ts).
  const waitConn = config.REDIS_WAIT_REPLICAS > 0 ? createRedis(config.redis, "api", "chat-api-wait") : null;
  if (waitConn) redisErrors.watch({ waitConn });
  const replication = new ReplicaWait({
    conn: waitConn,
    keys,
    replicas: config.REDIS_WAIT_REPLICAS,
    timeoutMs: config.REDIS_WAIT_TIMEOUT_MS,
  });
  redisErrors.watch({
    persistQueue: persist.queue,
    membershipQueue: membershipJobs.queue,
    mediaQueue: mediaJobs.queue,
    fanoutQueue: fanoutJobs.queue,
    notifyQueue: notifyJobs.queue,
  });
  const backlog = { maxMessages: config.PENDING_MAX_MESSAGES, maxBytes: config.PENDING_MAX_BYTES };
  // One gauge for messages and ops: it reads every bucket\'s counts, once per refresh.
  const gauge = new BacklogGauge(redis, keys, backlog);
  const messageEvents = new SocketMessageEvents(io);
  const messageOps = new MessageOpsService({
    store,
    members,
    reader,
    ops: new MessageOpsRepository(redis, keys, counters, gauge),
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
    accept: new AcceptRepository(redis, keys, gauge),
    counters,
    reader,
    persist,
    events: messageEvents,
    config: { maxTextChars: config.MESSAGE_MAX_CHARS, maxMentions: config.MESSAGE_MAX_MENTIONS },
    limits,
    media: mediaService,
    replication,
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
  const demo =
    config.demoLogin && config.jwt.kind === "secret"
      ? demoLoginRoutes(
          new DemoLogin(config.jwt.secret, { issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE }),
          limits,
        )
      : null;
  if (demo) {
    logger.warn(
      "DEMO_LOGIN is on: anyone who reaches this API can sign in as any user (POST /api/v1/demo/token); set JWT_SECRET or DEMO_LOGIN=false to turn it off",
    );
  }
  const webClient = webClientRoutes(webClientCsp(config));
  if (!webClient) logger.warn("the web client is not built (npm run build:web): / serves nothing");
  const app = createHttpApp({
    isClosing: () => closing !== undefined,
    logger,
    trustProxy: config.TRUST_PROXY,
    requestLogging: config.HTTP_REQUEST_LOG,
    corsOrigins: config.CORS_ORIGINS,
    root: [
      healthRoutes([redis, queueConn], store, () => redisErrors.outage),
      openApiRoutes(),
      ...(demo ? [demo] : []),
      ...(webClient ? [webClient] : []),
      metricsRoutes(auth),
      ...(localFiles ? [localFiles.router] : []),
      bullBoardRoutes(
        [membershipJobs.queue, mediaJobs.queue, fanoutJobs.queue, notifyJobs.queue],
        verifier,
        new BoardSessions(redis, keys),
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
  await adapterReady(
    sub,
    keys.socketKey,
    (io.of("/").adapter as { uid?: string }).uid,
    config.redis.clusterNodes !== null,
  );

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
  const durability = durabilityPolicy(config);
  if (durability.production) await requireDurableRedis(redis, durability, (m) => logger.warn(m));
  else void requireDurableRedis(redis, durability, (m) => logger.warn(m));
  // Every send would answer 503 until enough replicas are connected: say so at start.
  if (config.REDIS_WAIT_REPLICAS > 0) {
    void Promise.all(
      masters(redis).map(async (m) =>
        Number(/connected_slaves:(\d+)/.exec(await m.info("replication"))?.[1] ?? 0),
      ),
    ).then(
      (counts) => {
        if (counts.some((c) => c < config.REDIS_WAIT_REPLICAS)) {
          logger.warn(
            { replicas: counts, required: config.REDIS_WAIT_REPLICAS },
            "REDIS_WAIT_REPLICAS: a Redis master has fewer replicas than required; sends answer 503 until they connect",
          );
        }
      },
      () => {},
    );
  }
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
        // Redis away: nothing can be flushed to it, and every close below would wait for it.
        const away = redisErrors.outage !== null;
        if (away) for (const c of [redis, pub, sub, queueConn, waitConn]) c?.disconnect();
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
        await Promise.allSettled([
          ...(away ? [] : [redis.quit(), pub.quit(), sub.quit(), queueConn.quit()]),
          replication.close(),
        ]);
        await store.close();
      })();
      return closing;
    },
  };
}
