import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Cluster, Redis } from "ioredis";
import { signToken } from "../../src/auth/jwt.ts";
import { type Config, loadConfig } from "../../src/config/config.ts";

export const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
/**
 * Set by scripts/test-cluster.sh: the processes a test starts, and testRedis(), use this Redis
 * Cluster (seed list host:port,...) instead of REDIS_URL.
 */
const REDIS_CLUSTER_NODES = process.env.TEST_REDIS_CLUSTER ?? "";

const clusterSeeds = () =>
  REDIS_CLUSTER_NODES.split(",").map((n) => {
    const [host = "", port = ""] = n.split(":");
    return { host, port: Number(port) };
  });

/** A connection for a test's own reads and writes: the cluster when the suite runs on one. */
export function testRedis(): Redis | Cluster {
  return REDIS_CLUSTER_NODES ? new Cluster(clusterSeeds()) : new Redis(REDIS_URL);
}
export const TEST_SECRET = "test-secret-test-secret-test-secret-0123";

/** Each test file gets its own key prefix (and Socket.IO channel), so files never see each other's data. */
export function uniquePrefix(name: string): string {
  return `t-${name}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

export function tempDir(name: string): string {
  return mkdtempSync(path.join(tmpdir(), `chat-${name}-`));
}

export function testEnv(
  prefix: string,
  dataDir: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    REDIS_URL,
    REDIS_PREFIX: prefix,
    DATA_DIR: dataDir,
    JWT_SECRET: TEST_SECRET,
    LOG_LEVEL: "warn",
    HOST: "127.0.0.1",
    PORT: "0",
    // Tests send bursts from one user; the rate-limit tests set their own budgets.
    SEND_RATE_PER_S: "0",
    ROOM_CREATES_PER_MIN: "1000000",
    MEMBER_ADDS_PER_MIN: "1000000",
    MESSAGE_OPS_RATE_PER_S: "1000",
    MEDIA_UPLOADS_PER_MIN: "1000000",
    // Many workers run at once across test files: their metrics ports are off unless a test asks.
    METRICS_PORT: "0",
    ...(REDIS_CLUSTER_NODES ? { REDIS_CLUSTER_NODES } : {}),
    ...extra,
  };
}

export function testConfig(prefix: string, dataDir: string, extra: Record<string, string> = {}): Config {
  return loadConfig(testEnv(prefix, dataDir, extra));
}

export function token(userId: string, expiresInS = 3600): string {
  return signToken(TEST_SECRET, userId, { expiresInS });
}

/** Deletes every key under the prefix (never FLUSHALL: other files share this Redis). */
export async function dropPrefix(prefix: string, url = REDIS_URL): Promise<void> {
  if (REDIS_CLUSTER_NODES && url === REDIS_URL) {
    const cluster = new Cluster(clusterSeeds());
    try {
      await cluster.ping();
      // Each master holds its own slots: scan each one.
      for (const node of cluster.nodes("master")) await dropOn(node, prefix);
    } finally {
      cluster.disconnect();
    }
    return;
  }
  const redis = new Redis(url);
  try {
    await dropOn(redis, prefix);
  } finally {
    redis.disconnect();
  }
}

async function dropOn(redis: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
    cursor = next;
    // One DEL per key: on a cluster node, keys of one DEL must share a slot.
    await Promise.all(keys.map((k) => redis.del(k)));
  } while (cursor !== "0");
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
