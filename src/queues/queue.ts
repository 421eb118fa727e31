import { type JobsOptions, Queue } from "bullmq";
import type { z } from "zod";
import type { Keys, RedisClient } from "../redis/redis.ts";

/**
 * A queue: its name, the schema of each job's payload, and the options its jobs get. Producers
 * (API processes, other pools) and the pool that works it (src/app/pool.ts) share this one
 * definition, so a payload is checked against the same schema on both sides.
 */
export type QueueDefinition<Jobs extends Record<string, z.ZodType>> = {
  /** The queue's name; BullMQ keys live under `<REDIS_PREFIX>:bull:<name>`. */
  name: string;
  /** Job name to payload schema; the pool must handle each, and only these. */
  jobs: Jobs;
  /**
   * Default options of every job: attempts, backoff (the pool's strategy), retention. Retries
   * of transient failures are unbounded with a capped delay: a job that holds acknowledged
   * work is never failed for an outage (invariant 1).
   */
  jobOptions: JobsOptions;
};

export type JobName<Jobs> = Extract<keyof Jobs, string>;
export type JobData<Jobs extends Record<string, z.ZodType>, N extends keyof Jobs> = z.infer<Jobs[N]>;

/**
 * "For ever" for BullMQ's attempts: with the capped backoff a billion attempts outlast any
 * outage. (BullMQ's Lua side keeps numbers as doubles: MAX_SAFE_INTEGER would not round-trip.)
 */
export const UNBOUNDED_ATTEMPTS = 1_000_000_000;

/** Finished jobs keep nothing (Redis memory per message); failed ones stay a week for operators. */
const RETENTION: Pick<JobsOptions, "removeOnComplete" | "removeOnFail"> = {
  removeOnComplete: true,
  removeOnFail: { age: 7 * 86_400 },
};

/** The custom backoff type every pool registers (src/app/pool.ts): exponential, capped. */
export const BACKOFF_TYPE = "capped-exponential";

/** The job options of every queue: retried for ever with the pool's capped backoff, finished jobs not kept. */
export const RETRIED_FOR_EVER: JobsOptions = {
  attempts: UNBOUNDED_ATTEMPTS,
  backoff: { type: BACKOFF_TYPE },
  ...RETENTION,
};

/** A plain producer: checks the payload against its schema, then adds the job. */
export class JobProducer<Jobs extends Record<string, z.ZodType>> {
  readonly queue: Queue;
  readonly #def: QueueDefinition<Jobs>;

  /** The queue's keys are under its own hash-tagged prefix (Keys.bullPrefix). */
  constructor(def: QueueDefinition<Jobs>, connection: RedisClient, keys: Keys) {
    this.#def = def;
    this.queue = new Queue(def.name, { connection, prefix: keys.bullPrefix(def.name) });
  }

  /**
   * Adds a job. `jobId` makes the add idempotent (BullMQ ignores a second add with the same id
   * while the first is kept): derive it from what the job is about, never with ":".
   */
  async add<N extends JobName<Jobs>>(
    name: N,
    data: JobData<Jobs, N>,
    jobId?: string,
    extra: Pick<JobsOptions, "delay"> = {},
  ): Promise<void> {
    const schema = this.#def.jobs[name];
    if (!schema) throw new Error(`queue ${this.#def.name} has no job ${name}`);
    schema.parse(data);
    await this.queue.add(name, data, { ...this.#def.jobOptions, ...extra, ...(jobId ? { jobId } : {}) });
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
