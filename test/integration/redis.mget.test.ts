import { afterAll, describe, expect, it } from "vitest";
import { newId } from "../../src/kernel/ids.ts";
import { Keys, mgetBySlot } from "../../src/redis/redis.ts";
import { dropPrefix, testRedis, uniquePrefix } from "../helpers/env.ts";

const prefix = uniquePrefix("mget");
const keys = new Keys(prefix);
// On Redis Cluster too (scripts/test-cluster.sh): an MGET across slots would fail there.
const redis = testRedis();
/** Keys starting with their tag, which the prefix's scan does not find. */
const unprefixed = [`{${prefix}:plain}:tagged`, `{${prefix}:a}x`];
afterAll(async () => {
  await dropPrefix(prefix);
  await Promise.all(unprefixed.map((k) => redis.del(k)));
  redis.disconnect();
});

describe("mgetBySlot", () => {
  it("reads keys of many slots in their order, missing ones as null", async () => {
    const rooms = Array.from({ length: 300 }, () => newId());
    const seqKeys = rooms.map((r) => keys.seq(r));
    await Promise.all(seqKeys.map((k, i) => (i % 3 === 0 ? Promise.resolve() : redis.set(k, String(i)))));
    expect(await mgetBySlot(redis, seqKeys)).toEqual(seqKeys.map((_, i) => (i % 3 === 0 ? null : String(i))));
    expect(await mgetBySlot(redis, [])).toEqual([]);
  });

  it("groups by the part Redis hashes: a non-empty first {tag}, else the whole key", async () => {
    const odd = [
      `${prefix}:plain`,
      unprefixed[0] ?? "", // hashes "<prefix>:plain", as the untagged key above does
      `${prefix}:{}empty{tag}`, // an empty first tag: the whole key is hashed
      `${prefix}:{}empty{tag}2`,
      `${prefix}:open{only`,
      `${prefix}:{a}{b}`,
      unprefixed[1] ?? "",
    ];
    await Promise.all(odd.map((k) => redis.set(k, k)));
    expect(await mgetBySlot(redis, odd)).toEqual(odd);
  });
});
