import type { Redis } from "ioredis";
import { LuaScript } from "../redis/lua-script.ts";
import type { Keys } from "../redis/redis.ts";
import type { HistoryQuery, MessageOp, MessageRecord } from "../store/store.ts";
import { parseMessageJson } from "./accept.repository.ts";
import { messageOpSchema } from "./messages.schemas.ts";

/**
 * Clears persisted (or rolled back) messages and ops in one command, starts each message's
 * idempotency window (its key has no expiry while pending), gives back the messages' bytes to
 * the backlog, and raises each room's counter floor to what left pending (room-counters uses
 * it so a re-seed racing this clear cannot hand out these seqs or revs again). Idempotent.
 * KEYS: pending index, pending bytes, ops index; per message its room zset, its key, its
 * idempotency key; per op its room's op zset; per room its counter floor.
 * ARGV: idempotency ttl, #messages, #ops; per message id, seq; per op rev, index member;
 * per room its highest seq, highest rev.
 */
const clearScript = new LuaScript(
  "variable",
  `local n, m = tonumber(ARGV[2]), tonumber(ARGV[3])
local a, k = 3, 3
for i = 1, n do
  local id, seq = ARGV[a + 1], ARGV[a + 2]
  local key = KEYS[k + 2]
  local bytes = redis.call('STRLEN', key)
  redis.call('ZREMRANGEBYSCORE', KEYS[k + 1], seq, seq)
  redis.call('DEL', key)
  redis.call('EXPIRE', KEYS[k + 3], ARGV[1])
  redis.call('ZREM', KEYS[1], id)
  if bytes > 0 then redis.call('DECRBY', KEYS[2], bytes) end
  a, k = a + 2, k + 3
end
for i = 1, m do
  local rev, member = ARGV[a + 1], ARGV[a + 2]
  redis.call('ZREMRANGEBYSCORE', KEYS[k + 1], rev, rev)
  redis.call('ZREM', KEYS[3], member)
  a, k = a + 2, k + 1
end
while k < #KEYS do
  local floor = KEYS[k + 1]
  local seq, rev = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  if seq > tonumber(redis.call('HGET', floor, 'seq') or '0') then redis.call('HSET', floor, 'seq', seq) end
  if rev > tonumber(redis.call('HGET', floor, 'rev') or '0') then redis.call('HSET', floor, 'rev', rev) end
  a, k = a + 2, k + 1
end
return n`,
);

/** An op's member in the ops index: room and rev identify it. */
export const opIndexMember = (op: Pick<MessageOp, "room_id" | "rev">) => `${op.room_id}|${op.rev}`;

export function parseOpJson(json: string): MessageOp {
  return messageOpSchema.parse(JSON.parse(json));
}

/**
 * What is accepted but not yet persisted (read-your-writes): per room a sorted set of
 * messages by seq and one of ops by rev, per message a key by id, and two indexes by accept
 * time for the rescue sweep. Reads go through MessageReader, which merges this with the store.
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

  /** Every pending op of a room, oldest rev first (a handful: ops stay pending for milliseconds). */
  async ops(roomId: string): Promise<MessageOp[]> {
    const rows = await this.#redis.zrange(this.#keys.pendingOps(roomId), "0", "-1");
    return rows.map(parseOpJson);
  }

  /** Messages and ops accepted at least `olderThanMs` ago that are still pending (their job may never have been queued). */
  async stale(olderThanMs: number, max: number): Promise<{ messages: MessageRecord[]; ops: MessageOp[] }> {
    const k = this.#keys;
    const cutoff = Date.now() - olderThanMs;
    const [ids, opMembers] = await Promise.all([
      this.#redis.zrangebyscore(k.pendingIndex(), "-inf", String(cutoff), "LIMIT", 0, max),
      this.#redis.zrangebyscore(k.pendingOpsIndex(), "-inf", String(cutoff), "LIMIT", 0, max),
    ]);
    const messages: MessageRecord[] = [];
    if (ids.length > 0) {
      const jsons = await this.#redis.mget(ids.map((id) => k.pendingMessage(id)));
      const gone = ids.filter((_, i) => jsons[i] === null);
      if (gone.length > 0) await this.#redis.zrem(k.pendingIndex(), ...gone);
      for (const j of jsons) if (j !== null) messages.push(parseMessageJson(j));
    }
    const ops: MessageOp[] = [];
    const goneOps: string[] = [];
    for (const member of opMembers) {
      const [roomId = "", rev = ""] = member.split("|");
      const rows = await this.#redis.zrangebyscore(k.pendingOps(roomId), rev, rev);
      if (rows[0]) ops.push(parseOpJson(rows[0]));
      else goneOps.push(member);
    }
    if (goneOps.length > 0) await this.#redis.zrem(k.pendingOpsIndex(), ...goneOps);
    return { messages, ops };
  }

  /** Counts and bytes waiting for the persist pool (metrics, back-pressure). */
  async backlog(): Promise<{ messages: number; ops: number; bytes: number; oldestAgeMs: number }> {
    const k = this.#keys;
    const [messages, ops, bytes, oldest, oldestOp] = await Promise.all([
      this.#redis.zcard(k.pendingIndex()),
      this.#redis.zcard(k.pendingOpsIndex()),
      this.#redis.get(k.pendingBytes()),
      this.#redis.zrange(k.pendingIndex(), "0", "0", "WITHSCORES"),
      this.#redis.zrange(k.pendingOpsIndex(), "0", "0", "WITHSCORES"),
    ]);
    const firsts = [oldest[1], oldestOp[1]].filter((v): v is string => v !== undefined).map(Number);
    const oldestAgeMs = firsts.length > 0 ? Math.max(0, Date.now() - Math.min(...firsts)) : 0;
    return { messages, ops, bytes: Number(bytes ?? 0), oldestAgeMs };
  }

  /** Persisted: the store answers for these now. */
  async clear(messages: MessageRecord[], ops: MessageOp[] = []): Promise<void> {
    if (messages.length === 0 && ops.length === 0) return;
    const k = this.#keys;
    const keys = [k.pendingIndex(), k.pendingBytes(), k.pendingOpsIndex()];
    const args: (string | number)[] = [this.#idemTtlS, messages.length, ops.length];
    const floors = new Map<string, { seq: number; rev: number }>();
    const raise = (roomId: string, seq: number, rev: number) => {
      const f = floors.get(roomId) ?? { seq: 0, rev: 0 };
      floors.set(roomId, { seq: Math.max(f.seq, seq), rev: Math.max(f.rev, rev) });
    };
    for (const m of messages) {
      keys.push(k.pendingRoom(m.room_id), k.pendingMessage(m.id), k.idempotency(m.sender_id, m.client_id));
      args.push(m.id, m.seq);
      raise(m.room_id, m.seq, m.rev);
    }
    for (const op of ops) {
      keys.push(k.pendingOps(op.room_id));
      args.push(op.rev, opIndexMember(op));
      raise(op.room_id, 0, op.rev);
    }
    for (const [roomId, f] of floors) {
      keys.push(k.counterFloor(roomId));
      args.push(f.seq, f.rev);
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
