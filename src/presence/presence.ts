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

/**
 * Whether a user's sockets key holds a socket of a live node (`nodes`: node → heartbeat expiry).
 * Sockets of a dead node stay until a heartbeat sweeps that node; they count for nothing.
 */
const LIVE = `local function live(sockets, nodes, now)
  for _, m in ipairs(redis.call('ZRANGE', sockets, 0, -1)) do
    local exp = redis.call('ZSCORE', nodes, string.match(m, '^[^|]*'))
    if exp and tonumber(exp) > now then return true end
  end
  return false
end
`;

/**
 * Adds a socket; returns 1 when the user was offline until now. KEYS: sockets, online,
 * node users, nodes. ARGV: member, user, now ms.
 */
const connectScript = new LuaScript(
  4,
  `${LIVE}
local was = live(KEYS[1], KEYS[4], tonumber(ARGV[3]))
redis.call('ZADD', KEYS[1], 0, ARGV[1])
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[2])
if was then return 0 end
return 1`,
);

/**
 * Removes a socket; returns 1 when it was the user's last live one. KEYS: sockets, online,
 * seen, node users, nodes. ARGV: member, user, now iso, node, now ms. A socket member is
 * "<node>|<socket>" and every score is 0, so a node's sockets are the lex range [node| … (node}.
 */
const disconnectScript = new LuaScript(
  5,
  `${LIVE}
redis.call('ZREM', KEYS[1], ARGV[1])
if #redis.call('ZRANGEBYLEX', KEYS[1], '[' .. ARGV[4] .. '|', '(' .. ARGV[4] .. '}', 'LIMIT', 0, 1) == 0 then
  redis.call('SREM', KEYS[4], ARGV[2])
end
if live(KEYS[1], KEYS[5], tonumber(ARGV[5])) then return 0 end
if redis.call('ZREM', KEYS[2], ARGV[2]) == 0 then return 0 end
redis.call('SET', KEYS[3], ARGV[3])
return 1`,
);

/**
 * One node's heartbeat in one presence bucket, and the sweep of dead nodes there. Returns
 * {fresh, gone users...}: fresh is 0 when this node had been taken for dead (it may have been
 * swept: the caller registers its sockets again). A dead node's users go offline exactly once,
 * whichever node sweeps, at most `max` users a beat. KEYS: nodes, online. ARGV: node, expiry,
 * now ms, max, the bucket's sockets / seen / node-users key prefixes, now iso. The per-user and
 * per-node keys derived from the prefixes carry the bucket's tag: one slot.
 */
const heartbeatScript = new LuaScript(
  2,
  `${LIVE}
local now = tonumber(ARGV[3])
local was = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local result = {0}
if was and tonumber(was) > now then result[1] = 1 end
local budget = tonumber(ARGV[4])
for _, node in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3], 'LIMIT', 0, 16)) do
  if budget <= 0 then break end
  local users = redis.call('SPOP', ARGV[7] .. node, budget)
  budget = budget - #users
  for _, user in ipairs(users) do
    local sockets = ARGV[5] .. user
    redis.call('ZREMRANGEBYLEX', sockets, '[' .. node .. '|', '(' .. node .. '}')
    if not live(sockets, KEYS[1], now) and redis.call('ZREM', KEYS[2], user) == 1 then
      redis.call('SET', ARGV[6] .. user, ARGV[8])
      table.insert(result, user)
    end
  end
  if redis.call('EXISTS', ARGV[7] .. node) == 0 then redis.call('ZREM', KEYS[1], node) end
end
return result`,
);

export type PresenceConfig = {
  /** A socket is dropped from presence this long after its node's last heartbeat. */
  ttlMs: number;
  /** How often this node refreshes its sockets and sweeps for dead nodes' users. */
  heartbeatMs: number;
};

/**
 * Presence (API 34): a user is online while at least one socket on a live node is. Each node
 * heartbeats once per bucket, whatever its number of sockets, and each socket is written once
 * when it comes and once when it goes: idle sockets cost Redis nothing. A crashed node's users
 * go offline by themselves: once its heartbeat runs out (`ttlMs`), the next beat of any other
 * node takes them offline exactly once. `presence` events go only to users who share a direct
 * room.
 */
