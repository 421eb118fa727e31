import calculateSlot from "cluster-key-slot";
import { Cluster, Redis, type RedisOptions } from "ioredis";

/** One Redis (REDIS_URL) or a Redis Cluster (REDIS_CLUSTER_NODES): every command site takes either. */
export type RedisClient = Redis | Cluster;

/** Where Redis is: `clusterNodes` (host:port seeds) selects Redis Cluster. */
export type RedisTarget = { url: string; clusterNodes: { host: string; port: number }[] | null };

/**
 * Connections follow BullMQ's production advice: the API fails fast while Redis is away
 * (no offline queue, so a request gets 503 instead of hanging), workers wait forever.
 */
export type RedisRole = "api" | "worker" | "blocking" | "subscriber";

export function createRedis(target: RedisTarget, role: RedisRole, name: string): RedisClient {
  const base: RedisOptions = {
    connectionName: name,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    lazyConnect: false,
  };
  // Auto-pipelining sends the commands of one event-loop tick in one write: on the hot paths
  // the syscalls, not Redis, are the cost. Never on BullMQ's blocking worker connection.
  const byRole: Record<RedisRole, RedisOptions> = {
    api: {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      enableAutoPipelining: true,
    },
    worker: { maxRetriesPerRequest: null, enableAutoPipelining: true },
    blocking: { maxRetriesPerRequest: null },
    subscriber: { maxRetriesPerRequest: null },
  };
  const options = { ...base, ...byRole[role] };
  if (!target.clusterNodes) return new Redis(target.url, options);
  const { enableOfflineQueue, enableAutoPipelining, ...nodeOptions } = options;
  return new Cluster(target.clusterNodes, {
    redisOptions: nodeOptions,
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    ...(enableAutoPipelining === undefined ? {} : { enableAutoPipelining }),
    // Sharded pub/sub (SSUBSCRIBE) for the Socket.IO adapter: one subscriber per master.
    shardedSubscribers: role === "subscriber",
    clusterRetryStrategy: (times) => Math.min(times * 200, 2000),
    // A failover moves slots: find the new master at once rather than after the refresh period.
    slotsRefreshTimeout: 2000,
  });
}

/** Every master of a cluster, or the one Redis: what durability checks and test clean-ups visit. */
export function masters(redis: RedisClient): Redis[] {
  return redis instanceof Cluster ? redis.nodes("master") : [redis];
}

/**
 * Hash-tag buckets. Redis Cluster runs a script or transaction only when all its keys hash to
 * one slot, and takes the slot from the key's `{tag}`. Every key of a room (membership, seq,
 * rev, pending entries, idempotency) carries its room's bucket tag `{r<n>}`, and so do the
 * pending indexes and byte counters of that bucket: the accept script, the clear script and the
 * rescue sweep each stay within one slot, and the indexes are atomic with what they index.
 * The buckets spread rooms over the cluster (no slot takes every message); 64 keeps the
 * sweeps and the backlog gauge, which visit every bucket, cheap. Presence keys of a user carry
 * the user's bucket `{p<n>}` likewise. On a single Redis the tags change nothing.
 */
export const ROOM_BUCKETS = 64;
export const PRESENCE_BUCKETS = 16;

export function roomBucket(roomId: string): number {
  return calculateSlot(roomId) % ROOM_BUCKETS;
}

export function presenceBucket(userId: string): number {
  return calculateSlot(userId) % PRESENCE_BUCKETS;
}

/**
 * Key builder: every key is `<REDIS_PREFIX>:<family>:<part>|<part>...`. The prefix has no ":"
 * (config), family names are fixed words without ":" or "|", and no id charset contains "|",
 * "{" or "}" (ids are validated before they get here; #key refuses a stray one anyway). So the
 * family is always the second ":"-segment, the parts split unambiguously, and the only hash
 * tag is the bucket's: no input can produce a key of another family, another key of the same
 * family, or a key in another slot (test/unit/keys.test.ts).
 */
