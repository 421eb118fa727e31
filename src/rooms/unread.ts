import { type Keys, mgetBySlot, type RedisClient } from "../redis/redis.ts";
import type { MemberRecord, MessagesStore } from "../store/store.ts";

export type Unread = { unread: number; last_seq: number };

/**
 * Unread counts, derived, never counted up (invariant 9): the room's last seq (the Redis
 * counter, which includes messages accepted but not yet stored; the store's when the counter
 * is missing) minus the member's read watermark (sending implies reading), minus the system
 * messages above it. Nothing is incremented per message, so nothing can drift.
 */
export class UnreadCounter {
  readonly #redis: RedisClient;
  readonly #keys: Keys;
  readonly #store: Pick<MessagesStore, "uncountedSeqsAfter">;

  constructor(redis: RedisClient, keys: Keys, store: Pick<MessagesStore, "uncountedSeqsAfter">) {
    this.#redis = redis;
    this.#keys = keys;
    this.#store = store;
  }

  /**
   * Per room of `memberships`: the member's unread count and the room's current last seq.
   * Messages still pending count as the store will count them once stored: the member's own
   * raise their read watermark (sending implies reading), system messages never count. Pending
   * is read before the store, and system seqs are merged as a set, so a message stored in
   * between is counted once.
   */
  async of(
    memberships: { member: Pick<MemberRecord, "room_id" | "read_seq" | "user_id">; last_seq: number }[],
  ): Promise<Map<string, Unread>> {
    const out = new Map<string, Unread>();
    if (memberships.length === 0) return out;
    // One MGET per slot, not a GET per room: for a user in 500 rooms, 500 GETs were the
    // costliest step of GET /unread and the longest tail (bench/README.md, bench:chat).
    const counters = await mgetBySlot(
      this.#redis,
      memberships.map((m) => this.#keys.seq(m.member.room_id)),
    );
    // Only a room whose counter is ahead of the store has anything pending: ask those alone,
    // and only the two small indexes a count needs (the member's own highest pending seq, the
    // pending system seqs above the watermark), never the pending messages themselves.
    const behind = memberships.flatMap((m, i) => (Number(counters[i] ?? 0) > m.last_seq ? [i] : []));
    const reads = memberships.map((m) => ({ read: m.member.read_seq, pendingSystem: [] as number[] }));
    await Promise.all(
      behind.map(async (i) => {
        const member = memberships[i]?.member;
        if (!member) return;
        const after = `(${member.read_seq}`;
        const [sent, system] = await Promise.all([
          this.#redis.zrevrangebyscore(
            this.#keys.pendingSent(member.room_id, member.user_id),
            "+inf",
            after,
            "LIMIT",
            0,
            1,
          ),
          this.#redis.zrangebyscore(this.#keys.pendingSystem(member.room_id), after, "+inf"),
        ]);
        reads[i] = {
          read: Math.max(member.read_seq, Number(sent[0] ?? 0)),
          pendingSystem: system.map(Number),
        };
      }),
    );
    const lasts = memberships.map((m, i) => Math.max(m.last_seq, Number(counters[i] ?? 0)));
    // A room read up to its last seq counts 0 whatever the store holds: ask only for the others.
    const stored = await this.#store.uncountedSeqsAfter(
      memberships.flatMap((m, i) => {
        const read = reads[i]?.read ?? m.member.read_seq;
        return (lasts[i] ?? 0) > read ? [{ room_id: m.member.room_id, seq: read }] : [];
      }),
    );
    memberships.forEach((m, i) => {
      const { read, pendingSystem } = reads[i] ?? { read: m.member.read_seq, pendingSystem: [] };
      const last = lasts[i] ?? m.last_seq;
      const system = new Set([
        ...(stored.get(m.member.room_id) ?? []),
        ...pendingSystem.filter((s) => s > read),
      ]);
      out.set(m.member.room_id, { unread: Math.max(0, last - read - system.size), last_seq: last });
    });
    return out;
  }
}
