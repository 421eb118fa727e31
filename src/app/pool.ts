import { type Job, Queue, UnrecoverableError, Worker } from "bullmq";
import type { z } from "zod";
import { serveMetrics } from "../observability/metrics.server.ts";
import { jobDuration, jobFailures, watchQueue } from "../observability/metrics.ts";
import type { Platform } from "../platform/platform.ts";
import { POOLS, type PoolName } from "../queues/pools.ts";
import {
  BACKOFF_TYPE,
  type JobData,
  type JobName,
  type QueueDefinition,
  UNBOUNDED_ATTEMPTS,
} from "../queues/queue.ts";
import { durabilityPolicy, requireDurableRedis } from "../redis/redis.ts";

export type RunningPool = { close(): Promise<void> };

/** One handler per job of the queue; it gets the parsed payload (the worker only unwraps). */
type Handlers<Jobs extends Record<string, z.ZodType>> = {
  [N in JobName<Jobs>]: (data: JobData<Jobs, N>, job: Job) => Promise<unknown>;
};

type Scheduler<Jobs extends Record<string, z.ZodType>> = {
  id: string;
  everyMs: number;
  job: JobName<Jobs>;
};

export type PoolSpec<Jobs extends Record<string, z.ZodType>> = {
  pool: PoolName;
  queue: QueueDefinition<Jobs>;
  handlers: Handlers<Jobs>;
  /** Periodic jobs (their payload is `{}`), kept by BullMQ's job schedulers: one per id across processes. */
  schedulers?: Scheduler<Jobs>[];
};

/**
 * Starts one process of a pool, the same way for every queue: connections with error logging,
 * a boot check that every job has exactly one handler, payloads parsed before work (a bad
 * payload fails at once, UnrecoverableError; anything else is retried with capped exponential
 * backoff for ever), metrics and logs per job, schedulers, and a close order that lets
 * in-flight jobs finish.
 */
export async function startPool<Jobs extends Record<string, z.ZodType>>(
  spec: PoolSpec<Jobs>,
  /** The process's platform: the pool's connections join its error log and close with it. */
  platform: Platform,
): Promise<RunningPool> {
  const { config, logger, keys, redisErrors } = platform;
  const settings = config.pools[spec.pool];
  const queueName = spec.queue.name;
  const connection = platform.connection("blocking", "worker");
  const schedulerConn = platform.connection("worker", "scheduler");
  await requireDurableRedis(schedulerConn, durabilityPolicy(config), (m) => logger.warn(m));

  const names = Object.keys(spec.queue.jobs);
  const handled = Object.keys(spec.handlers);
  const missing = names.filter((n) => !handled.includes(n));
  const extra = handled.filter((n) => !names.includes(n));
  if (missing.length > 0 || extra.length > 0) {
    throw new Error(
      `${spec.pool} pool: no handler for [${missing.join(", ")}], unknown jobs [${extra.join(", ")}]`,
    );
  }

  const worker = new Worker(
    queueName,
    async (job: Job) => {
      const name = job.name as JobName<Jobs>;
      const schema = spec.queue.jobs[name];
      const handler = spec.handlers[name];
      if (!schema || !handler) throw new UnrecoverableError(`no handler for job ${job.name}`);
      const parsed = schema.safeParse(job.data);
      if (!parsed.success)
        throw new UnrecoverableError(`invalid payload for ${job.name}: ${parsed.error.message}`);
      const end = jobDuration.startTimer({ queue: queueName, job: job.name });
      try {
        const result = await handler(parsed.data as JobData<Jobs, typeof name>, job);
        end({ outcome: "completed" });
        return result;
      } catch (err) {
        end({ outcome: "failed" });
        throw err;
      }
    },
    {
      connection,
      prefix: keys.bullPrefix(queueName),
      concurrency: settings.concurrency,
      lockDuration: settings.lockMs,
      stalledInterval: settings.stalledIntervalMs,
      // A stalled job is retried, never failed for stalling: jobs hold acknowledged work.
      maxStalledCount: UNBOUNDED_ATTEMPTS,
      settings: {
        backoffStrategy: (attemptsMade, type) => {
          if (type !== BACKOFF_TYPE) return 0;
          const exp = settings.retryBaseMs * 2 ** Math.min(30, Math.max(0, attemptsMade - 1));
          return Math.min(settings.retryMaxMs, exp);
        },
      },
    },
  );
  worker.on("failed", (job, err) => {
    if (!job) return;
    jobFailures.inc({ queue: queueName, job: job.name });
    // A job failing attempt after attempt is an outage or a stuck queue: say so louder.
    const level = job.attemptsMade >= 5 ? "error" : "warn";
    logger[level](
      { queue: queueName, job: job.name, job_id: job.id, attempts: job.attemptsMade, err: err.message },
      job.attemptsMade >= 5 ? "job keeps failing; it will be retried" : "job failed; it will be retried",
    );
  });
  redisErrors.watch({ worker }, "error");
  await worker.waitUntilReady();

  const schedulerQueue = new Queue(queueName, {
    connection: schedulerConn,
    prefix: keys.bullPrefix(queueName),
  });
  redisErrors.watch({ schedulerQueue });
  watchQueue(queueName, () =>
    schedulerQueue.getJobCounts("waiting", "active", "delayed", "failed", "completed", "prioritized"),
  );
  const index = POOLS.indexOf(spec.pool);
  const instance = Number(process.env.NODE_APP_INSTANCE ?? 0) || 0;
  const metrics =
    config.METRICS_PORT > 0
      ? await serveMetrics({
          host: config.METRICS_HOST,
          port: config.METRICS_PORT + 10 * index + instance,
          verifier: platform.verifier,
          logger,
        })
      : null;
  for (const s of spec.schedulers ?? []) {
    await schedulerQueue.upsertJobScheduler(
      s.id,
      { every: s.everyMs },
      { name: s.job, data: {}, opts: { attempts: 1, removeOnComplete: true, removeOnFail: { count: 100 } } },
    );
  }
  logger.info({ pool: spec.pool, concurrency: settings.concurrency }, "pool ready");

  return {
    close: async () => {
      await metrics?.close();
      // Redis away: no job can finish (its result goes to Redis) and every close would wait for
      // it. Jobs in hand are dropped; their locks lapse and they run again once Redis is back.
      const away = redisErrors.outage !== null;
      if (away) for (const c of [connection, schedulerConn]) c.disconnect();
      await worker.close(away);
      await schedulerQueue.close();
      // Then what the handlers used: producers, emitters, connections, the store.
      await platform.close();
    },
  };
}
