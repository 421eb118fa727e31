import { LuaScript } from "../redis/lua-script.ts";
import type { Keys, RedisClient } from "../redis/redis.ts";
import type { MessagesStore } from "../store/store.ts";

/**
 * Sets each missing counter (seq, rev) above everything the room has: the store's highest (read
 * just before, ARGV), what is pending now, and the floor of what left pending since (raised by
 * the pending clear in the same step as it leaves). Counters that exist are left alone.
 * KEYS: seq, rev, floor, pending room zset, pending ops zset. ARGV: store seq, store rev.
 */
const seedScript = new LuaScript(
  5,
  `local seq, rev = tonumber(ARGV[1]), tonumber(ARGV[2])
local floorSeq = tonumber(redis.call('HGET', KEYS[3], 'seq') or '0')
local floorRev = tonumber(redis.call('HGET', KEYS[3], 'rev') or '0')
if floorSeq > seq then seq = floorSeq end
if floorRev > rev then rev = floorRev end
local top = redis.call('ZREVRANGE', KEYS[4], 0, 0, 'WITHSCORES')
if top[2] then
  if tonumber(top[2]) > seq then seq = tonumber(top[2]) end
  -- The accept script appends rev last: ...,"rev":N}
  local r = tonumber(string.match(top[1], '"rev":(%d+)}$') or '0')
  if r > rev then rev = r end
end
local op = redis.call('ZREVRANGE', KEYS[5], 0, 0, 'WITHSCORES')
if op[2] and tonumber(op[2]) > rev then rev = tonumber(op[2]) end
redis.call('SET', KEYS[1], seq, 'NX')
redis.call('SET', KEYS[2], rev, 'NX')
return {seq, rev}`,
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
  readonly #redis: RedisClient;
  readonly #keys: Keys;
  readonly #store: Pick<MessagesStore, "roomCounters">;

  constructor(redis: RedisClient, keys: Keys, store: Pick<MessagesStore, "roomCounters">) {
    this.#redis = redis;
    this.#keys = keys;
    this.#store = store;
  }

  /**
   * The store is read first, then one script takes the max of that, what is pending, and the
   * floor of what left pending meanwhile (see seedScript). Whatever the interleaving with
   * other nodes accepting, persisting and re-seeding, no seq or rev is handed out twice.
   */
  async seed(roomId: string): Promise<void> {
    const k = this.#keys;
    const stored = await this.#store.roomCounters(roomId);
    await seedScript.run(
      this.#redis,
      [k.seq(roomId), k.rev(roomId), k.counterFloor(roomId), k.pendingRoom(roomId), k.pendingOps(roomId)],
      [stored.seq, stored.rev],
    );
  }

  /** The room's last seq: the counter (accepted messages included), or the store's when it is missing. */
  async currentSeq(roomId: string): Promise<number> {
    const counter = await this.#redis.get(this.#keys.seq(roomId));
    return counter === null ? (await this.#store.roomCounters(roomId)).seq : Number(counter);
  }

  /**
   * Each room's revision counter now (one GET per room, pipelined); a missing one is re-seeded first. Every
   * revision at or below it was handed out by a script that also made its change visible
   * (pending or, once persisted, stored): what sync may read up to.
   */
  async currentRevs(roomIds: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (roomIds.length === 0) return out;
    const values = await Promise.all(roomIds.map((r) => this.#redis.get(this.#keys.rev(r))));
    const missing: string[] = [];
    roomIds.forEach((r, i) => {
      const v = values[i];
      if (v === null || v === undefined) missing.push(r);
      else out.set(r, Number(v));
    });
    for (const r of missing) {
      await this.seed(r);
      out.set(r, Number(await this.#redis.get(this.#keys.rev(r))));
    }
    return out;
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
