import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { FanoutJobs, fanoutQueue } from "../../src/fanout/fanout.queue.ts";
import { newId } from "../../src/kernel/ids.ts";
import { MembershipCache } from "../../src/membership/membership.cache.ts";
import { MembershipChange } from "../../src/membership/membership-change.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { JobProducer } from "../../src/queues/queue.ts";
import { Keys } from "../../src/redis/redis.ts";
import { dropPrefix, REDIS_URL, uniquePrefix } from "../helpers/env.ts";

const prefix = uniquePrefix("mchange");
const keys = new Keys(prefix);
const redis = new Redis(REDIS_URL);
const producer = new JobProducer(fanoutQueue, redis, keys);
const jobs = new FanoutJobs(producer);
const logger = createLogger("silent", "test");
afterAll(async () => {
  await producer.close();
  await dropPrefix(prefix);
  redis.disconnect();
});

const members = ["a", "b"];
const cache = new MembershipCache(
  redis,
  keys,
  { listMemberIds: async () => [...members], isRoomBlocked: async () => false },
  3600,
);

describe("a membership change", () => {
  it("queues a backup invalidation before the commit, so a failed direct invalidation is redone", async () => {
    const room = newId();
    await cache.load(room);
    const failing = Object.assign(Object.create(cache) as MembershipCache, {
      invalidate: async () => {
        throw new Error("Connection is closed.");
      },
    });
    const change = new MembershipChange(jobs, failing, logger);
    await change.run(room, async () => {
      members.push("c");
    });
    expect(await cache.isMember(room, "c")).toBe(false); // stale: the direct invalidation failed
    const queued = await producer.queue.getDelayed();
    const job = queued.find((j) => j.name === "membership-invalidate" && j.data.room_id === room);
    expect(job).toBeDefined();
    // What the fanout pool's handler does with it:
    await cache.invalidate(job?.data.room_id);
    expect(await cache.isMember(room, "c")).toBe(true);
  });

  it("commits nothing when the backup job cannot be stored", async () => {
    const broken = {
      invalidateMembership: async () => Promise.reject(new Error("Connection is closed.")),
    } as unknown as FanoutJobs;
    let committed = false;
    const change = new MembershipChange(broken, cache, logger);
    await expect(
      change.run(newId(), async () => {
        committed = true;
      }),
    ).rejects.toThrow();
    expect(committed).toBe(false);
  });
});
