import { AppError } from "../kernel/errors.ts";
import { newId } from "../kernel/ids.ts";
import { LuaScript } from "../redis/lua-script.ts";
import type { Keys, RedisClient } from "../redis/redis.ts";

/** Deletes the lock only if it is still ours (it may have expired and been taken). */
const releaseScript = new LuaScript(
  1,
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One membership change per room at a time, across every node: the check (is the caller an
 * admin?), the store write, the socket moves and the system message of one change all happen
 * before the next change of that room starts. Without it a demoted admin could still act, and
 * an add racing a removal could move sockets in the opposite order to the store.
 */
export class RoomLocks {
  readonly #redis: RedisClient;
  readonly #keys: Keys;
  readonly #holdMs: number;
  readonly #waitMs: number;

  /** holdMs: how long a lock outlives a crashed holder; waitMs: how long a change waits for its turn. */
  constructor(redis: RedisClient, keys: Keys, holdMs = 10_000, waitMs = 5_000) {
    this.#redis = redis;
    this.#keys = keys;
    this.#holdMs = holdMs;
    this.#waitMs = waitMs;
  }

  async with<T>(roomId: string, fn: () => Promise<T>): Promise<T> {
    const key = this.#keys.roomLock(roomId);
    const token = newId();
    const deadline = Date.now() + this.#waitMs;
    let delay = 5;
    while ((await this.#redis.set(key, token, "PX", this.#holdMs, "NX")) !== "OK") {
      if (Date.now() > deadline) {
        throw new AppError("unavailable", "another change to this room is in progress; retry", undefined, 1);
      }
      await sleep(delay + Math.random() * delay);
      delay = Math.min(delay * 2, 100);
    }
    try {
      return await fn();
    } finally {
      await releaseScript.run(this.#redis, [key], [token]).catch(() => {});
    }
  }
}
