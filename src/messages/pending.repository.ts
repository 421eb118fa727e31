import { LuaScript } from "../redis/lua-script.ts";
import { type Keys, type RedisClient, roomBucket, roomBuckets } from "../redis/redis.ts";
import type { HistoryQuery, MessageOp, MessageRecord } from "../store/store.ts";
import { idempotencyField, idempotencySliceS, parseMessageJson } from "./accept.repository.ts";
import { readBacklog } from "./backlog.gauge.ts";
import { messageOpSchema } from "./messages.schemas.ts";

/**
 * Clears persisted (or rolled back) messages and ops of one bucket in one command (its keys
 * share the bucket's slot), moves each persisted message's client_id from the bucket's pending
 * hash (no expiry) to the current time slice (a rolled-back one's is dropped: the client_id is
 * free again), gives back the messages' bytes to the bucket's backlog, and raises each room's
 * counter floor to what left pending (room-counters uses it so a re-seed racing this clear
 * cannot hand out these seqs or revs again). Idempotent. A slice goes as a whole once no
 * lookup reads it (three slices on): one hash field per message, not a key with a TTL, which
 * is what keeps a persisted message under 256 B of Redis (bench/README.md).
 * KEYS: pending index, pending bytes, ops index, pending client_ids; per message its room zset,
 * its key, its room's rev index, system seqs and its sender's seqs; per op its room's op zset
 * and its message's; per room its counter floor.
 * ARGV: slice seconds, #messages, #ops, "1" to keep the client_ids (persisted) or "0" (rolled
 * back), slice key prefix; per message index member, seq, id, client_id field; per op rev,
 * index member; per room its highest seq, highest rev.
 */
