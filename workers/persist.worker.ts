import type { Config } from "../src/config/config.ts";
import { MembershipCache } from "../src/membership/membership.cache.ts";
import { BacklogGauge } from "../src/messages/backlog.gauge.ts";
import { MessageOpsRepository } from "../src/messages/ops.repository.ts";
import { PendingRepository } from "../src/messages/pending.repository.ts";
import { persistQueue } from "../src/messages/persist.queue.ts";
import { PersistMessages } from "../src/messages/persist-messages.usecase.ts";
import { RoomCounters } from "../src/messages/room-counters.repository.ts";
import { workerEvents } from "../src/messages/worker.events.ts";
import { NotifyJobs } from "../src/notify/notify.queue.ts";
import type { Logger } from "../src/observability/logger.ts";
import { createRedis, Keys } from "../src/redis/redis.ts";
import { RedisErrorLog } from "../src/redis/redis-errors.ts";
import { createStore } from "../src/store/store.factory.ts";
import { type RunningPool, startPool } from "./pool.ts";

/**
 * The persist pool: writes group-committed batches, and every few seconds persists pending
 * messages and ops whose job was never stored (an API died between accept and enqueue).
 */
export async function startPersistPool(config: Config, logger: Logger): Promise<RunningPool> {
  const keys = new Keys(config.REDIS_PREFIX);
  const redis = createRedis(config.redis, "worker", "chat-persist");
  const redisErrors = new RedisErrorLog(logger, config.redis);
  redisErrors.watch({ redis });
  const broadcast = workerEvents(config.redis, redis, keys.socketKey);
  const store = await createStore(config, logger);
  const pending = new PendingRepository(redis, keys, config.IDEMPOTENCY_TTL_S);
  const members = new MembershipCache(redis, keys, store, config.MEMBERSHIP_CACHE_TTL_S);
  const notify = new NotifyJobs(redis, keys);
  redisErrors.watch({ notifyQueue: notify.queue });
  const useCase = new PersistMessages({
    notify,
    store,
    pending,
    ops: new MessageOpsRepository(
      redis,
      keys,
      new RoomCounters(redis, keys, store),
      new BacklogGauge(redis, keys, {
        maxMessages: config.PENDING_MAX_MESSAGES,
        maxBytes: config.PENDING_MAX_BYTES,
      }),
    ),
    events: broadcast.events,
    logger,
  });

  return startPool(
    {
      pool: "persist",
      queue: persistQueue,
      handlers: {
        "persist-batch": (batch) => useCase.run(batch),
        "membership-invalidate": ({ room_id }) => members.invalidate(room_id),
        "pending-rescue": async () => {
          const stale = await pending.stale(config.PENDING_RESCUE_AFTER_S * 1000, config.PENDING_RESCUE_MAX);
          if (stale.messages.length + stale.ops.length === 0) return { rescued: 0 };
          logger.warn(
            { messages: stale.messages.length, ops: stale.ops.length },
            "persisting orphaned pending work",
          );
          return await useCase.run(stale);
        },
      },
      schedulers: [{ id: "pending-rescue", everyMs: config.PENDING_RESCUE_EVERY_MS, job: "pending-rescue" }],
      onClose: async () => {
        await notify.close();
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
