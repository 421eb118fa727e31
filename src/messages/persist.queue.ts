import { type JobsOptions, Queue } from "bullmq";
import type { Redis } from "ioredis";
import { z } from "zod";
import { newId } from "../ids.ts";
import { persistBatchSize } from "../observability/metrics.ts";
import type { MessageRecord } from "../store/store.ts";
import { messageRecordSchema } from "./messages.schemas.ts";

export const PERSIST_QUEUE = "persist";

/** Job names on the persist queue: a group-committed batch, and the periodic sweep for orphans. */
export const PersistJob = { batch: "persist-batch", rescue: "pending-rescue" } as const;

export const persistBatchSchema = z.object({ messages: z.array(messageRecordSchema).min(1).max(10_000) });
export type PersistBatch = z.infer<typeof persistBatchSchema>;
export const rescueJobSchema = z.object({});

export function persistJobOptions(attempts: number): JobsOptions {
  return {
    attempts,
    backoff: { type: "exponential", delay: 200 },
    removeOnComplete: { age: 3600, count: 1000 },
    // Failures stay in the failed set for operators (Bull Board) for a week.
    removeOnFail: { age: 7 * 86400 },
  };
}

export type GroupCommitOptions = { maxDelayMs: number; maxMessages: number; attempts: number };

type Batch = {
  messages: Map<string, MessageRecord>;
  done: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout | undefined;
};

/**
 * Group commit: accepted messages gather for `maxDelayMs` from the first one (or until the
 * batch is full) and go to Redis as one persist job. A caller's promise settles only once
 * that job is stored, so nothing acknowledged lives only in this process's memory. A fixed
 * window, not "flush when idle": per job the persist pool and Redis pay ~100 µs, so batches
 * of one or two messages would cost more CPU than the window costs latency (bench/README.md).
 */
export class PersistProducer {
  readonly queue: Queue;
  readonly #opts: GroupCommitOptions;
  readonly #jobOpts: JobsOptions;
  #current: Batch | undefined;
  readonly #inFlight = new Set<Promise<void>>();

  constructor(connection: Redis, prefix: string, opts: GroupCommitOptions) {
    this.queue = new Queue(PERSIST_QUEUE, { connection, prefix });
    this.#opts = opts;
    this.#jobOpts = persistJobOptions(opts.attempts);
  }

  /** Resolves once a persist job holding the message is in Redis. */
  enqueue(message: MessageRecord): Promise<void> {
    const batch = this.#current ?? this.#open();
    batch.messages.set(message.id, message);
    if (batch.messages.size >= this.#opts.maxMessages) this.#flush(batch);
    return batch.done;
  }

  #open(): Batch {
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const batch: Batch = { messages: new Map(), done, resolve, reject, timer: undefined };
    batch.timer = setTimeout(() => this.#flush(batch), this.#opts.maxDelayMs);
    this.#current = batch;
    return batch;
  }

  #flush(batch: Batch): void {
    if (this.#current !== batch) return; // already gone out (full before its timer fired)
    this.#current = undefined;
    clearTimeout(batch.timer);
    const messages = [...batch.messages.values()];
    persistBatchSize.observe(messages.length);
    const data: PersistBatch = { messages };
    const p = this.queue
      .add(PersistJob.batch, data, { ...this.#jobOpts, jobId: `b-${newId()}` })
      .then(() => batch.resolve(), batch.reject)
      .finally(() => this.#inFlight.delete(p));
    this.#inFlight.add(p);
  }

  /** Flushes the open batch and waits for every add in flight (graceful shutdown). */
  async drain(): Promise<void> {
    if (this.#current) this.#flush(this.#current);
    await Promise.allSettled([...this.#inFlight]);
  }

  async close(): Promise<void> {
    await this.drain();
    await this.queue.close();
  }
}
