import { describe, expect, it } from "vitest";
import { type DurabilitySettings, durabilityProblems } from "../../src/redis/redis.ts";

const node = (appendfsync: string, extra: Partial<DurabilitySettings> = {}): DurabilitySettings => ({
  node: "10.0.0.1:6379",
  appendonly: "yes",
  appendfsync,
  maxmemoryPolicy: "noeviction",
  ...extra,
});

describe("durabilityProblems: what an OS crash of a Redis machine can lose", () => {
  it("appendfsync always is safe on one Redis; everysec is not, unless WAIT >= 1 on Redis Cluster", () => {
    expect(durabilityProblems([node("always")], { waitReplicas: 0, cluster: false })).toEqual({
      always: [],
      osCrash: [],
    });
    expect(durabilityProblems([node("everysec")], { waitReplicas: 1, cluster: true }).osCrash).toEqual([]);
    const [single] = durabilityProblems([node("everysec")], { waitReplicas: 0, cluster: false }).osCrash;
    expect(single).toMatch(/^appendfsync is everysec on 10\.0\.0\.1:6379 with REDIS_WAIT_REPLICAS=0: /);
    expect(single).toMatch(/about the last second/);
  });

  it("WAIT >= 1 without failover, or on a cluster without WAIT, is not enough; appendfsync no loses more", () => {
    const [noFailover] = durabilityProblems([node("everysec")], { waitReplicas: 1, cluster: false }).osCrash;
    expect(noFailover).toMatch(
      /REDIS_WAIT_REPLICAS=1 without automatic failover .*Sentinel is not supported/,
    );
    const cluster = durabilityProblems([node("everysec"), node("always", { node: "10.0.0.2:6379" })], {
      waitReplicas: 0,
      cluster: true,
    }).osCrash;
    expect(cluster).toHaveLength(1); // only the master that does not fsync each write
    expect(durabilityProblems([node("no")], { waitReplicas: 0, cluster: false }).osCrash[0]).toMatch(
      /up to the last ~30 s/,
    );
  });

  it("AOF off and eviction are refused whatever the opt-in; an unreadable CONFIG falls under the opt-in", () => {
    const r = durabilityProblems(
      [
        node("everysec", { appendonly: "no", maxmemoryPolicy: "allkeys-lru" }),
        { node: "x:1", unreadable: "ERR" },
      ],
      { waitReplicas: 0, cluster: false },
    );
    expect(r.always).toEqual([
      expect.stringMatching(/^appendonly is no on .*set appendonly yes$/),
      expect.stringMatching(/^maxmemory-policy is allkeys-lru on .*set maxmemory-policy noeviction$/),
    ]);
    expect(r.osCrash).toEqual([
      expect.stringMatching(/^CONFIG GET is refused by x:1 .*REDIS_ALLOW_LOSS_ON_OS_CRASH=true/),
    ]);
  });
});
