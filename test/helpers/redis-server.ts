import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { freePort } from "./processes.ts";

export type RedisServer = { port: number; url: string; stop(): Promise<void> };

/**
 * A throwaway redis-server (no RDB, the given extra settings) on a free port or the one given,
 * for tests that need a Redis configured otherwise than the shared one. Stopped by the test.
 */
export async function startRedisServer(args: string[], port?: number): Promise<RedisServer> {
  const p = port ?? (await freePort());
  // Its own directory: an AOF (appendonlydir) never meets another server's.
  const dir = mkdtempSync(path.join(tmpdir(), "chat-redis-"));
  const child: ChildProcess = spawn(
    "redis-server",
    ["--port", String(p), "--bind", "127.0.0.1", "--save", "", "--dir", dir, "--daemonize", "no", ...args],
    { stdio: "ignore" },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `redis://127.0.0.1:${p}`;
  const end = Date.now() + 10_000;
  for (;;) {
    const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on("error", () => {});
    const up = await probe.connect().then(
      () => probe.ping().then(() => true),
      () => false,
    );
    probe.disconnect();
    if (up) break;
    if (Date.now() > end || child.exitCode !== null) {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`redis-server on port ${p} did not start`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port: p,
    url,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
