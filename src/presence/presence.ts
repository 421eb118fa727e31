import type { AuthUser } from "../auth/jwt.ts";
import type { PresenceView } from "../contract/views.ts";
import { notFound } from "../kernel/errors.ts";
import { newId } from "../kernel/ids.ts";
import type { Logger } from "../observability/logger.ts";
import { userChannel } from "../realtime/channels.ts";
import type { ChatServer } from "../realtime/socket.server.ts";
import { LuaScript } from "../redis/lua-script.ts";
import { type Keys, presenceBucket, presenceBuckets, type RedisClient } from "../redis/redis.ts";
import { isConnectionDown } from "../redis/redis-errors.ts";
import type { MembersStore } from "../store/store.ts";
import { onlineUsers } from "./online.ts";

/** Adds a socket; returns 1 when the user was offline until now. KEYS: sockets, online. ARGV: member, expiry ms, user, now. */
const connectScript = new LuaScript(
  2,
  `redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])
local was = redis.call('ZCARD', KEYS[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
local best = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[3]) or '0')
if tonumber(ARGV[2]) > best then redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3]) end
if was == 0 then return 1 end
return 0`,
);

/** Removes a socket; returns 1 when it was the user's last. KEYS: sockets, online, seen. ARGV: member, user, now ms, now iso. */
const disconnectScript = new LuaScript(
  3,
  `redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('SET', KEYS[3], ARGV[4])
return 1`,
);

/**
 * Users of one presence bucket whose every socket stopped heartbeating (their node died):
 * each is taken off the bucket's online index exactly once, whichever node sweeps. KEYS:
 * online. ARGV: now ms, max, the bucket's sockets key prefix, its seen key prefix, now iso.
 * The per-user keys derived from the prefixes carry the bucket's tag: one slot.
 */
const sweepScript = new LuaScript(
  1,
  `local users = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local gone = {}
for _, user in ipairs(users) do
  local sockets = ARGV[3] .. user
  redis.call('ZREMRANGEBYSCORE', sockets, '-inf', ARGV[1])
  local left = redis.call('ZRANGE', sockets, -1, -1, 'WITHSCORES')
  if left[2] then
    redis.call('ZADD', KEYS[1], left[2], user)
  else
    redis.call('ZREM', KEYS[1], user)
    redis.call('SET', ARGV[4] .. user, ARGV[5])
    table.insert(gone, user)
  end
end
return gone`,
);

export type PresenceConfig = {
  /** A socket is dropped from presence this long after its node's last heartbeat. */
  ttlMs: number;
  /** How often this node refreshes its sockets and sweeps for dead nodes' users. */
  heartbeatMs: number;
};

/**
 * Presence (API 34): a user is online while at least one socket on any node is. Each node
 * keeps its sockets' entries alive in Redis with a heartbeat, so a crashed node's users go
 * offline by themselves within `ttlMs` (the sweep, run by every node, takes each such user
 * off exactly once). `presence` events go only to users who share a direct room.
 */
export class Presence {
  readonly #io: ChatServer;
  readonly #redis: RedisClient;
  readonly #keys: Keys;
  readonly #store: Pick<MembersStore, "directPartners" | "shareRoom">;
  readonly #config: PresenceConfig;
  readonly #logger: Logger;
  readonly #node = newId();
  /** This node's sockets: member → user id. */
  readonly #local = new Map<string, string>();
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: {
    io: ChatServer;
    redis: RedisClient;
    keys: Keys;
    store: Pick<MembersStore, "directPartners" | "shareRoom">;
    config: PresenceConfig;
    logger: Logger;
  }) {
    this.#io = deps.io;
    this.#redis = deps.redis;
    this.#keys = deps.keys;
    this.#store = deps.store;
    this.#config = deps.config;
    this.#logger = deps.logger;
  }

  start(): void {
    this.#timer = setInterval(() => void this.#tick(), this.#config.heartbeatMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async connected(socketId: string, userId: string): Promise<void> {
    const member = `${this.#node}|${socketId}`;
    this.#local.set(member, userId);
    const now = Date.now();
    const first = await connectScript.run(
      this.#redis,
      [this.#keys.presenceSockets(userId), this.#keys.presenceOnline(presenceBucket(userId))],
      [member, now + this.#config.ttlMs, userId, now],
    );
    if (Number(first) === 1) await this.#announce(userId, { online: true, last_seen_at: null });
  }

  async disconnected(socketId: string, userId: string): Promise<void> {
    const member = `${this.#node}|${socketId}`;
    this.#local.delete(member);
    const now = new Date();
    const last = await disconnectScript.run(
      this.#redis,
      [
        this.#keys.presenceSockets(userId),
        this.#keys.presenceOnline(presenceBucket(userId)),
        this.#keys.presenceSeen(userId),
      ],
      [member, userId, now.getTime(), now.toISOString()],
    );
    if (Number(last) === 1) await this.#announce(userId, { online: false, last_seen_at: now.toISOString() });
  }

  /** GET /users/:id/presence: only for someone sharing a room with the user (else 404). */
  async get(viewer: AuthUser, userId: string): Promise<PresenceView> {
    if (viewer.id !== userId && !(await this.#store.shareRoom(viewer.id, userId))) throw notFound("user");
    const [online, seen] = await Promise.all([
      onlineUsers(this.#redis, this.#keys, [userId]).then((set) => set.has(userId)),
      this.#redis.get(this.#keys.presenceSeen(userId)),
    ]);
    return { online, last_seen_at: online ? null : seen };
  }

  /** Refreshes this node's sockets, then sweeps users whose sockets all ran out. */
  async #tick(): Promise<void> {
    try {
      const expiry = Date.now() + this.#config.ttlMs;
      // One command per key (keys of different users sit in different slots), pipelined.
      const refreshes: Promise<unknown>[] = [];
      const users = new Set<string>();
      for (const [member, userId] of this.#local) {
        refreshes.push(this.#redis.zadd(this.#keys.presenceSockets(userId), expiry, member));
        refreshes.push(this.#redis.pexpireat(this.#keys.presenceSockets(userId), expiry));
        users.add(userId);
      }
      for (const userId of users) {
        refreshes.push(
          this.#redis.zadd(this.#keys.presenceOnline(presenceBucket(userId)), "GT", expiry, userId),
        );
      }
      await Promise.all(refreshes);
      const now = new Date();
      const swept = await Promise.all(
        presenceBuckets().map(
          (b) =>
            sweepScript.run(
              this.#redis,
              [this.#keys.presenceOnline(b)],
              [
                now.getTime(),
                500,
                this.#keys.presenceSocketsPrefix(b),
                this.#keys.presenceSeenPrefix(b),
                now.toISOString(),
              ],
            ) as Promise<string[]>,
        ),
      );
      const gone = swept.flat();
      for (const userId of gone)
        await this.#announce(userId, { online: false, last_seen_at: now.toISOString() });
    } catch (err) {
      // Redis away: the process's one throttled line says so (RedisErrorLog), not each beat.
      this.#logger[isConnectionDown(err) ? "debug" : "warn"](
        { err: err instanceof Error ? err.message : String(err) },
        "presence heartbeat failed",
      );
    }
  }

  async #announce(userId: string, view: PresenceView): Promise<void> {
    const partners = await this.#store.directPartners(userId);
    if (partners.length === 0) return;
    this.#io.to(partners.map(userChannel)).emit("presence", { user_id: userId, ...view });
  }
}