const clearScript = new LuaScript(
  "variable",
  `local n, m = tonumber(ARGV[2]), tonumber(ARGV[3])
local sliceS = tonumber(ARGV[1])
local slice = math.floor(tonumber(redis.call('TIME')[1]) / sliceS)
local sliceKey = ARGV[5] .. slice
local kept = false
local a, k = 5, 4
for i = 1, n do
  local member, seq, id, field = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local key = KEYS[k + 2]
  local bytes = redis.call('STRLEN', key)
  redis.call('ZREMRANGEBYSCORE', KEYS[k + 1], seq, seq)
  redis.call('DEL', key)
  -- Only this message's own pending client_id: a replayed clear must neither bring one back
  -- nor take a later message's (the client_id of a rolled-back one may be used again).
  if redis.call('HGET', KEYS[4], field) == id then
    redis.call('HDEL', KEYS[4], field)
    if ARGV[4] == '1' then
      redis.call('HSET', sliceKey, field, id)
      kept = true
    end
  end
  redis.call('ZREM', KEYS[k + 3], id)
  redis.call('ZREM', KEYS[k + 4], seq)
  redis.call('ZREM', KEYS[k + 5], seq)
  redis.call('ZREM', KEYS[1], member)
  if bytes > 0 then redis.call('DECRBY', KEYS[2], bytes) end
  a, k = a + 4, k + 5
end
if kept then
  -- No lookup reads a slice three slices on. UNLINK frees a large one in a background thread,
  -- where its expiry would free it in Redis' main thread (lazyfree-lazy-expire is off by
  -- default): a slice of a busy bucket holds hundreds of thousands of fields. The expiry, one
  -- slice later, is for a bucket that went quiet.
  redis.call('EXPIREAT', sliceKey, (slice + 4) * sliceS)
  redis.call('UNLINK', ARGV[5] .. (slice - 3))
end
for i = 1, m do
  local rev, member = ARGV[a + 1], ARGV[a + 2]
  redis.call('ZREMRANGEBYSCORE', KEYS[k + 1], rev, rev)
  redis.call('ZREMRANGEBYSCORE', KEYS[k + 2], rev, rev)
  redis.call('ZREM', KEYS[3], member)
  a, k = a + 2, k + 2
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

/** A message's member in its bucket's pending index: room and id. */
const messageIndexMember = (m: Pick<MessageRecord, "room_id" | "id">) => `${m.room_id}|${m.id}`;

/** An op's member in the ops index: room and rev identify it. */
const opIndexMember = (op: Pick<MessageOp, "room_id" | "rev">) => `${op.room_id}|${op.rev}`;

function parseOpJson(json: string): MessageOp {
  return messageOpSchema.parse(JSON.parse(json));
}

/**
 * What is accepted but not yet persisted (read-your-writes): per room a sorted set of
 * messages by seq and one of ops by rev, per message a key by id and a set of its ops, and two
 * indexes by accept time for the rescue sweep. Every read takes one page: a seq window
 * (history), a rev window (sync, by the room's rev index), or one message's ops (views), never
 * the room's whole backlog, which grows while the store is down (up to PENDING_MAX_*). Reads go
 * through MessageReader, which merges this with the store.
 */
export class PendingRepository {
  readonly #redis: RedisClient;
  readonly #keys: Keys;
  readonly #sliceS: number;

  /** idemWindowS: how long a persisted message's client_id answers from Redis at least (then from the store). */
  constructor(redis: RedisClient, keys: Keys, idemWindowS: number) {
    this.#redis = redis;
    this.#keys = keys;
    this.#sliceS = idempotencySliceS(idemWindowS);
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

  /** A pending message by id alone: its room comes from the pointer the accept wrote. */
  async get(messageId: string): Promise<MessageRecord | null> {
    const roomId = await this.#redis.get(this.#keys.messageRoom(messageId));
    if (!roomId) return null;
    const json = await this.#redis.get(this.#keys.pendingMessage(roomId, messageId));
    return json ? parseMessageJson(json) : null;
  }

  /**
   * A page of the room's pending changes with a rev in (afterRev, uptoRev], oldest first: at
   * most `limit` messages (by the rev index) and `limit` ops, and `through`, the rev up to which
   * both lists are complete (uptoRev unless one was cut at `limit`). A message that leaves
   * pending between the index read and its own is left out: it was stored first.
   */
  async changes(
    roomId: string,
    afterRev: number,
    uptoRev: number,
    limit: number,
  ): Promise<{ messages: MessageRecord[]; ops: MessageOp[]; through: number }> {
    const k = this.#keys;
    const window = [`(${afterRev}`, String(uptoRev), "WITHSCORES", "LIMIT", "0", String(limit)] as const;
    const [ids, ops] = await Promise.all([
      this.#redis.zrangebyscore(k.pendingRevs(roomId), ...window),
      this.#redis.zrangebyscore(k.pendingOps(roomId), ...window),
    ]);
    // WITHSCORES: member, score, member, score...
    const reached = (rows: string[]) => (rows.length / 2 >= limit ? Number(rows.at(-1)) : uptoRev);
    const through = Math.min(reached(ids), reached(ops));
    const idList = ids.filter((_, i) => i % 2 === 0);
    const jsons =
      idList.length > 0 ? await this.#redis.mget(idList.map((id) => k.pendingMessage(roomId, id))) : [];
    return {
      messages: jsons.flatMap((j) => (j === null ? [] : [parseMessageJson(j)])),
      ops: ops.filter((_, i) => i % 2 === 0).map(parseOpJson),
      through,
    };
  }

  /** The pending ops of each message, oldest rev first (each message's own set: nothing else is read). */
  async opsOf(messages: Pick<MessageRecord, "room_id" | "id">[]): Promise<Map<string, MessageOp[]>> {
    const rows = await Promise.all(
      messages.map((m) => this.#redis.zrange(this.#keys.pendingMessageOps(m.room_id, m.id), "0", "-1")),
    );
    return new Map(messages.map((m, i) => [m.id, (rows[i] ?? []).map(parseOpJson)]));
  }

  /**
   * Messages and ops accepted at least `olderThanMs` ago that are still pending (their job may
   * never have been queued), from every bucket's indexes.
   */
  async stale(olderThanMs: number, max: number): Promise<{ messages: MessageRecord[]; ops: MessageOp[] }> {
    const cutoff = String(Date.now() - olderThanMs);
    const found = await Promise.all(roomBuckets().map((b) => this.#staleIn(b, cutoff, max)));
    return {
      messages: found.flatMap((f) => f.messages).slice(0, max),
      ops: found.flatMap((f) => f.ops).slice(0, max),
    };
  }

  async #staleIn(
    bucket: number,
    cutoff: string,
    max: number,
  ): Promise<{ messages: MessageRecord[]; ops: MessageOp[] }> {
    const k = this.#keys;
    const [members, opMembers] = await Promise.all([
      this.#redis.zrangebyscore(k.pendingIndex(bucket), "-inf", cutoff, "LIMIT", 0, max),
      this.#redis.zrangebyscore(k.pendingOpsIndex(bucket), "-inf", cutoff, "LIMIT", 0, max),
    ]);
    const messages: MessageRecord[] = [];
    const gone: string[] = [];
    const jsons = await Promise.all(
      members.map((member) => {
        const [roomId = "", id = ""] = member.split("|");
        return this.#redis.get(k.pendingMessage(roomId, id));
      }),
    );
    jsons.forEach((j, i) => {
      if (j === null) gone.push(members[i] ?? "");
      else messages.push(parseMessageJson(j));
    });
    if (gone.length > 0) await this.#redis.zrem(k.pendingIndex(bucket), ...gone);
    const ops: MessageOp[] = [];
    const goneOps: string[] = [];
    for (const member of opMembers) {
      const [roomId = "", rev = ""] = member.split("|");
      const rows = await this.#redis.zrangebyscore(k.pendingOps(roomId), rev, rev);
      if (rows[0]) ops.push(parseOpJson(rows[0]));
      else goneOps.push(member);
    }
    if (goneOps.length > 0) await this.#redis.zrem(k.pendingOpsIndex(bucket), ...goneOps);
    return { messages, ops };
  }

  /** Counts and bytes waiting for the persist pool, over every bucket (metrics). */
  async backlog(): Promise<{ messages: number; ops: number; bytes: number; oldestAgeMs: number }> {
    const k = this.#keys;
    const [counts, firsts] = await Promise.all([
      readBacklog(this.#redis, k),
      Promise.all(
        roomBuckets().flatMap((b) => [
          this.#redis.zrange(k.pendingIndex(b), "0", "0", "WITHSCORES"),
          this.#redis.zrange(k.pendingOpsIndex(b), "0", "0", "WITHSCORES"),
        ]),
      ),
    ]);
    const scores = firsts
      .map((f) => f[1])
      .filter((v): v is string => v !== undefined)
      .map(Number);
    const oldestAgeMs = scores.length > 0 ? Math.max(0, Date.now() - Math.min(...scores)) : 0;
    return { ...counts, oldestAgeMs };
  }

  /** Persisted: the store answers for these now. One clear per bucket (one slot each). */
  async clear(messages: MessageRecord[], ops: MessageOp[] = []): Promise<void> {
    await this.#clear(messages, ops, true);
  }

  /** `keepClientIds`: persisted (the window starts), or rolled back (the client_id is free). */
  async #clear(messages: MessageRecord[], ops: MessageOp[], keepClientIds: boolean): Promise<void> {
    if (messages.length === 0 && ops.length === 0) return;
    const byBucket = new Map<number, { messages: MessageRecord[]; ops: MessageOp[] }>();
    const of = (roomId: string) => {
      const b = roomBucket(roomId);
      let entry = byBucket.get(b);
      if (!entry) {
        entry = { messages: [], ops: [] };
        byBucket.set(b, entry);
      }
      return entry;
    };
    for (const m of messages) of(m.room_id).messages.push(m);
    for (const op of ops) of(op.room_id).ops.push(op);
    await Promise.all(
      [...byBucket].map(([b, entry]) => this.#clearBucket(b, entry.messages, entry.ops, keepClientIds)),
    );
    // The pointers go last: a reader finds the message pending, or stored, never neither. One
    // DEL for the batch on one Redis; a cluster refuses keys of several slots in one command,
    // and the pointers carry no tag, so there it is one per pointer.
    const pointers = messages.map((m) => this.#keys.messageRoom(m.id));
    if (this.#redis.isCluster) await Promise.all(pointers.map((key) => this.#redis.del(key)));
    else if (pointers.length > 0) await this.#redis.del(...pointers);
  }

  async #clearBucket(
    bucket: number,
    messages: MessageRecord[],
    ops: MessageOp[],
    keepClientIds: boolean,
  ): Promise<void> {
    const k = this.#keys;
    const keys = [
      k.pendingIndex(bucket),
      k.pendingBytes(bucket),
      k.pendingOpsIndex(bucket),
      k.idempotencyPending(bucket),
    ];
    const args: (string | number)[] = [
      this.#sliceS,
      messages.length,
      ops.length,
      keepClientIds ? "1" : "0",
      k.idempotencySlicePrefix(bucket),
    ];
    const floors = new Map<string, { seq: number; rev: number }>();
    const raise = (roomId: string, seq: number, rev: number) => {
      const f = floors.get(roomId) ?? { seq: 0, rev: 0 };
      floors.set(roomId, { seq: Math.max(f.seq, seq), rev: Math.max(f.rev, rev) });
    };
    for (const m of messages) {
      keys.push(
        k.pendingRoom(m.room_id),
        k.pendingMessage(m.room_id, m.id),
        k.pendingRevs(m.room_id),
        k.pendingSystem(m.room_id),
        k.pendingSent(m.room_id, m.sender_id),
      );
      args.push(messageIndexMember(m), m.seq, m.id, idempotencyField(m.room_id, m.sender_id, m.client_id));
      raise(m.room_id, m.seq, m.rev);
    }
    for (const op of ops) {
      keys.push(k.pendingOps(op.room_id), k.pendingMessageOps(op.room_id, op.message_id));
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
    await this.#clear(messages, [], false);
  }
}
