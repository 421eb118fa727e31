import { Redis, type RedisOptions } from "ioredis";

/**
 * Connections follow BullMQ's production advice: the API fails fast while Redis is away
 * (no offline queue, so a request gets 503 instead of hanging), workers wait forever.
 */
export type RedisRole = "api" | "worker" | "blocking" | "subscriber";

export function createRedis(url: string, role: RedisRole, name: string): Redis {
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
  return new Redis(url, { ...base, ...byRole[role] });
}

/**
 * Key builder: every key is `<REDIS_PREFIX>:<family>:<part>|<part>...`. The prefix has no ":"
 * (config), family names are fixed words without ":" or "|", and no id charset contains "|"
 * (ids are validated before they get here; #key refuses a stray one anyway). So the family is
 * always the second ":"-segment and the parts split unambiguously: no input can produce a key
 * of another family, or another key of the same family (test/unit/keys.test.ts).
 */
export class Keys {
  readonly prefix: string;
  constructor(prefix: string) {
    this.prefix = prefix;
  }
  #key(family: string, ...parts: string[]): string {
    for (const p of parts) {
      if (p.length === 0 || p.includes("|")) throw new Error(`invalid key part for ${family}`);
    }
    return parts.length === 0 ? `${this.prefix}:${family}` : `${this.prefix}:${family}:${parts.join("|")}`;
  }
  /** Cached member set of a room (plus an empty-string marker: loaded). */
  members(roomId: string): string {
    return this.#key("members", roomId);
  }
  /** Held while one membership change of the room runs (RoomLocks). */
  roomLock(roomId: string): string {
    return this.#key("room-lock", roomId);
  }
  /** Invalidation counter of a room's member cache. */
  membersGen(roomId: string): string {
    return this.#key("members-gen", roomId);
  }
  seq(roomId: string): string {
    return this.#key("seq", roomId);
  }
  /**
   * The highest seq and rev of the room's work that has left pending (hash: seq, rev): a
   * re-seed never goes below it, even when the store read it relies on is a moment old.
   */
  counterFloor(roomId: string): string {
    return this.#key("floor", roomId);
  }
  /** The room's revision counter: every change in the room takes the next value. */
  rev(roomId: string): string {
    return this.#key("rev", roomId);
  }
  idempotency(senderId: string, clientId: string): string {
    return this.#key("idem", senderId, clientId);
  }
  pendingRoom(roomId: string): string {
    return this.#key("pending-room", roomId);
  }
  pendingMessage(messageId: string): string {
    return this.#key("pending-msg", messageId);
  }
  /** The prefix of pendingMessage keys, for the accept script to derive a replay's key. */
  get pendingMessagePrefix(): string {
    return `${this.#key("pending-msg")}:`;
  }
  /** Accept time of every pending message, to rescue ones whose persist job was never queued. */
  pendingIndex(): string {
    return this.#key("pending-index");
  }
  /** Total JSON bytes of pending messages (back-pressure). */
  pendingBytes(): string {
    return this.#key("pending-bytes");
  }
  /** A room's pending message ops, scored by rev (what sync merges beside pending messages). */
  pendingOps(roomId: string): string {
    return this.#key("pending-ops", roomId);
  }
  /** Accept time of every pending op ("<room>|<rev>"), for the rescue sweep. */
  pendingOpsIndex(): string {
    return this.#key("pending-ops-index");
  }
  /**
   * rate-limiter-flexible appends `:<user id>` to this: one family per budget (`rl-send`...),
   * so the user id is the family's only part.
   */
  rateLimitPrefix(budget: string): string {
    if (!/^[a-z_-]+$/.test(budget)) throw new Error(`invalid rate-limit budget ${budget}`);
    return this.#key(`rl-${budget}`);
  }
  /** A user's live sockets (member "<node>|<socket id>"), scored by when each expires without a heartbeat. */
  presenceSockets(userId: string): string {
    return this.#key("presence-sockets", userId);
  }
  /** The prefix of presenceSockets keys and of presenceSeen keys, for the sweep script. */
  get presenceSocketsPrefix(): string {
    return `${this.#key("presence-sockets")}:`;
  }
  get presenceSeenPrefix(): string {
    return `${this.#key("presence-seen")}:`;
  }
  /** Every online user, scored by when their last socket's heartbeat runs out (the sweep's index). */
  presenceOnline(): string {
    return this.#key("presence-online");
  }
  /** When a user was last online (ISO time). */
  presenceSeen(userId: string): string {
    return this.#key("presence-seen", userId);
  }
  /** Set once a push of a message reached a device: a retried notify job never pushes it twice. */
  pushSent(messageId: string, userId: string, deviceId: string): string {
    return this.#key("push-sent", messageId, userId, deviceId);
  }
  /** BullMQ's own keys live under this family. */
  get bullPrefix(): string {
    return this.#key("bull");
  }
  /** The Socket.IO adapter's channels start with this. */
  get socketKey(): string {
    return this.#key("socket.io");
  }
}

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
  redis: Redis,
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
  const problems = await checkDurability(redis);
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
