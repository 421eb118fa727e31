import type { Redis } from "ioredis";
import { LuaScript } from "../redis/lua-script.ts";
import type { Keys } from "../redis/redis.ts";
import type { MessagesStore } from "../store/store.ts";
import { parseMessageJson } from "./accept.repository.ts";

/** Sets each missing counter (seq, rev) to the given floor; counters that exist are left alone. */
const seedScript = new LuaScript(
  2,
  `redis.call('SET', KEYS[1], ARGV[1], 'NX')
redis.call('SET', KEYS[2], ARGV[2], 'NX')
return 1`,
);

/** The next ARGV[1] revisions of a room, or -1 if its counter is missing (re-seed first). */
const takeRevsScript = new LuaScript(
  1,
  `if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
return redis.call('INCRBY', KEYS[1], ARGV[1])`,
);

/**
 * A room's seq and rev counters in Redis. When Redis lost them they are re-seeded above
 * everything the room has, pending or stored, so they never go backwards (invariants 3, 6).
 */
export class RoomCounters {
  readonly #redis: Redis;
  readonly #keys: Keys;
  readonly #store: Pick<MessagesStore, "roomCounters">;

  constructor(redis: Redis, keys: Keys, store: Pick<MessagesStore, "roomCounters">) {
    this.#redis = redis;
    this.#keys = keys;
    this.#store = store;
  }

  /**
   * Pending is read before the store: a message or op that leaves pending in between was
   * stored before it left (the persist worker clears pending only after its commit), so one
   * of the two reads sees it. The other order could miss it and hand out its seq or rev again.
   */
  async seed(roomId: string): Promise<void> {
    const k = this.#keys;
    const [topMessage, topOp] = await Promise.all([
      this.#redis.zrevrange(k.pendingRoom(roomId), 0, 0),
      this.#redis.zrevrange(k.pendingOps(roomId), 0, 0, "WITHSCORES"),
    ]);
    const newest = topMessage[0] ? parseMessageJson(topMessage[0]) : undefined;
    const pendingSeq = newest?.seq ?? 0;
    const pendingRev = Math.max(newest?.rev ?? 0, Number(topOp[1] ?? 0));
    const stored = await this.#store.roomCounters(roomId);
    await seedScript.run(
      this.#redis,
      [k.seq(roomId), k.rev(roomId)],
      [Math.max(pendingSeq, stored.seq), Math.max(pendingRev, stored.rev)],
    );
  }

  /** Takes `n` consecutive revisions of the room; returns them in order. */
  async takeRevs(roomId: string, n: number): Promise<number[]> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const last = Number(await takeRevsScript.run(this.#redis, [this.#keys.rev(roomId)], [n]));
      if (last !== -1) return Array.from({ length: n }, (_, i) => last - n + 1 + i);
      await this.seed(roomId);
    }
    throw new Error(`could not take revisions for room ${roomId}`);
  }
}
