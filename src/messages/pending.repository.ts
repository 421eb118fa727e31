import type { Redis } from "ioredis";
import { LuaScript } from "../redis/lua-script.ts";
import type { Keys } from "../redis/redis.ts";
import type { HistoryQuery, MessageRecord } from "../store/store.ts";
import { parseMessageJson } from "./accept.repository.ts";

/**
 * Clears a whole batch in one command (a MULTI would send four per message), and starts each
 * message's idempotency window: its key has no expiry while the message is pending.
 * KEYS: pending index, then per message its room set, its key and its idempotency key;
 * ARGV: idempotency ttl, then per message id, seq.
 */
const clearScript = new LuaScript(
  "variable",
  `local n = (#ARGV - 1) / 2
for k = 1, n do
  local id, seq = ARGV[2 * k], ARGV[2 * k + 1]
  redis.call('ZREMRANGEBYSCORE', KEYS[3 * k - 1], seq, seq)
  redis.call('DEL', KEYS[3 * k])
  redis.call('EXPIRE', KEYS[3 * k + 1], ARGV[1])
  redis.call('ZREM', KEYS[1], id)
end
return n`,
);

/**
 * Accepted-but-not-yet-persisted messages (read-your-writes). Per room a sorted set scored
 * by seq, per message a key by id, and one index by accept time for the rescue sweep.
 */
export class PendingRepository {
  readonly #redis: Redis;
  readonly #keys: Keys;
  readonly #idemTtlS: number;

  /** idemTtlS: how long a persisted message's client_id answers from Redis (then from the store). */
  constructor(redis: Redis, keys: Keys, idemTtlS: number) {
    this.#redis = redis;
    this.#keys = keys;
    this.#idemTtlS = idemTtlS;
  }

  /** The same window the store is asked for: ascending, at most `limit`. */
  async range(roomId: string, q: HistoryQuery): Promise<MessageRecord[]> {
    const key = this.#keys.pendingRoom(roomId);
    const upper = q.beforeSeq === undefined ? "+inf" : `(${q.beforeSeq}`;
    if (q.afterSeq !== undefined) {
      const rows = await this.#redis.zrangebyscore(key, `(${q.afterSeq}`, upper, "LIMIT", 0, q.limit);
      return rows.map(parseMessageJson);
    }
    const rows = await this.#redis.zrevrangebyscore(key, upper, "-inf", "LIMIT", 0, q.limit);
    return rows.map(parseMessageJson).reverse();
  }

  async get(messageId: string): Promise<MessageRecord | null> {
    const json = await this.#redis.get(this.#keys.pendingMessage(messageId));
    return json ? parseMessageJson(json) : null;
  }

  /** Messages accepted at least `olderThanMs` ago that are still pending (their job may never have been queued). */
  async stale(olderThanMs: number, max: number): Promise<MessageRecord[]> {
    const index = this.#keys.pendingIndex();
    const ids = await this.#redis.zrangebyscore(index, "-inf", Date.now() - olderThanMs, "LIMIT", 0, max);
    if (ids.length === 0) return [];
    const jsons = await this.#redis.mget(ids.map((id) => this.#keys.pendingMessage(id)));
    const gone = ids.filter((_, i) => jsons[i] === null);
    if (gone.length > 0) await this.#redis.zrem(index, ...gone);
    return jsons.filter((j): j is string => j !== null).map(parseMessageJson);
  }

  /** Persisted: the store answers for these now. */
  async clear(messages: MessageRecord[]): Promise<void> {
    if (messages.length === 0) return;
    const keys = [this.#keys.pendingIndex()];
    const args: (string | number)[] = [this.#idemTtlS];
    for (const m of messages) {
      keys.push(
        this.#keys.pendingRoom(m.room_id),
        this.#keys.pendingMessage(m.id),
        this.#keys.idempotency(m.sender_id, m.client_id),
      );
      args.push(m.id, m.seq);
    }
    await clearScript.run(this.#redis, keys, args);
  }

  /** Rolled back: gone from pending, and the client_id is free again so a retry makes a new message. */
  async rollback(messages: MessageRecord[]): Promise<void> {
    if (messages.length === 0) return;
    await this.clear(messages);
    const tx = this.#redis.multi();
    for (const m of messages) tx.del(this.#keys.idempotency(m.sender_id, m.client_id));
    await tx.exec();
  }
}
