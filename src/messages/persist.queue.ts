import { z } from "zod";
import { newId } from "../kernel/ids.ts";
import { persistBatchSize } from "../observability/metrics.ts";
import { type JobProducer, type QueueDefinition, RETRIED_FOR_EVER } from "../queues/queue.ts";
import type { MessageOp, MessageRecord } from "../store/store.ts";
import { messageOpSchema, messageRecordSchema } from "./messages.schemas.ts";

export const persistBatchSchema = z.strictObject({
  messages: z.array(messageRecordSchema).max(10_000),
  ops: z.array(messageOpSchema).max(10_000),
});
export type PersistBatch = z.infer<typeof persistBatchSchema>;

/**
 * The persist queue: group-committed batches of new messages and message ops, and the periodic
 * sweep that persists pending work whose job was never stored (an API died between accept and
 * enqueue).
 */
export const persistQueue = {
  name: "persist",
  jobs: {
    "persist-batch": persistBatchSchema,
    "pending-rescue": z.strictObject({}),
  },
  jobOptions: RETRIED_FOR_EVER,
} satisfies QueueDefinition<Record<string, z.ZodType>>;

export type GroupCommitOptions = {
  /** How long the first message of a batch waits for others. */
  maxDelayMs: number;
  maxMessages: number;
  /** Least time between two jobs of this process: under load, batches grow to fill it. */
  minIntervalMs: number;
};

type Batch = {
  messages: Map<string, MessageRecord>;
  ops: Map<string, MessageOp>;
  done: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout | undefined;
  /** The window passed while an add was in flight: flush when it returns. */
  due: boolean;
};

/**
 * Group commit: accepted messages and ops gather for `maxDelayMs` from the first one (or until
 * the batch is full) and go to Redis as one persist job. A caller's promise settles only once
 * that job is stored, so nothing acknowledged lives only in this process's memory. A fixed
 * window, not "flush when idle": per job the persist pool and Redis pay ~100 µs, so batches
 * of one or two messages would cost more CPU than the window costs latency (bench/README.md).
 * Batches grow under load: a batch goes out no sooner than `minIntervalMs` after the previous
 * one, and not while an add is in flight (unless it is full), so a busy process sends at most
 * ~1000/minIntervalMs jobs a second however many messages it accepts, while a lone message
 * after a quiet spell still waits only `maxDelayMs`. The persist pool's and Redis' cost is per
 * job, so this is what keeps durability cheap at high rates (bench/README.md).
 */
export class PersistJobs {
  readonly #jobs: JobProducer<typeof persistQueue.jobs>;
  readonly #opts: GroupCommitOptions;
  #current: Batch | undefined;
  readonly #inFlight = new Set<Promise<void>>();
  #lastFlushAt = 0;

  constructor(jobs: JobProducer<typeof persistQueue.jobs>, opts: GroupCommitOptions) {
    this.#jobs = jobs;
    this.#opts = opts;
  }

  /** Resolves once a persist job holding the message is in Redis. */
  enqueue(message: MessageRecord): Promise<void> {
    const batch = this.#current ?? this.#open();
    batch.messages.set(message.id, message);
    return this.#maybeFlush(batch);
  }

  /** Resolves once a persist job holding the op is in Redis. */
  enqueueOp(op: MessageOp): Promise<void> {
    const batch = this.#current ?? this.#open();
    batch.ops.set(`${op.room_id}|${op.rev}`, op);
    return this.#maybeFlush(batch);
  }

  #maybeFlush(batch: Batch): Promise<void> {
    if (batch.messages.size + batch.ops.size >= this.#opts.maxMessages) this.#flush(batch);
    return batch.done;
  }

  #open(): Batch {
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const batch: Batch = {
      messages: new Map(),
      ops: new Map(),
      done,
      resolve,
      reject,
      timer: undefined,
      due: false,
    };
    const wait = Math.max(this.#opts.maxDelayMs, this.#lastFlushAt + this.#opts.minIntervalMs - Date.now());
    batch.timer = setTimeout(() => this.#windowEnded(batch), wait);
    this.#current = batch;
    return batch;
  }

  #windowEnded(batch: Batch): void {
    if (this.#inFlight.size > 0) batch.due = true;
    else this.#flush(batch);
  }

  #flush(batch: Batch): void {
    if (this.#current !== batch) return; // already gone out (full before its timer fired)
    this.#current = undefined;
    this.#lastFlushAt = Date.now();
    clearTimeout(batch.timer);
    const data: PersistBatch = { messages: [...batch.messages.values()], ops: [...batch.ops.values()] };
    persistBatchSize.observe(data.messages.length + data.ops.length);
    const p = this.#jobs
      .add("persist-batch", data, `b-${newId()}`)
      .then(() => batch.resolve(), batch.reject)
      .finally(() => {
        this.#inFlight.delete(p);
        const next = this.#current;
        if (next?.due && this.#inFlight.size === 0) this.#flush(next);
      });
    this.#inFlight.add(p);
  }

  /** Flushes the open batch and waits for every add in flight (graceful shutdown). */
  async drain(): Promise<void> {
    if (this.#current) this.#flush(this.#current);
    await Promise.allSettled([...this.#inFlight]);
  }
}
