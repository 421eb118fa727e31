import { type Job, Queue, UnrecoverableError, Worker } from "bullmq";
import type { Config } from "../src/config/config.ts";
import { PendingRepository } from "../src/messages/pending.repository.ts";
import {
  PERSIST_QUEUE,
  PersistJob,
  persistBatchSchema,
  rescueJobSchema,
} from "../src/messages/persist.queue.ts";
import { PersistMessages } from "../src/messages/persist-messages.usecase.ts";
import type { Logger } from "../src/observability/logger.ts";
import { WorkerEvents } from "../src/realtime/emitter.ts";
import { createRedis, Keys } from "../src/redis/redis.ts";
import { createStore } from "../src/store/store.factory.ts";
import type { RunningPool } from "./pools.ts";

const RESCUE_EVERY_MS = 10_000;
const RESCUE_MAX = 5_000;

/**
 * The persist pool: writes group-committed batches, and every few seconds persists pending
 * messages whose job was never stored (an API died between accept and enqueue).
 */
export async function startPersistPool(config: Config, logger: Logger): Promise<RunningPool> {
  const keys = new Keys(config.REDIS_PREFIX);
  const connection = createRedis(config.REDIS_URL, "blocking", "chat-persist-worker");
  const redis = createRedis(config.REDIS_URL, "worker", "chat-persist");
  for (const conn of [connection, redis]) {
    conn.on("error", (err) => logger.warn({ err: err.message }, "redis connection error"));
  }
  const store = createStore(config, logger);
  const pending = new PendingRepository(redis, keys, config.IDEMPOTENCY_TTL_S);
  const useCase = new PersistMessages(store, pending, new WorkerEvents(redis, keys.socketKey), logger);

  const handlers: Record<string, (job: Job) => Promise<unknown>> = {
    [PersistJob.batch]: async (job) => {
      const { messages } = persistBatchSchema.parse(job.data);
      try {
        return await useCase.run(messages);
      } catch (err) {
        // Last attempt: take the messages back so clients drop them, then let the job fail visibly.
        if (job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) {
          await useCase.rollback(messages, "persistence_failed");
        }
        throw err;
      }
    },
    [PersistJob.rescue]: async (job) => {
      rescueJobSchema.parse(job.data);
      const stale = await pending.stale(config.PENDING_RESCUE_AFTER_S * 1000, RESCUE_MAX);
      if (stale.length === 0) return { rescued: 0 };
      logger.warn({ count: stale.length }, "persisting orphaned pending messages");
      return await useCase.run(stale);
    },
  };

  // Boot check: every job name of the queue has exactly one handler.
  const missing = Object.values(PersistJob).filter((name) => !handlers[name]);
  if (missing.length > 0) throw new Error(`persist pool has no handler for ${missing.join(", ")}`);

  const worker = new Worker(
    PERSIST_QUEUE,
    async (job) => {
      const handler = handlers[job.name];
      if (!handler) throw new UnrecoverableError(`no handler for job ${job.name}`);
      return handler(job);
    },
    {
      connection,
      prefix: keys.bullPrefix,
      concurrency: config.PERSIST_CONCURRENCY,
      // A killed worker's job is back within lock + stalled interval (8 s + 4 s by default).
      lockDuration: config.PERSIST_LOCK_MS,
      stalledInterval: config.PERSIST_STALLED_INTERVAL_MS,
      // A stalled batch is retried, never failed for stalling: it holds acknowledged messages.
      maxStalledCount: 1000,
    },
  );
  worker.on("failed", (job, err) =>
    logger.error({ job: job?.id, attempts: job?.attemptsMade, err: err.message }, "persist job failed"),
  );
  worker.on("error", (err) => logger.error({ err: err.message }, "persist worker error"));

  await worker.waitUntilReady();
  const scheduler = new Queue(PERSIST_QUEUE, { connection: redis, prefix: keys.bullPrefix });
  await scheduler.upsertJobScheduler(
    "pending-rescue",
    { every: RESCUE_EVERY_MS },
    { name: PersistJob.rescue, data: {} },
  );
  logger.info({ concurrency: config.PERSIST_CONCURRENCY }, "persist pool ready");

  return {
    close: async () => {
      await worker.close();
      await scheduler.close();
      await Promise.allSettled([connection.quit(), redis.quit()]);
      await store.close();
    },
  };
}
