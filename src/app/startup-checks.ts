import type { Platform } from "../platform/platform.ts";
import { durabilityPolicy, masters, requireDurableRedis } from "../redis/redis.ts";

/**
 * What the API checks at start. Production refuses a Redis that may lose or evict accepted
 * work; development warns. With REDIS_WAIT_REPLICAS, every send would answer 503 until enough
 * replicas are connected: say so at start.
 */
export async function apiStartupChecks(p: Platform): Promise<void> {
  const { config, logger, redis } = p;
  const durability = durabilityPolicy(config);
  if (durability.production) await requireDurableRedis(redis, durability, (m) => logger.warn(m));
  else void requireDurableRedis(redis, durability, (m) => logger.warn(m));
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
}
