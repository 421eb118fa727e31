import type { Redis } from "ioredis";
import type { Keys } from "../redis/redis.ts";

/**
 * Which of these users have a live socket on any node now (the presence index: a user's
 * score is when their last heartbeat runs out): the one reading of it, for the presence
 * endpoint and for workers, which never host sockets.
 */
export async function onlineUsers(redis: Redis, keys: Keys, userIds: string[]): Promise<Set<string>> {
  if (userIds.length === 0) return new Set();
  const scores = await redis.zmscore(keys.presenceOnline(), ...userIds);
  const now = Date.now();
  return new Set(userIds.filter((_, i) => scores[i] !== null && Number(scores[i]) > now));
}
