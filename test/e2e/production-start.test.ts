import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { REDIS_URL, removeDir, tempDir, testEnv, uniquePrefix } from "../helpers/env.ts";
import { freePort, start } from "../helpers/processes.ts";

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
});
