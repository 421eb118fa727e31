import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { MembershipCache } from "../../src/membership/membership.cache.ts";
import { Keys } from "../../src/redis/redis.ts";
import type { Store } from "../../src/store/store.ts";
import { dropPrefix, REDIS_URL, uniquePrefix } from "../helpers/env.ts";

const prefix = uniquePrefix("members");
const keys = new Keys(prefix);
const redis = new Redis(REDIS_URL);
afterAll(async () => {
  await dropPrefix(prefix);
  redis.disconnect();
});

/** A store whose member list the test controls, and whose reads it can hold open. */
function fakeStore(members: string[], gate?: Promise<void>): { store: Store; reads: () => number } {
  let reads = 0;
  const store = {
    listMemberIds: async () => {
      reads++;
      const read = [...members]; // what the store held when the read ran...
      await gate; // ...answered only once the gate opens
      return read;
    },
    isRoomBlocked: async () => false,
  } as Pick<Store, "listMemberIds" | "isRoomBlocked"> as Store;
  return { store, reads: () => reads };
}

describe("MembershipCache", () => {
  it("loads once from the store, then answers from Redis", async () => {
    const { store, reads } = fakeStore(["a", "b"]);
    const cache = new MembershipCache(redis, keys, store, 60);
    expect(await cache.isMember("r1", "a")).toBe(true);
    expect(await cache.isMember("r1", "b")).toBe(true);
    expect(await cache.isMember("r1", "z")).toBe(false);
    expect(reads()).toBe(1);
    expect(await redis.ttl(keys.members("r1"))).toBeGreaterThan(0);
  });

  it("caches nothing for a room without members (an unknown id), so requests cannot grow Redis", async () => {
    const { store, reads } = fakeStore([]);
    const cache = new MembershipCache(redis, keys, store, 60);
    expect(await cache.isMember("empty", "a")).toBe(false);
    expect(await cache.isMember("empty", "a")).toBe(false);
    expect(reads()).toBe(2);
    expect(await redis.keys(`${prefix}:*empty*`)).toEqual([]);
  });

  it("reloads after invalidate, and a load that raced an invalidation does not write back stale members", async () => {
    const members = ["a"];
    let open!: () => void;
    const gate = new Promise<void>((r) => {
      open = r;
    });
    const slow = fakeStore(members, gate);
    const cache = new MembershipCache(redis, keys, slow.store, 60);
    const staleLoad = cache.load("r2"); // reads ["a"], held open
    await new Promise((r) => setTimeout(r, 20));
    members.push("b"); // membership changes...
    await cache.invalidate("r2"); // ...and is invalidated while the old read is in flight
    open();
    await staleLoad;
    expect(await redis.exists(keys.members("r2"))).toBe(0); // the stale list was not cached
    expect(await cache.isMember("r2", "b")).toBe(true);
    expect((await redis.smembers(keys.members("r2"))).sort()).toEqual(["", "a", "b"]); // the fresh one is
  });

  it("drops a cached list on invalidate, so the next check reads the change", async () => {
    const members = ["a"];
    const { store, reads } = fakeStore(members);
    const cache = new MembershipCache(redis, keys, store, 60);
    expect(await cache.isMember("r3", "b")).toBe(false);
    expect(await redis.exists(keys.members("r3"))).toBe(1);
    members.push("b");
    await cache.invalidate("r3");
    expect(await redis.exists(keys.members("r3"))).toBe(0);
    expect(await cache.isMember("r3", "b")).toBe(true);
    expect(reads()).toBe(2);
  });
});
