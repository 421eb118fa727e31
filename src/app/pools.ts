import type { z } from "zod";
import type { Config } from "../config/config.ts";
import { fanoutQueue } from "../fanout/fanout.queue.ts";
import { mediaQueue } from "../media/media.queue.ts";
import { persistQueue } from "../messages/persist.queue.ts";
import { notifyQueue } from "../notify/notify.queue.ts";
import type { Logger } from "../observability/logger.ts";
import { Platform } from "../platform/platform.ts";
import type { PoolName } from "../queues/pools.ts";
import { workerBroadcaster } from "../realtime/adapter.ts";
import { type CoreFeatures, coreFeatures } from "./features.ts";
import { type PoolSpec, type RunningPool, startPool } from "./pool.ts";

type Spec = PoolSpec<Record<string, z.ZodType>>;

/** Keeps each entry's handlers checked against its own queue's jobs (a missing or extra job is a type error). */
const pool = <Jobs extends Record<string, z.ZodType>>(spec: PoolSpec<Jobs>) => spec as unknown as Spec;

/**
 * Every pool: its queue and the features' handlers for that queue's jobs. A new pool is one
 * entry here (plus the deploy lists); a new job is its feature's handler and one line here.
 * startPool checks again at boot that every job has exactly one handler.
 */
const POOL_REGISTRY: Record<PoolName, (core: CoreFeatures, config: Config) => Spec> = {
  persist: ({ messages }, config) =>
    pool({
      pool: "persist",
      queue: persistQueue,
      handlers: messages.persistJobs(),
      schedulers: [{ id: "pending-rescue", everyMs: config.PENDING_RESCUE_EVERY_MS, job: "pending-rescue" }],
    }),
  media: ({ media, messages }) =>
    pool({
      pool: "media",
      queue: mediaQueue,
      handlers: media.mediaJobs(messages.mediaUpdates()),
      schedulers: [{ id: "media-sweep-temporary", everyMs: 600_000, job: "sweep-temporary" }],
    }),
  fanout: ({ messages, membership }) =>
    pool({
      pool: "fanout",
      queue: fanoutQueue,
      handlers: { ...messages.fanoutJobs(), ...membership.fanoutJobs },
    }),
  notify: ({ notify, messages }) =>
    pool({ pool: "notify", queue: notifyQueue, handlers: notify.notifyJobs(messages.reader) }),
};

/** Starts one process of a pool: the platform, the features, the pool's worker. */
export async function startPoolProcess(name: PoolName, config: Config, logger: Logger): Promise<RunningPool> {
  const platform = await Platform.open(config, logger, name);
  try {
    // Workers host no sockets: their events go out through the Socket.IO adapter's channels.
    const { broadcaster, close } = workerBroadcaster(
      platform.redis,
      platform.keys.socketKey,
      config.redis.clusterNodes !== null,
    );
    platform.onClose(close);
    return await startPool(POOL_REGISTRY[name](coreFeatures(platform, broadcaster), config), platform);
  } catch (err) {
    await platform.close().catch(() => {});
    throw err;
  }
}
