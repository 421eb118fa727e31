import calculateSlot from "cluster-key-slot";
import { Cluster, type Redis } from "ioredis";
import { AppError } from "../kernel/errors.ts";
import type { Keys, RedisClient } from "./redis.ts";
import { roomBucket } from "./redis.ts";

/**
 * REDIS_WAIT_REPLICAS: Redis replicates asynchronously, so a master that dies right after
 * acknowledging a write can take it along to a failover. With replicas > 0 a send is answered
 * only once its accept writes (the room's slot) and then its persist job (the persist queue's
 * slot) are on that many replicas; not reached in time: 503 with Retry-After, never a silent
 * ack, and the retry (same client_id) waits again.
 *
 * WAIT blocks the connection it is sent on, so it never goes on a shared one: a dedicated
 * connection writes a mark in the same slot (after the writes it must cover, on the same
 * master, so its replication offset is past theirs) and waits there. Waits for one master are
 * coalesced: one round covers every write made before it started, so senders join the next
 * round instead of queueing one WAIT each behind a slow replica.
 */
export class ReplicaWait {
  readonly #conn: RedisClient | null;
  readonly #keys: Keys;
  readonly #replicas: number;
  readonly #timeoutMs: number;
  readonly #rounds = new Map<string, { current?: Promise<number>; next?: Promise<number> }>();

  constructor(deps: { conn: RedisClient | null; keys: Keys; replicas: number; timeoutMs: number }) {
    this.#conn = deps.replicas > 0 ? deps.conn : null;
    this.#keys = deps.keys;
    this.#replicas = deps.replicas;
    this.#timeoutMs = deps.timeoutMs;
  }

  async close(): Promise<void> {
    await this.#conn?.quit().catch(() => {});
  }

  get enabled(): boolean {
    return this.#conn !== null;
  }

  /** The room's accept writes are on the replicas (before its broadcast and its persist job). */
  async accepted(roomId: string): Promise<void> {
    await this.#require(this.#keys.waitMark(`r${roomBucket(roomId)}`));
  }

  /** The persist job holding the message is on the replicas (before the answer). */
  async enqueued(): Promise<void> {
    await this.#require(`${this.#keys.bullPrefix("persist")}:wait-mark`);
  }

  async #require(markKey: string): Promise<void> {
    if (!this.#conn) return;
    const reached = await this.#wait(this.#conn, markKey).catch(() => 0);
    if (reached < this.#replicas) {
      throw new AppError(
        "unavailable",
        "the message is not yet copied to a Redis replica; retry with the same client_id",
        { replicas: this.#replicas },
        1,
      );
    }
  }

  #wait(conn: RedisClient, markKey: string): Promise<number> {
    const node = masterFor(conn, markKey);
    const id = `${node.options.host}:${node.options.port}`;
    let state = this.#rounds.get(id);
    if (!state) {
      state = {};
      this.#rounds.set(id, state);
    }
    const s = state;
    if (s.next) return s.next;
    const round: Promise<number> = (s.current ?? Promise.resolve(0))
      .catch(() => 0)
      .then(async () => {
        s.next = undefined;
        s.current = round;
        await node.set(markKey, "1");
        return Number(await node.call("WAIT", this.#replicas, this.#timeoutMs));
      })
      .finally(() => {
        if (s.current === round) s.current = undefined;
      });
    s.next = round;
    return round;
  }
}

/** The connection to the master that serves the key's slot. */
function masterFor(conn: RedisClient, key: string): Redis {
  if (!(conn instanceof Cluster)) return conn;
  const nodeKey = conn.slots[calculateSlot(key)]?.[0];
  const node = conn.nodes("master").find((n) => `${n.options.host}:${n.options.port}` === nodeKey);
  if (!node) throw new AppError("unavailable", "the Redis Cluster is moving this slot; retry", undefined, 1);
  return node;
}