export class Presence {
  readonly #io: ChatServer;
  readonly #redis: RedisClient;
  readonly #keys: Keys;
  readonly #store: Pick<MembersStore, "directPartners" | "shareRoom">;
  readonly #config: PresenceConfig;
  readonly #logger: Logger;
  readonly #node = newId();
  /** This node's sockets: socket id → user id. */
  readonly #local = new Map<string, string>();
  #timer: NodeJS.Timeout | undefined;
  /**
   * Settled by the first beat that reached Redis. Sockets are written only after it: a socket
   * written while its node is not yet listed would read as dead on the other nodes.
   */
  readonly #registered = Promise.withResolvers<void>();

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

  /** Beats at once, again every 100 ms until Redis answers (until then no socket is written), then every `heartbeatMs`. */
  start(): void {
    this.#timer = setInterval(() => void this.#tick(), this.#config.heartbeatMs);
    this.#timer.unref();
    void (async () => {
      while (!(await this.#tick()) && this.#timer !== undefined) await new Promise((r) => setTimeout(r, 100));
    })();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async connected(socketId: string, userId: string): Promise<void> {
    this.#local.set(socketId, userId);
    await this.#register(socketId, userId);
  }

  async disconnected(socketId: string, userId: string): Promise<void> {
    this.#local.delete(socketId);
    await this.#registered.promise;
    const now = new Date();
    const bucket = presenceBucket(userId);
    const last = await disconnectScript.run(
      this.#redis,
      [
        this.#keys.presenceSockets(userId),
        this.#keys.presenceOnline(bucket),
        this.#keys.presenceSeen(userId),
        this.#keys.presenceNodeUsers(bucket, this.#node),
        this.#keys.presenceNodes(bucket),
      ],
      [`${this.#node}|${socketId}`, userId, now.toISOString(), this.#node, now.getTime()],
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

  /** Written in the order called (each waits for the same first beat), so a socket's removal follows its addition. */
  async #register(socketId: string, userId: string): Promise<void> {
    await this.#registered.promise;
    const bucket = presenceBucket(userId);
    const first = await connectScript.run(
      this.#redis,
      [
        this.#keys.presenceSockets(userId),
        this.#keys.presenceOnline(bucket),
        this.#keys.presenceNodeUsers(bucket, this.#node),
        this.#keys.presenceNodes(bucket),
      ],
      [`${this.#node}|${socketId}`, userId, Date.now()],
    );
    if (Number(first) === 1) await this.#announce(userId, { online: true, last_seen_at: null });
  }

  /**
   * This node's heartbeat in every bucket, each sweeping dead nodes there. A bucket where this
   * node had been taken for dead (a pause longer than `ttlMs`, or the first beat) gets its
   * sockets registered again.
   */
  async #tick(): Promise<boolean> {
    try {
      const now = new Date();
      const beats = await Promise.all(
        presenceBuckets().map(
          (b) =>
            heartbeatScript.run(
              this.#redis,
              [this.#keys.presenceNodes(b), this.#keys.presenceOnline(b)],
              [
                this.#node,
                now.getTime() + this.#config.ttlMs,
                now.getTime(),
                500,
                this.#keys.presenceSocketsPrefix(b),
                this.#keys.presenceSeenPrefix(b),
                this.#keys.presenceNodeUsersPrefix(b),
                now.toISOString(),
              ],
            ) as Promise<[number, ...string[]]>,
        ),
      );
      this.#registered.resolve();
      const stale = new Set(presenceBuckets().filter((b) => beats[b]?.[0] === 0));
      if (stale.size > 0) {
        const again = [...this.#local].filter(([, user]) => stale.has(presenceBucket(user)));
        await Promise.all(again.map(([socket, user]) => this.#register(socket, user)));
      }
      for (const [, ...gone] of beats)
        for (const userId of gone)
          await this.#announce(userId, { online: false, last_seen_at: now.toISOString() });
      return true;
    } catch (err) {
      // Redis away: the process's one throttled line says so (RedisErrorLog), not each beat.
      this.#logger[isConnectionDown(err) ? "debug" : "warn"](
        { err: err instanceof Error ? err.message : String(err) },
        "presence heartbeat failed",
      );
      return false;
    }
  }

  async #announce(userId: string, view: PresenceView): Promise<void> {
    const partners = await this.#store.directPartners(userId);
    if (partners.length === 0) return;
    this.#io.to(partners.map(userChannel)).emit("presence", { user_id: userId, ...view });
  }
}
