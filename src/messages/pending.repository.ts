import type { Redis } from "ioredis";
import { LuaScript } from "../redis/lua-script.ts";
import type { Keys } from "../redis/redis.ts";
import type { HistoryQuery, MessageRecord } from "../store/store.ts";
import { parseMessageJson } from "./accept.repository.ts";

/**
 * Clears a whole batch in one command (a MULTI would send three per message).
 * KEYS: pending index, then per message its room set and its key; ARGV: per message id, seq.
 */
const clearScript = new LuaScript(
  "variable",
  `for i = 1, #ARGV, 2 do
  local k = (i + 1) / 2
  redis.call('ZREMRANGEBYSCORE', KEYS[2 * k], ARGV[i + 1], ARGV[i + 1])
  redis.call('DEL', KEYS[2 * k + 1])
  redis.call('ZREM', KEYS[1], ARGV[i])
end
return #ARGV / 2`,
);

/**
 * Accepted-but-not-yet-persisted messages (read-your-writes). Per room a sorted set scored
 * by seq, per message a key by id, and one index by accept time for the rescue sweep.
 */
export class PendingRepository {
  readonly #redis: Redis;
  readonly #keys: Keys;

  constructor(redis: Redis, keys: Keys) {
    this.#redis = redis;
    this.#keys = keys;
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
    const args: (string | number)[] = [];
    for (const m of messages) {
      keys.push(this.#keys.pendingRoom(m.room_id), this.#keys.pendingMessage(m.id));
      args.push(m.id, m.seq);
    }
    await clearScript.run(this.#redis, keys, args);
  }

  /** Rolled back: gone from pending, and the client_id is free again so a retry makes a new message. */
  async rollback(messages: MessageRecord[]): Promise<void> {
    if (messages.length === 0) return;
    const tx = this.#redis.multi();
    for (const m of messages) tx.del(this.#keys.idempotency(m.sender_id, m.client_id));
    await tx.exec();
    await this.clear(messages);
  }
}
