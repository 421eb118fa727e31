import { type Keys, type RedisClient, roomBuckets } from "../redis/redis.ts";

export type Backlog = { maxMessages: number; maxBytes: number };
export type BacklogCounts = { messages: number; ops: number; bytes: number };

/** Reads the pending counts of every bucket (each bucket's index and byte counter) and adds them up. */
export async function readBacklog(redis: RedisClient, keys: Keys): Promise<BacklogCounts> {
  const buckets = roomBuckets();
  // One command per key: the buckets live in different slots (auto-pipelining batches them).
  const [messages, ops, bytes] = await Promise.all([
    Promise.all(buckets.map((b) => redis.zcard(keys.pendingIndex(b)))),
    Promise.all(buckets.map((b) => redis.zcard(keys.pendingOpsIndex(b)))),
    Promise.all(buckets.map((b) => redis.get(keys.pendingBytes(b)))),
  ]);
  const sum = (xs: (number | string | null)[]) => xs.reduce<number>((t, x) => t + Number(x ?? 0), 0);
  return { messages: sum(messages), ops: sum(ops), bytes: sum(bytes) };
}

/**
 * Back-pressure (PENDING_MAX_MESSAGES / PENDING_MAX_BYTES) across every bucket. The counts live
 * per bucket, atomic with the pending entries they count, so the total is a sum read at most
 * every `refreshMs`; what this process accepts in between is added at once. So one process
 * holds the bound exactly, and several overshoot it by at most what they accept in one refresh
 * period: a bound on memory, not a quota.
 */
export class BacklogGauge {
  readonly #redis: RedisClient;
  readonly #keys: Keys;
  readonly #limits: Backlog;
  readonly #refreshMs: number;
  #counts: BacklogCounts = { messages: 0, ops: 0, bytes: 0 };
  #readAt = 0;
  #reading: Promise<void> | null = null;

  constructor(redis: RedisClient, keys: Keys, limits: Backlog, refreshMs = 250) {
    this.#redis = redis;
    this.#keys = keys;
    this.#limits = limits;
    this.#refreshMs = refreshMs;
  }

  async #fresh(): Promise<BacklogCounts> {
    if (Date.now() - this.#readAt >= this.#refreshMs) {
      this.#reading ??= readBacklog(this.#redis, this.#keys)
        .then((counts) => {
          this.#counts = counts;
          this.#readAt = Date.now();
        })
        .finally(() => {
          this.#reading = null;
        });
      await this.#reading;
    }
    return this.#counts;
  }

  /** Whether a new message must wait (503). */
  async messagesFull(): Promise<boolean> {
    if (
      this.#limits.maxMessages >= Number.MAX_SAFE_INTEGER &&
      this.#limits.maxBytes >= Number.MAX_SAFE_INTEGER
    )
      return false;
    const c = await this.#fresh();
    return c.messages >= this.#limits.maxMessages || c.bytes >= this.#limits.maxBytes;
  }

  /** Whether a new op must wait (503). */
  async opsFull(): Promise<boolean> {
    const c = await this.#fresh();
    return c.ops >= this.#limits.maxMessages;
  }

  messageAccepted(bytes: number): void {
    this.#counts.messages += 1;
    this.#counts.bytes += bytes;
  }

  opAccepted(): void {
    this.#counts.ops += 1;
  }
}
