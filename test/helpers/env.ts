import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { signToken } from "../../src/auth/jwt.ts";
import { type Config, loadConfig } from "../../src/config/config.ts";

export const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
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
  const redis = new Redis(url);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