export class Keys {
  readonly prefix: string;
  constructor(prefix: string) {
    this.prefix = prefix;
  }
  #parts(family: string, parts: string[]): string {
    for (const p of parts) {
      if (p.length === 0 || /[|{}]/.test(p)) throw new Error(`invalid key part for ${family}`);
    }
    return parts.join("|");
  }
  #key(family: string, ...parts: string[]): string {
    return parts.length === 0
      ? `${this.prefix}:${family}`
      : `${this.prefix}:${family}:${this.#parts(family, parts)}`;
  }
  /** `<prefix>:<family>:{r<n>}|<room>|<parts>`: a key of one room, in its bucket's slot. */
  #roomKey(family: string, roomId: string, ...parts: string[]): string {
    return this.#tagged(family, `{r${roomBucket(roomId)}}`, roomId, ...parts);
  }
  /** The tag is built here from a number, never from input. */
  #tagged(family: string, tag: string, ...parts: string[]): string {
    return `${this.prefix}:${family}:${tag}${parts.length === 0 ? "" : `|${this.#parts(family, parts)}`}`;
  }
  /** Cached member set of a room (plus an empty-string marker: loaded). */
  members(roomId: string): string {
    return this.#roomKey("members", roomId);
  }
  /** Held while one membership change of the room runs (RoomLocks). */
  roomLock(roomId: string): string {
    return this.#roomKey("room-lock", roomId);
  }
  /** Invalidation counter of a room's member cache. */
  membersGen(roomId: string): string {
    return this.#roomKey("members-gen", roomId);
  }
  seq(roomId: string): string {
    return this.#roomKey("seq", roomId);
  }
  /**
   * The highest seq and rev of the room's work that has left pending (hash: seq, rev): a
   * re-seed never goes below it, even when the store read it relies on is a moment old.
   */
  counterFloor(roomId: string): string {
    return this.#roomKey("floor", roomId);
  }
  /** The room's revision counter: every change in the room takes the next value. */
  rev(roomId: string): string {
    return this.#roomKey("rev", roomId);
  }
  /** A sender's client_id in one room (idempotency is per room: the key lives in the room's slot). */
  idempotency(roomId: string, senderId: string, clientId: string): string {
    return this.#roomKey("idem", roomId, senderId, clientId);
  }
  pendingRoom(roomId: string): string {
    return this.#roomKey("pending-room", roomId);
  }
  pendingMessage(roomId: string, messageId: string): string {
    return this.#roomKey("pending-msg", roomId, messageId);
  }
  /** The start of a room's pendingMessage keys, for the accept script to derive a replay's key. */
  pendingMessagePrefix(roomId: string): string {
    return `${this.#roomKey("pending-msg", roomId)}|`;
  }
  /**
   * Where a pending message is (its room), by id: reads by message id find it before it is
   * stored. Outside any bucket (one small key per pending message, spread by its own hash).
   */
  messageRoom(messageId: string): string {
    return this.#key("msg-room", messageId);
  }
  /** Accept time of every pending message of a bucket's rooms ("<room>|<id>"), for the rescue sweep and the backlog. */
  pendingIndex(bucket: number): string {
    return this.#tagged("pending-index", `{r${checkBucket(bucket, ROOM_BUCKETS)}}`);
  }
  /** Total JSON bytes of a bucket's pending messages (back-pressure). */
  pendingBytes(bucket: number): string {
    return this.#tagged("pending-bytes", `{r${checkBucket(bucket, ROOM_BUCKETS)}}`);
  }
  /** A room's pending message ops, scored by rev (what sync merges beside pending messages). */
  pendingOps(roomId: string): string {
    return this.#roomKey("pending-ops", roomId);
  }
  /** Accept time of every pending op of a bucket's rooms ("<room>|<rev>"), for the rescue sweep. */
  pendingOpsIndex(bucket: number): string {
    return this.#tagged("pending-ops-index", `{r${checkBucket(bucket, ROOM_BUCKETS)}}`);
  }
  /**
   * rate-limiter-flexible appends `:<user id>` to this: one family per budget (`rl-send`...),
   * so the user id is the family's only part. One key per user: no tag needed.
   */
  rateLimitPrefix(budget: string): string {
    if (!/^[a-z_-]+$/.test(budget)) throw new Error(`invalid rate-limit budget ${budget}`);
    return this.#key(`rl-${budget}`);
  }
  /** A user's live sockets (member "<node>|<socket id>"), scored by when each expires without a heartbeat. */
  presenceSockets(userId: string): string {
    return this.#tagged("presence-sockets", `{p${presenceBucket(userId)}}`, userId);
  }
  /** The start of a bucket's presenceSockets keys, for the sweep script. */
  presenceSocketsPrefix(bucket: number): string {
    return `${this.#tagged("presence-sockets", `{p${checkBucket(bucket, PRESENCE_BUCKETS)}}`)}|`;
  }
  /** The start of a bucket's presenceSeen keys, for the sweep script. */
  presenceSeenPrefix(bucket: number): string {
    return `${this.#tagged("presence-seen", `{p${checkBucket(bucket, PRESENCE_BUCKETS)}}`)}|`;
  }
  /** A bucket's online users, scored by when their last socket's heartbeat runs out (the sweep's index). */
  presenceOnline(bucket: number): string {
    return this.#tagged("presence-online", `{p${checkBucket(bucket, PRESENCE_BUCKETS)}}`);
  }
  /** When a user was last online (ISO time). */
  presenceSeen(userId: string): string {
    return this.#tagged("presence-seen", `{p${presenceBucket(userId)}}`, userId);
  }
  /** Written by ReplicaWait in a slot before it waits there (tag: a room bucket, "r<n>"). */
  waitMark(tag: string): string {
    if (!/^r\d+$/.test(tag)) throw new Error(`invalid wait-mark tag ${tag}`);
    return this.#tagged("wait-mark", `{${tag}}`);
  }
  /** Set once a push of a message reached a device: a retried notify job never pushes it twice. */
  pushSent(messageId: string, userId: string, deviceId: string): string {
    return this.#key("push-sent", messageId, userId, deviceId);
  }
  /**
   * BullMQ's keys of one queue: `<prefix>:bull:{<prefix>.<queue>}:<queue>:...`. BullMQ's scripts
   * touch many keys of a queue at once, so a queue lives in one slot (its tag), and each queue
   * in its own, so queues spread over the cluster.
   */
  bullPrefix(queue: string): string {
    if (!/^[a-z-]+$/.test(queue)) throw new Error(`invalid queue name ${queue}`);
    return `${this.#key("bull")}:{${this.prefix}.${queue}}`;
  }
  /** The Socket.IO adapter's channels start with this. */
  get socketKey(): string {
    return this.#key("socket.io");
  }
}

