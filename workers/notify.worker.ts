import type { Config } from "../src/config/config.ts";
import { MessageReader } from "../src/messages/message.reader.ts";
import { PendingRepository } from "../src/messages/pending.repository.ts";
import { notifyQueue } from "../src/notify/notify.queue.ts";
import { NotifyUseCase } from "../src/notify/notify.usecase.ts";
import { createPushProvider } from "../src/notify/providers/provider.factory.ts";
import type { Logger } from "../src/observability/logger.ts";
import { createRedis, Keys } from "../src/redis/redis.ts";
import { RedisErrorLog } from "../src/redis/redis-errors.ts";
import { createStore } from "../src/store/store.factory.ts";
import { type RunningPool, startPool } from "./pool.ts";

/** The notify pool: pushes for stored messages, and silent pushes that clear read rooms. */
export async function startNotifyPool(config: Config, logger: Logger): Promise<RunningPool> {
  const keys = new Keys(config.REDIS_PREFIX);
  const redis = createRedis(config.redis, "worker", "chat-notify");
  const redisErrors = new RedisErrorLog(logger, config.redis);
  redisErrors.watch({ redis });
  const store = await createStore(config, logger);
  const provider = createPushProvider(config, logger);
  const reader = new MessageReader(store, new PendingRepository(redis, keys, config.IDEMPOTENCY_TTL_S));
  const useCase = new NotifyUseCase({ store, redis, keys, provider, logger, reader });

  return startPool(
    {
      pool: "notify",
      queue: notifyQueue,
      handlers: {
        "notify-messages": ({ message_ids }) => useCase.messageIds(message_ids),
        "clear-room": ({ user_id, room_id, read_seq }) => useCase.clearRoom(user_id, room_id, read_seq),
      },
      onClose: async () => {
        await provider.close();
        await redis.quit().catch(() => {});
        await store.close();
      },
    },
    config,
    logger,
    redisErrors,
  );
}
