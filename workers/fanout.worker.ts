import type { Config } from "../src/config/config.ts";
import { fanoutQueue } from "../src/fanout/fanout.queue.ts";
import { MediaViews } from "../src/media/media.views.ts";
import { createMediaStorage } from "../src/media-storage/storage.factory.ts";
import { MembershipCache } from "../src/membership/membership.cache.ts";
import { AcceptRepository } from "../src/messages/accept.repository.ts";
import { BacklogGauge } from "../src/messages/backlog.gauge.ts";
import { ForwardMessages } from "../src/messages/forward-messages.usecase.ts";
import { MessageReader } from "../src/messages/message.reader.ts";
import { MessagesService } from "../src/messages/messages.service.ts";
import { PendingRepository } from "../src/messages/pending.repository.ts";
import { PersistProducer } from "../src/messages/persist.queue.ts";
import { RoomCounters } from "../src/messages/room-counters.repository.ts";
import { workerEvents } from "../src/messages/worker.events.ts";
import type { Logger } from "../src/observability/logger.ts";
import { createRedis, Keys } from "../src/redis/redis.ts";
import { RedisErrorLog } from "../src/redis/redis-errors.ts";
import { createStore } from "../src/store/store.factory.ts";
import { type RunningPool, startPool } from "./pool.ts";

/** The fanout pool: forwards, one normal message per target room (accept, broadcast, persist). */
export async function startFanoutPool(config: Config, logger: Logger): Promise<RunningPool> {
  const keys = new Keys(config.REDIS_PREFIX);
  const redis = createRedis(config.redis, "worker", "chat-fanout");
  const redisErrors = new RedisErrorLog(logger, config.redis);
  redisErrors.watch({ redis });
  const broadcast = workerEvents(config.redis, redis, keys.socketKey);
  const store = await createStore(config, logger);
  const pending = new PendingRepository(redis, keys, config.IDEMPOTENCY_TTL_S);
  const persist = new PersistProducer(redis, keys, {
    maxDelayMs: config.PERSIST_BATCH_MS,
    maxMessages: config.PERSIST_BATCH_MAX,
    minIntervalMs: config.PERSIST_JOB_INTERVAL_MS,
  });
  redisErrors.watch({ persistQueue: persist.queue });
  const backlog = { maxMessages: config.PENDING_MAX_MESSAGES, maxBytes: config.PENDING_MAX_BYTES };
  const members = new MembershipCache(redis, keys, store, config.MEMBERSHIP_CACHE_TTL_S);
  const reader = new MessageReader(
    store,
    pending,
    new MediaViews(store, createMediaStorage(config).storage, config.MEDIA_URL_TTL_S),
  );
  const messages = new MessagesService({
    store,
    members,
    accept: new AcceptRepository(redis, keys, new BacklogGauge(redis, keys, backlog)),
    counters: new RoomCounters(redis, keys, store),
    reader,
    persist,
    events: broadcast.events,
    config: { maxTextChars: config.MESSAGE_MAX_CHARS, maxMentions: config.MESSAGE_MAX_MENTIONS },
    // A copy reuses the source's media: it is linked to the copy, never checked for ownership.
    media: {
      attachable: async () => {
        throw new Error("copies are never checked as uploads");
      },
      link: (mediaId, roomId, messageId) =>
        store.linkMedia([{ media_id: mediaId, room_id: roomId, message_id: messageId }]),
    },
  });
  const forward = new ForwardMessages({ messages, reader, members, logger });

  return startPool(
    {
      pool: "fanout",
      queue: fanoutQueue,
      handlers: { forward: (job) => forward.run(job) },
      onClose: async () => {
        await persist.close();
        await broadcast.close();
        await redis.quit().catch(() => {});
        await store.close();
      },
    },
    config,
    logger,
    redisErrors,
  );
}
