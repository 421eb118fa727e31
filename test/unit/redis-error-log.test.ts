import { EventEmitter } from "node:events";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it, vi } from "vitest";
import { RedisErrorLog } from "../../src/redis/redis-errors.ts";

const refused = (port: number) =>
  Object.assign(new Error(`connect ECONNREFUSED 127.0.0.1:${port}`), { code: "ECONNREFUSED" });

function capture() {
  const lines: { level: string; msg: string }[] = [];
  const at = (level: string) => (_obj: object, msg: string) => void lines.push({ level, msg });
  return { lines, logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") } };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("RedisErrorLog", () => {
  it("says a refused connection once per 5 s however many sources retry, naming REDIS_URL and how to start Redis", () => {
    vi.useFakeTimers();
    const { lines, logger } = capture();
    const log = new RedisErrorLog(logger, { url: "redis://127.0.0.1:6501/2", clusterNodes: null });
    const sources = { a: new EventEmitter(), b: new EventEmitter(), queue: new EventEmitter() };
    log.watch(sources);
    for (let t = 0; t < 12_000; t += 200) {
      for (const s of Object.values(sources)) s.emit("error", refused(6501));
      vi.advanceTimersByTime(200);
    }
    expect(lines.map((l) => l.level)).toEqual(["warn", "warn", "warn"]); // at 0, 5 and 10 s
    expect(lines[0]?.msg).toBe(
      "Redis is not answering at 127.0.0.1:6501 (REDIS_URL): connection refused (nothing listens there); start it (redis-server --daemonize yes; to install it: apt-get install redis-server) or point REDIS_URL at yours. Retrying",
    );
    expect(log.outage).toMatch(/^Redis is not answering \(REDIS_URL\): connection refused/);
    expect(log.outage).not.toMatch(/6501/); // /readyz is public: no address
  });

  it("logs other errors as they come, drops 'not connected' rejections, and ends the outage on ready", () => {
    const { lines, logger } = capture();
    const log = new RedisErrorLog(logger, { url: "redis://127.0.0.1:6502", clusterNodes: null });
    const conn = new Redis({ port: 6502, lazyConnect: true });
    const worker = new EventEmitter();
    log.watch({ conn });
    log.watch({ worker }, "error");
    worker.emit("error", new Error("Missing lock for job 7"));
    worker.emit("error", new Error("Missing lock for job 8"));
    worker.emit("error", new Error("Connection is closed."));
    expect(lines).toEqual([
      { level: "error", msg: "worker error" },
      { level: "error", msg: "worker error" },
      { level: "debug", msg: "redis not connected" },
    ]);
    conn.emit("error", refused(6502));
    expect(log.outage).not.toBeNull();
    conn.emit("ready");
    expect(log.outage).toBeNull();
    expect(lines.at(-1)).toEqual({ level: "info", msg: "Redis is answering" });
    // A new outage is said at once.
    conn.emit("error", refused(6502));
    expect(lines.at(-1)?.msg).toMatch(/^Redis is not answering at 127\.0\.0\.1:6502/);
    conn.disconnect();
  });

  it("names REDIS_CLUSTER_NODES for a cluster, and reads ioredis Cluster's all-failed error", () => {
    const { lines, logger } = capture();
    const log = new RedisErrorLog(logger, {
      url: "redis://127.0.0.1:6379",
      clusterNodes: [
        { host: "10.0.0.1", port: 7000 },
        { host: "10.0.0.2", port: 7001 },
      ],
    });
    const cluster = new EventEmitter();
    log.watch({ cluster });
    cluster.emit(
      "error",
      Object.assign(new Error("Failed to refresh slots cache."), {
        name: "ClusterAllFailedError",
        lastNodeError: refused(7001),
      }),
    );
    expect(lines[0]?.msg).toMatch(
      /^Redis is not answering at 10\.0\.0\.1:7000,10\.0\.0\.2:7001 \(REDIS_CLUSTER_NODES\): connection refused/,
    );
  });
});
