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

export function isRedisDown(redis: Redis): boolean {
  return redis.status !== "ready";
}

/** Key builder so every key carries REDIS_PREFIX (several stacks can share one Redis). */
export class Keys {
  readonly prefix: string;
  constructor(prefix: string) {
    this.prefix = prefix;
  }
  members(roomId: string): string {
    return `${this.prefix}:members:${roomId}`;
  }
  seq(roomId: string): string {
    return `${this.prefix}:seq:${roomId}`;
  }
  idempotency(senderId: string, clientId: string): string {
    return `${this.prefix}:idem:${senderId}|${clientId}`; // "|" is in neither charset: no ambiguity
  }
  pendingRoom(roomId: string): string {
    return `${this.prefix}:pending:room:${roomId}`;
  }
  pendingMessage(messageId: string): string {
    return `${this.prefix}:pending:msg:${messageId}`;
  }
  /** Accept time of every pending message, to rescue ones whose persist job was never queued. */
  pendingIndex(): string {
    return `${this.prefix}:pending:index`;
  }
  get bullPrefix(): string {
    return `${this.prefix}:bull`;
  }
  get socketKey(): string {
    return `${this.prefix}:socket.io`;
  }
}

/**
 * The no-loss guarantee needs Redis to keep what it acknowledged (AOF) and never evict queue
 * keys. Warn at start when it does not; managed services that hide CONFIG are left alone.
 */
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