function checkBucket(bucket: number, count: number): number {
  if (!Number.isInteger(bucket) || bucket < 0 || bucket >= count) throw new Error(`invalid bucket ${bucket}`);
  return bucket;
}

/** Every bucket number, for the sweeps and gauges that visit them all. */
export const roomBuckets = (): number[] => Array.from({ length: ROOM_BUCKETS }, (_, i) => i);
export const presenceBuckets = (): number[] => Array.from({ length: PRESENCE_BUCKETS }, (_, i) => i);

/**
 * The no-loss guarantee needs Redis to keep what it acknowledged (AOF) and never evict queue
 * keys. Warn at start when it does not; managed services that hide CONFIG are left alone.
 */
/**
 * Production refuses to run on a Redis that may lose or evict accepted work (the problems of
 * checkDurability, once connected); development only warns. A Redis that forbids CONFIG GET
 * (some managed services) cannot be checked: that is logged, not refused.
 */
export async function requireDurableRedis(
  redis: RedisClient,
  production: boolean,
  warn: (message: string) => void,
): Promise<void> {
  if (redis.status !== "ready") {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 10_000);
      redis.once("ready", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  if (redis.status !== "ready") {
    if (production) throw new Error("Redis is not reachable; cannot check its durability settings");
    return;
  }
  const problems = (await Promise.all(masters(redis).map((node) => checkDurability(node)))).flat();
  if (problems.length > 0 && production) {
    throw new Error(
      `Redis is not set up for production (set appendonly yes and maxmemory-policy noeviction):\n  - ${problems.join("\n  - ")}`,
    );
  }
  for (const p of problems) warn(`redis: ${p}`);
}

export async function checkDurability(redis: Redis): Promise<string[]> {
  try {
    const [, appendonly] = (await redis.config("GET", "appendonly")) as [string, string];
    const [, policy] = (await redis.config("GET", "maxmemory-policy")) as [string, string];
    const problems: string[] = [];
    if (appendonly !== "yes")
      problems.push("appendonly is off: a Redis restart loses accepted messages not yet persisted");
    if (policy !== "noeviction")
      problems.push(`maxmemory-policy is ${policy}: Redis may evict queue and pending keys`);
    return problems;
  } catch {
    return [];
  }
}
