import { type Keys, presenceBucket, type RedisClient } from "../redis/redis.ts";

/**
 * Which of these users have a live socket on any node now (the presence index: a user's
 * score is when their last heartbeat runs out): the one reading of it, for the presence
 * endpoint and for workers, which never host sockets.
 */
export async function onlineUsers(redis: RedisClient, keys: Keys, userIds: string[]): Promise<Set<string>> {
  if (userIds.length === 0) return new Set();
  // Each user's score in their bucket's index (one command per user, pipelined).
  const scores = await Promise.all(
    userIds.map((u) => redis.zscore(keys.presenceOnline(presenceBucket(u)), u)),
  );
  const now = Date.now();
  return new Set(userIds.filter((_, i) => scores[i] !== null && Number(scores[i]) > now));
}
