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
 * The part of a key Redis Cluster hashes to find its slot: the first `{...}` if not empty, else
 * the whole key. Keys with the same part share a slot, found without hashing anything.
 */
function hashedPart(key: string): string {
  const open = key.indexOf("{");
  const close = open === -1 ? -1 : key.indexOf("}", open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

/**
 * GET of many keys as one MGET per hash tag, sent together (Redis Cluster refuses an MGET
 * across slots; keys of one room bucket share a tag), the values in the keys' order. Far
 * cheaper than a GET per key: a user's 500 rooms cost at most 64 commands, not 500.
 */
export async function mgetBySlot(redis: RedisClient, keys: string[]): Promise<(string | null)[]> {
  const groups = new Map<string, { at: number[]; keys: string[] }>();
  keys.forEach((key, i) => {
    const part = hashedPart(key);
    const group = groups.get(part);
    if (group) {
      group.at.push(i);
      group.keys.push(key);
    } else groups.set(part, { at: [i], keys: [key] });
  });
  const values: (string | null)[] = keys.map(() => null);
  await Promise.all(
    [...groups.values()].map(async (group) => {
      const got = await redis.mget(group.keys);
      group.at.forEach((i, k) => {
        values[i] = got[k] ?? null;
      });
    }),
  );
  return values;
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
const PRESENCE_BUCKETS = 16;

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
  /**
   * Idempotency lives in hashes per room bucket (in the room's slot), not in a key per message:
   * a key with its TTL costs ~100 B more than a hash field (bench/README.md). The field names
   * the room, sender and client_id (`idempotencyField`, accept.repository.ts); the value is the
   * message id. While the message is pending its field is here (no expiry); once persisted it
   * moves to the time slice of the persist, which expires as a whole (pending.repository.ts).
   */
  idempotencyPending(bucket: number): string {
    return this.#tagged("idem-pending", `{r${checkBucket(bucket, ROOM_BUCKETS)}}`);
  }
  /** Persisted client_ids of a bucket by time slice: `<prefix>:idem:{r<n>}|<slice>`. */
  idempotencySlice(bucket: number, slice: number): string {
    if (!Number.isInteger(slice) || slice < 0) throw new Error(`invalid idempotency slice ${slice}`);
    return `${this.idempotencySlicePrefix(bucket)}${slice}`;
  }
  /** The start of a bucket's slice keys: the scripts append the slice they take from Redis TIME. */
  idempotencySlicePrefix(bucket: number): string {
    return `${this.#tagged("idem", `{r${checkBucket(bucket, ROOM_BUCKETS)}}`)}|`;
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
  /** A room's pending message ids scored by rev: sync reads a page of them by revision range. */
  pendingRevs(roomId: string): string {
    return this.#roomKey("pending-revs", roomId);
  }
  /** One message's pending ops scored by rev: a view lays only its own ops over stored state. */
  pendingMessageOps(roomId: string, messageId: string): string {
    return this.#roomKey("pending-msg-ops", roomId, messageId);
  }
  /** Seqs of a room's pending system messages (unread counts leave them out). */
  pendingSystem(roomId: string): string {
    return this.#roomKey("pending-system", roomId);
  }
  /** Seqs of one sender's pending messages in a room (sending implies reading: unread counts). */
  pendingSent(roomId: string, senderId: string): string {
    return this.#roomKey("pending-sent", roomId, senderId);
  }
  /**
   * rate-limiter-flexible appends `:<user id>` to this: one family per budget (`rl-send`...),
   * so the user id is the family's only part. One key per user: no tag needed.
   */
  rateLimitPrefix(budget: string): string {
    if (!/^[a-z_-]+$/.test(budget)) throw new Error(`invalid rate-limit budget ${budget}`);
    return this.#key(`rl-${budget}`);
  }
  /** A user's live sockets (members "<node>|<socket id>", all scored 0: ordered by node). */
  presenceSockets(userId: string): string {
    return this.#tagged("presence-sockets", `{p${presenceBucket(userId)}}`, userId);
  }
  /** The start of a bucket's presenceSockets keys, for the heartbeat script. */
  presenceSocketsPrefix(bucket: number): string {
    return `${this.#tagged("presence-sockets", `{p${checkBucket(bucket, PRESENCE_BUCKETS)}}`)}|`;
  }
  /** The start of a bucket's presenceSeen keys, for the heartbeat script. */
  presenceSeenPrefix(bucket: number): string {
    return `${this.#tagged("presence-seen", `{p${checkBucket(bucket, PRESENCE_BUCKETS)}}`)}|`;
  }
  /** A bucket's users with a socket on some node (score 0); live only while a node of the bucket heartbeats. */
  presenceOnline(bucket: number): string {
    return this.#tagged("presence-online", `{p${checkBucket(bucket, PRESENCE_BUCKETS)}}`);
  }
  /** The API nodes, scored by when each one's last heartbeat runs out (one copy per bucket: its slot). */
  presenceNodes(bucket: number): string {
    return this.#tagged("presence-nodes", `{p${checkBucket(bucket, PRESENCE_BUCKETS)}}`);
  }
  /** The users of a bucket with a socket on one node: what the node's death takes offline. */
  presenceNodeUsers(bucket: number, node: string): string {
    return this.#tagged("presence-node-users", `{p${checkBucket(bucket, PRESENCE_BUCKETS)}}`, node);
  }
  /** The start of a bucket's presenceNodeUsers keys, for the heartbeat script. */
  presenceNodeUsersPrefix(bucket: number): string {
    return `${this.#tagged("presence-node-users", `{p${checkBucket(bucket, PRESENCE_BUCKETS)}}`)}|`;
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
  /** A browser's Bull Board session (admin-auth.ts), by the SHA-256 of its cookie (hex). */
  boardSession(idHash: string): string {
    if (!/^[0-9a-f]{64}$/.test(idHash)) throw new Error("invalid board session hash");
    return this.#key("board-session", idHash);
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

/** What start asks of Redis, from the configuration (REDIS_* in config.ts). */
export type DurabilityPolicy = {
  production: boolean;
  /** REDIS_WAIT_REPLICAS. */
  waitReplicas: number;
  /** REDIS_CLUSTER_NODES is set: Redis Cluster promotes a replica by itself (automatic failover). */
  cluster: boolean;
  /** REDIS_ALLOW_LOSS_ON_OS_CRASH. */
  allowLossOnOsCrash: boolean;
};

export function durabilityPolicy(config: {
  NODE_ENV: string;
  REDIS_WAIT_REPLICAS: number;
  REDIS_ALLOW_LOSS_ON_OS_CRASH: boolean;
  redis: RedisTarget;
}): DurabilityPolicy {
  return {
    production: config.NODE_ENV === "production",
    waitReplicas: config.REDIS_WAIT_REPLICAS,
    cluster: config.redis.clusterNodes !== null,
    allowLossOnOsCrash: config.REDIS_ALLOW_LOSS_ON_OS_CRASH,
  };
}

/** One master's settings that acknowledged work depends on, or why they could not be read. */
export type DurabilitySettings =
  | { node: string; appendonly: string; appendfsync: string; maxmemoryPolicy: string }
  | { node: string; unreadable: string };

/**
 * Production refuses a Redis that may lose acknowledged work: without AOF (a restart loses it),
 * with eviction (keys dropped under memory pressure), or, unless REDIS_ALLOW_LOSS_ON_OS_CRASH,
 * one whose AOF is not on disk when a send is answered (appendfsync everysec keeps the last
 * second in the OS page cache: a kill -9 of Redis loses nothing, an OS crash or power loss of
 * its machine loses it) and no replica holds it with a failover to promote that replica (WAIT
 * >= 1 on Redis Cluster; a lone primary that restarts from its own truncated AOF drags its
 * replica back with it). A Redis that hides CONFIG cannot be verified: refused likewise, under
 * the same opt-in. Development only warns about AOF and eviction.
 */
export async function requireDurableRedis(
  redis: RedisClient,
  policy: DurabilityPolicy,
  warn: (message: string) => void,
  waitMs = 10_000,
): Promise<void> {
  if (redis.status !== "ready") {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, waitMs);
      redis.once("ready", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  if (redis.status !== "ready") {
    if (policy.production) {
      throw new Error(
        `Redis is not answering at ${redisWhere(redis)} after ${waitMs / 1000} s; production start checks its durability settings first`,
      );
    }
    return;
  }
  const settings = await Promise.all(masters(redis).map((node) => readDurability(node)));
  const { always, osCrash } = durabilityProblems(settings, policy);
  if (!policy.production) {
    for (const p of always) warn(`redis: ${p}`);
    return;
  }
  const refused = policy.allowLossOnOsCrash ? always : [...always, ...osCrash];
  if (refused.length > 0) {
    throw new Error(`Redis is not set up for production:\n  - ${refused.join("\n  - ")}`);
  }
  for (const p of osCrash) warn(`REDIS_ALLOW_LOSS_ON_OS_CRASH=true, so starting anyway: ${p}`);
}

/** Where a connection goes, for messages: host:port (one Redis) or the cluster's seeds. */
function redisWhere(redis: RedisClient): string {
  if (redis instanceof Cluster) return "the Redis Cluster nodes (REDIS_CLUSTER_NODES)";
  return `${redis.options.host}:${redis.options.port} (REDIS_URL)`;
}

async function readDurability(node: Redis): Promise<DurabilitySettings> {
  const name = `${node.options.host}:${node.options.port}`;
  try {
    const get = async (key: string) => ((await node.config("GET", key)) as string[])[1] ?? "";
    return {
      node: name,
      appendonly: await get("appendonly"),
      appendfsync: await get("appendfsync"),
      maxmemoryPolicy: await get("maxmemory-policy"),
    };
  } catch (err) {
    return { node: name, unreadable: err instanceof Error ? err.message : String(err) };
  }
}

const OPT_IN = "REDIS_ALLOW_LOSS_ON_OS_CRASH=true";

/**
 * `always`: refused in production whatever the opt-in (and warned about in development);
 * `osCrash`: what an OS crash or power loss of a Redis machine can lose, refused in production
 * unless REDIS_ALLOW_LOSS_ON_OS_CRASH. One line per problem: the setting, the risk, the ways out.
 */
export function durabilityProblems(
  settings: DurabilitySettings[],
  policy: Omit<DurabilityPolicy, "production" | "allowLossOnOsCrash">,
): { always: string[]; osCrash: string[] } {
  const always: string[] = [];
  const osCrash: string[] = [];
  // Acknowledged on WAIT's replicas, and Redis Cluster promotes one of them when a master dies.
  const replicated = policy.waitReplicas >= 1 && policy.cluster;
  for (const s of settings) {
    if ("unreadable" in s) {
      osCrash.push(
        `CONFIG GET is refused by ${s.node} (${s.unreadable}): its appendonly, appendfsync and maxmemory-policy cannot be verified; allow CONFIG GET for this user, or set ${OPT_IN} to start unverified`,
      );
      continue;
    }
    if (s.appendonly !== "yes") {
      always.push(
        `appendonly is ${s.appendonly} on ${s.node}: a Redis restart loses acknowledged messages not yet stored; set appendonly yes`,
      );
    }
    if (s.maxmemoryPolicy !== "noeviction") {
      always.push(
        `maxmemory-policy is ${s.maxmemoryPolicy} on ${s.node}: Redis may evict queue and pending keys; set maxmemory-policy noeviction`,
      );
    }
    if (s.appendonly === "yes" && s.appendfsync !== "always" && !replicated) {
      const window = s.appendfsync === "everysec" ? "about the last second" : "up to the last ~30 s";
      const replicas =
        policy.waitReplicas >= 1
          ? `REDIS_WAIT_REPLICAS=${policy.waitReplicas} without automatic failover (one Redis at REDIS_URL; Sentinel is not supported: a crashed primary restarts from its own AOF and its replica re-syncs from it)`
          : "REDIS_WAIT_REPLICAS=0";
      osCrash.push(
        `appendfsync is ${s.appendfsync} on ${s.node} with ${replicas}: an OS crash or power loss of that machine loses ${window} of acknowledged messages; set appendfsync always, or use Redis Cluster (REDIS_CLUSTER_NODES) with REDIS_WAIT_REPLICAS>=1, or accept the risk with ${OPT_IN}`,
      );
    }
  }
  return { always, osCrash };
}
