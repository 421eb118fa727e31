import { afterAll, describe, expect, it } from "vitest";
import { removeDir, tempDir, testEnv, uniquePrefix } from "../helpers/env.ts";
import { freePort, type Proc, start, waitReady } from "../helpers/processes.ts";
import { type RedisServer, startRedisServer } from "../helpers/redis-server.ts";

const dir = tempDir("redis-missing");
const procs: Proc[] = [];
let redis: RedisServer | undefined;
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop("SIGKILL")));
  await redis?.stop();
  removeDir(dir);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every line is one of the process's JSON log lines: nothing printed raw (no stack, no console.error). */
function rawLines(output: string): string[] {
  return output
    .split("\n")
    .filter((l) => l.trim() !== "")
    .filter((l) => {
      try {
        JSON.parse(l);
        return false;
      } catch {
        return true;
      }
    });
}

describe("starting with nothing on REDIS_URL", () => {
  it("API and pool say so in one line every 5 s naming REDIS_URL and how to start Redis, /readyz gives the reason, and both carry on once Redis starts", async () => {
    const redisPort = await freePort();
    const apiPort = await freePort();
    const env = {
      ...testEnv(uniquePrefix("noredis"), dir),
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      LOG_LEVEL: "info",
    };
    const api = start("src/main.ts", [], { ...env, PORT: String(apiPort) });
    const pool = start("workers/main.ts", ["persist"], env);
    procs.push(api, pool);
    const base = `http://127.0.0.1:${apiPort}`;

    const started = Date.now();
    // The API serves while it waits for Redis (not ready): /readyz says why.
    let down: Response | null = null;
    while (!down && Date.now() - started < 20_000) {
      down = await fetch(`${base}/readyz`).catch(() => null);
      if (!down) await sleep(200);
    }
    expect(down?.status).toBe(503);
    const body = (await down?.json()) as { checks: { redis: string }; reason: string };
    expect(body.checks.redis).toBe("down");
    expect(body.reason).toMatch(/^Redis is not answering \(REDIS_URL\): connection refused/);
    expect(body.reason).toMatch(/redis-server --daemonize yes/);
    await sleep(Math.max(0, started + 8000 - Date.now()));

    const line = new RegExp(
      `Redis is not answering at 127\\.0\\.0\\.1:${redisPort} \\(REDIS_URL\\): connection refused .*redis-server --daemonize yes.*apt-get install redis-server`,
    );
    for (const [name, proc] of [
      ["api", api],
      ["pool", pool],
    ] as const) {
      const out = proc.output();
      expect(proc.child.exitCode, `${name} still waiting`).toBeNull();
      expect(rawLines(out), `${name} printed only log lines`).toEqual([]);
      expect(out, name).not.toMatch(/ECONNREFUSED/);
      const said = out.split("\n").filter((l) => line.test(l)).length;
      // One line per 5 s: the first at once, then one per 5 s elapsed (two in 8 s).
      expect(said, `${name}: ${out}`).toBeGreaterThanOrEqual(1);
      expect(said, `${name}: ${out}`).toBeLessThanOrEqual(Math.floor((Date.now() - started) / 5000) + 1);
    }

    redis = await startRedisServer([], redisPort);
    await waitReady(base, 15_000);
    const end = Date.now() + 20_000;
    while (!pool.output().includes("pool ready") && Date.now() < end) await sleep(100);
    expect(pool.output()).toMatch(/pool ready/);
    expect(api.output()).toMatch(/"msg":"Redis is answering"/);
    expect(rawLines(api.output())).toEqual([]);
    expect(rawLines(pool.output())).toEqual([]);
  }, 60_000);

  it("SIGTERM while Redis is away: API and pool stop at once with 0, not after the shutdown timeout", async () => {
    const lost = await startRedisServer([]);
    const apiPort = await freePort();
    const env = {
      ...testEnv(uniquePrefix("redis-gone"), dir),
      REDIS_URL: lost.url,
      LOG_LEVEL: "info",
      SHUTDOWN_TIMEOUT_MS: "20000",
    };
    const api = start("src/main.ts", [], { ...env, PORT: String(apiPort) });
    const pool = start("workers/main.ts", ["persist"], env);
    procs.push(api, pool);
    await waitReady(`http://127.0.0.1:${apiPort}`, 20_000);
    const ready = Date.now() + 20_000;
    while (!pool.output().includes("pool ready") && Date.now() < ready) await sleep(100);
    await lost.stop();
    const told = Date.now() + 10_000;
    while (
      !(api.output().includes("Redis is not answering") && pool.output().includes("Redis is not answering"))
    ) {
      if (Date.now() > told) throw new Error("no outage line");
      await sleep(100);
    }
    const t0 = Date.now();
    const codes = await Promise.all([api.stop("SIGTERM"), pool.stop("SIGTERM")]);
    expect(codes).toEqual([0, 0]);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(api.output()).not.toMatch(/shutdown timed out/);
  }, 60_000);
});
