import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { REDIS_URL, removeDir, tempDir, testEnv, uniquePrefix } from "../helpers/env.ts";
import { freePort, start, startApiProcess } from "../helpers/processes.ts";
import { startRedisServer } from "../helpers/redis-server.ts";

const dir = tempDir("prod-start");
afterAll(() => removeDir(dir));

/** What this machine's Redis is: the test expects a refusal only where production would get one. */
async function durable(): Promise<boolean> {
  const redis = new Redis(REDIS_URL);
  try {
    const [, aof] = (await redis.config("GET", "appendonly")) as [string, string];
    const [, policy] = (await redis.config("GET", "maxmemory-policy")) as [string, string];
    return aof === "yes" && policy === "noeviction";
  } finally {
    redis.disconnect();
  }
}

describe("production start", () => {
  it("refuses a Redis without AOF or with eviction, naming the setting (API and pools alike)", async () => {
    const env = {
      ...testEnv(uniquePrefix("prod"), dir),
      NODE_ENV: "production",
      PUBLIC_URL: "https://chat.example.com",
      PORT: String(await freePort()),
    };
    const ok = await durable();
    for (const [script, args] of [
      ["src/main.ts", []],
      ["workers/main.ts", ["persist"]],
    ] as const) {
      const proc = start(script, [...args], env);
      if (ok) {
        await new Promise((r) => setTimeout(r, 3000));
        expect(proc.child.exitCode).toBeNull();
        await proc.stop();
      } else {
        expect(await proc.exited).toBe(1);
        expect(proc.output()).toMatch(/appendonly|maxmemory-policy/);
        expect(proc.output()).not.toMatch(/\n\s+at /); // a message, not a stack
      }
    }
  }, 30_000);

  // A Redis of its own per case: AOF on and noeviction, so only its fsync policy is in question.
  const DURABLE = ["--appendonly", "yes", "--maxmemory-policy", "noeviction"];
  const prodEnv = async (redisUrl: string, extra: Record<string, string> = {}) => ({
    ...testEnv(uniquePrefix("prod"), dir),
    NODE_ENV: "production",
    PUBLIC_URL: "https://chat.example.com",
    PORT: String(await freePort()),
    REDIS_URL: redisUrl,
    ...extra,
  });

  it("refuses appendfsync everysec with REDIS_WAIT_REPLICAS=0 (an OS crash loses ~1 s), naming the setting, the risk and the ways out (API and pools alike)", async () => {
    const redis = await startRedisServer([...DURABLE, "--appendfsync", "everysec"]);
    try {
      const env = await prodEnv(redis.url);
      for (const [script, args] of [
        ["src/main.ts", []],
        ["workers/main.ts", ["persist"]],
      ] as const) {
        const proc = start(script, [...args], env);
        expect(await proc.exited).toBe(1);
        const out = proc.output();
        expect(out).toMatch(
          /appendfsync is everysec on 127\.0\.0\.1:\d+ with REDIS_WAIT_REPLICAS=0: an OS crash or power loss/,
        );
        expect(out).toMatch(/set appendfsync always/);
        expect(out).toMatch(/Redis Cluster \(REDIS_CLUSTER_NODES\) with REDIS_WAIT_REPLICAS>=1/);
        expect(out).toMatch(/REDIS_ALLOW_LOSS_ON_OS_CRASH=true/);
        expect(out).not.toMatch(/\n\s+at /); // a message, not a stack
      }
      // A replica without failover is not enough: said as such.
      const proc = start("src/main.ts", [], { ...env, REDIS_WAIT_REPLICAS: "1" });
      expect(await proc.exited).toBe(1);
      expect(proc.output()).toMatch(/REDIS_WAIT_REPLICAS=1 without automatic failover/);
    } finally {
      await redis.stop();
    }
  }, 60_000);

  it("starts on appendfsync always, and on everysec with REDIS_ALLOW_LOSS_ON_OS_CRASH=true, warning what that gives up", async () => {
    const always = await startRedisServer([...DURABLE, "--appendfsync", "always"]);
    const everysec = await startRedisServer([...DURABLE, "--appendfsync", "everysec"]);
    try {
      const safe = await startApiProcess(await prodEnv(always.url));
      await safe.stop();
      expect(safe.output()).not.toMatch(/appendfsync|REDIS_ALLOW_LOSS_ON_OS_CRASH/);

      const optedIn = await startApiProcess(
        await prodEnv(everysec.url, { REDIS_ALLOW_LOSS_ON_OS_CRASH: "true" }),
      );
      await optedIn.stop();
      const warning = optedIn
        .output()
        .split("\n")
        .find((l) => l.includes("REDIS_ALLOW_LOSS_ON_OS_CRASH=true"));
      expect(warning).toBeDefined();
      expect(JSON.parse(warning ?? "{}")).toMatchObject({ level: 40 });
      expect(warning).toMatch(
        /appendfsync is everysec .* an OS crash or power loss of that machine loses about the last second/,
      );

      const pool = start(
        "workers/main.ts",
        ["persist"],
        await prodEnv(everysec.url, { REDIS_ALLOW_LOSS_ON_OS_CRASH: "true" }),
      );
      const end = Date.now() + 20_000;
      while (!pool.output().includes("so starting anyway") && Date.now() < end)
        await new Promise((r) => setTimeout(r, 100));
      await new Promise((r) => setTimeout(r, 2000));
      expect(pool.child.exitCode).toBeNull();
      await pool.stop();
      expect(pool.output()).toMatch(
        /REDIS_ALLOW_LOSS_ON_OS_CRASH=true, so starting anyway: appendfsync is everysec/,
      );
    } finally {
      await always.stop();
      await everysec.stop();
    }
  }, 60_000);

  it("refuses a Redis that forbids CONFIG (its settings cannot be verified), naming the opt-in", async () => {
    const redis = await startRedisServer([
      ...DURABLE,
      "--appendfsync",
      "always",
      "--rename-command",
      "CONFIG",
      "",
    ]);
    try {
      const proc = start("src/main.ts", [], await prodEnv(redis.url));
      expect(await proc.exited).toBe(1);
      expect(proc.output()).toMatch(/CONFIG GET is refused by 127\.0\.0\.1:\d+ .* cannot be verified/);
      expect(proc.output()).toMatch(/REDIS_ALLOW_LOSS_ON_OS_CRASH=true/);
      expect(proc.output()).not.toMatch(/\n\s+at /);
    } finally {
      await redis.stop();
    }
  }, 60_000);
});
