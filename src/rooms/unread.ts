import type { Redis } from "ioredis";
import type { Keys } from "../redis/redis.ts";
import type { MemberRecord, MessagesStore } from "../store/store.ts";

export type Unread = { unread: number; last_seq: number };

/**
 * Unread counts, derived, never counted up (invariant 9): the room's last seq (the Redis
 * counter, which includes messages accepted but not yet stored; the store's when the counter
 * is missing) minus the member's read watermark (sending implies reading), minus the system
 * messages above it. Nothing is incremented per message, so nothing can drift.
 */
export class UnreadCounter {
  readonly #redis: Redis;
  readonly #keys: Keys;
  readonly #store: Pick<MessagesStore, "countSystemMessagesAfter">;

  constructor(redis: Redis, keys: Keys, store: Pick<MessagesStore, "countSystemMessagesAfter">) {
    this.#redis = redis;
    this.#keys = keys;
    this.#store = store;
  }

  /** Per room of `memberships`: its unread count for that member and its current last seq. */
  async of(
    memberships: { member: Pick<MemberRecord, "room_id" | "read_seq">; last_seq: number }[],
  ): Promise<Map<string, Unread>> {
    const out = new Map<string, Unread>();
    if (memberships.length === 0) return out;
    const counters = await this.#redis.mget(memberships.map((m) => this.#keys.seq(m.member.room_id)));
    const system = await this.#store.countSystemMessagesAfter(
      memberships.map((m) => ({ room_id: m.member.room_id, seq: m.member.read_seq })),
    );
    memberships.forEach((m, i) => {
      const last = Math.max(m.last_seq, Number(counters[i] ?? 0));
      const unread = Math.max(0, last - m.member.read_seq - (system.get(m.member.room_id) ?? 0));
      out.set(m.member.room_id, { unread, last_seq: last });
    });
    return out;
  }
}
