import { type Keys, presenceBucket, type RedisClient } from "../redis/redis.ts";

/**
 * Which of these users have a socket on a live node now: the one reading of presence, for the
 * presence endpoint and for workers, which never host sockets. A user listed in their bucket's
 * online index is online while some node heartbeats in that bucket: a dead node's users are
 * taken off by the next beat of a live one, and with no live node at all nobody is online.
 */
export async function onlineUsers(redis: RedisClient, keys: Keys, userIds: string[]): Promise<Set<string>> {
  if (userIds.length === 0) return new Set();
  const buckets = [...new Set(userIds.map(presenceBucket))];
  // One command per user and per bucket (different slots on a Cluster), pipelined.
  const [listed, latest] = await Promise.all([
    Promise.all(userIds.map((u) => redis.zscore(keys.presenceOnline(presenceBucket(u)), u))),
    Promise.all(buckets.map((b) => redis.zrange(keys.presenceNodes(b), "-1", "-1", "WITHSCORES"))),
  ]);
  const now = Date.now();
  const live = new Set(buckets.filter((_, i) => Number(latest[i]?.[1] ?? 0) > now));
  return new Set(userIds.filter((u, i) => listed[i] !== null && live.has(presenceBucket(u))));
}
