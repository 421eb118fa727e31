import { notFound } from "../kernel/errors.ts";
import { LuaScript } from "../redis/lua-script.ts";
import type { Keys, RedisClient } from "../redis/redis.ts";
import type { BlocksStore, MembersStore } from "../store/store.ts";

type CacheSource = Pick<MembersStore, "listMemberIds"> & Pick<BlocksStore, "isRoomBlocked">;

/** Marks a cached set as loaded even when the room has no members left (no user id is empty). */
const LOADED_MARKER = "";
/**
 * In a direct room's set: a block stands between its two members, so neither may send. No
 * user id contains "#". Loaded from the store with the members, so it survives Redis loss.
 */
export const BLOCKED_MARKER = "#blocked";

const isMemberScript = new LuaScript(
  1,
  `if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
return redis.call('SISMEMBER', KEYS[1], ARGV[1])`,
);

/** Fills the set only if no invalidation happened since the loader read the store. */
const fillScript = new LuaScript(
  2,
  `local gen = redis.call('GET', KEYS[2]) or '0'
if gen ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SADD', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1`,
);

/**
 * Room membership cached in Redis as one set per room, shared by every API node. Changes
 * call invalidate(), which bumps a generation so a concurrent loader cannot write back a
 * stale list. Only rooms that exist get keys (invalidate is called by changes to real rooms).
 */
export class MembershipCache {
  readonly #redis: RedisClient;
  readonly #keys: Keys;
  readonly #store: CacheSource;
  readonly #ttlS: number;

  constructor(redis: RedisClient, keys: Keys, store: CacheSource, ttlS: number) {
    this.#redis = redis;
    this.#keys = keys;
    this.#store = store;
    this.#ttlS = ttlS;
  }

  async isMember(roomId: string, userId: string): Promise<boolean> {
    const hit = Number(await isMemberScript.run(this.#redis, [this.#keys.members(roomId)], [userId]));
    if (hit !== -1) return hit === 1;
    return (await this.load(roomId)).includes(userId);
  }

  /** The one membership check: a non-member gets the same 404 as for a room that does not exist. */
  async assertMember(roomId: string, userId: string): Promise<void> {
    if (!(await this.isMember(roomId, userId))) throw notFound("room");
  }

  /** Whether a block stands between the two members of this direct room (see BLOCKED_MARKER). */
  async isBlocked(roomId: string): Promise<boolean> {
    return this.isMember(roomId, BLOCKED_MARKER);
  }

  /**
   * Loads the room's members from the store into the cache; returns them. A room without
   * members (most often one that does not exist: any client can ask for random ids) is not
   * cached, so requests can never grow Redis; the store answers those directly.
   */
  async load(roomId: string): Promise<string[]> {
    const gen = (await this.#redis.get(this.#keys.membersGen(roomId))) ?? "0";
    const ids = await this.#store.listMemberIds(roomId);
    if (ids.length === 0) return ids;
    const blocked = ids.length === 2 && (await this.#store.isRoomBlocked(roomId));
    await fillScript.run(
      this.#redis,
      [this.#keys.members(roomId), this.#keys.membersGen(roomId)],
      [gen, this.#ttlS, LOADED_MARKER, ...(blocked ? [BLOCKED_MARKER] : []), ...ids],
    );
    return ids;
  }

  async invalidate(roomId: string): Promise<void> {
    await this.#redis.multi().incr(this.#keys.membersGen(roomId)).del(this.#keys.members(roomId)).exec();
  }
}
