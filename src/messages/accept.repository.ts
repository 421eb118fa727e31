import { BLOCKED_MARKER } from "../membership/membership.cache.ts";
import { LuaScript } from "../redis/lua-script.ts";
import { type Keys, type RedisClient, roomBucket } from "../redis/redis.ts";
import type { MessageRecord } from "../store/store.ts";
import type { BacklogGauge } from "./backlog.gauge.ts";
import { messageRecordSchema } from "./messages.schemas.ts";

/**
 * The accept step in one round trip: membership (cached set), mentions, idempotency on
 * (room, sender, client_id), the room's next seq and rev, and the pending entries that make the
 * message readable before it is persisted, with its bucket's index entry and byte count. Every
 * key is in the room's bucket slot (redis.ts), so this runs on Redis Cluster too. The message
 * arrives as JSON without seq and rev; the script appends them (a string splice: cjson would
 * turn `[]` into `{}`). The client_id's field holds only the message id: the JSON lives once,
 * in the pending key, and only while pending; a replay's pending key is derived from the room's
 * prefix (its id is only known here). A persisted client_id is in one of the bucket's last
 * three time slices (pending.repository.ts; the slice is taken from Redis TIME, the one clock
 * the clear uses too). Beside the room's zset by seq (history), three small indexes let every
 * reader take only its page: the id by rev (sync), and the seq by sender and, for system
 * messages, by room (unread counts). The clear script removes them with the message.
 */
const acceptScript = new LuaScript(
  11,
  `-- KEYS: members, bucket's pending client_ids, seq, rev, pending room zset, pending message,
--       bucket's pending index, bucket's pending bytes, room's pending revs, room's pending
--       system seqs, sender's pending seqs
-- ARGV: sender, json-without-seq-and-rev, message id, now ms, room's pending msg key prefix,
--       room id, "system" or "", client_id field, bucket's slice key prefix, slice seconds,
--       mentions...
-- A system message tells of a membership change the service has just made: no member checks.
if ARGV[7] ~= 'system' then
  if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
  if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return {1} end
  for i = 11, #ARGV do
    if redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 0 then return {2, ARGV[i]} end
  end
  if redis.call('SISMEMBER', KEYS[1], '${BLOCKED_MARKER}') == 1 then return {7} end
end
local existing = redis.call('HGET', KEYS[2], ARGV[8])
if not existing then
  local slice = math.floor(tonumber(redis.call('TIME')[1]) / tonumber(ARGV[10]))
  for s = slice, slice - 2, -1 do
    existing = redis.call('HGET', ARGV[9] .. s, ARGV[8])
    if existing then break end
  end
end
if existing then
  return {4, existing, redis.call('GET', ARGV[5] .. existing) or ''}
end
if redis.call('EXISTS', KEYS[3]) == 0 or redis.call('EXISTS', KEYS[4]) == 0 then return {3} end
local seq = redis.call('INCR', KEYS[3])
local rev = redis.call('INCR', KEYS[4])
local json = string.sub(ARGV[2], 1, -2) .. ',"seq":' .. seq .. ',"rev":' .. rev .. '}'
-- No expiry while pending: the persist worker's clear starts the idempotency window, so a
-- store outage longer than the window cannot let a replay make a second message.
redis.call('HSET', KEYS[2], ARGV[8], ARGV[3])
redis.call('ZADD', KEYS[5], seq, json)
redis.call('SET', KEYS[6], json)
redis.call('ZADD', KEYS[7], ARGV[4], ARGV[6] .. '|' .. ARGV[3])
redis.call('INCRBY', KEYS[8], #json)
redis.call('ZADD', KEYS[9], rev, ARGV[3])
if ARGV[7] == 'system' then redis.call('ZADD', KEYS[10], seq, seq) end
redis.call('ZADD', KEYS[11], seq, seq)
return {5, seq, rev, #json}`,
);

export type AcceptResult =
  | { kind: "membership_unknown" }
  | { kind: "not_member" }
  | { kind: "mention_not_member"; userId: string }
  | { kind: "counters_missing" }
  | { kind: "backlog_full" }
  /** A direct room whose members have a block between them. */
  | { kind: "blocked" }
  /** The sender used this client_id before: the message if still pending, else only its id. */
  | { kind: "duplicate"; messageId: string; pending: MessageRecord | null }
  | { kind: "accepted"; message: MessageRecord };

export type Unsequenced = Omit<MessageRecord, "seq" | "rev">;

/**
 * Persisted client_ids go to the time slice of their persist, and lookups read the current
 * slice and the two before, so a client_id answers from Redis for between one window (two
 * slices) and one and a half after its persist.
 */
export const idempotencySliceS = (windowS: number): number => Math.ceil(windowS / 2);

/**
 * A client_id's field in its bucket's hashes (Keys.idempotencyPending): room, sender and
 * client_id joined by "|", which no id charset holds (refused anyway), so no two differ only
 * in where a part ends.
 */
export function idempotencyField(roomId: string, senderId: string, clientId: string): string {
  const parts = [roomId, senderId, clientId];
  if (parts.some((p) => p.length === 0 || p.includes("|"))) throw new Error("invalid client_id field part");
  return parts.join("|");
}

export function parseMessageJson(json: string): MessageRecord {
  return messageRecordSchema.parse(JSON.parse(json));
}

export class AcceptRepository {
  readonly #redis: RedisClient;
  readonly #keys: Keys;
  readonly #gauge: BacklogGauge;
  readonly #sliceS: number;

  /**
   * `gauge`: the process's one back-pressure gauge, shared with the op repository;
   * `idemWindowS`: IDEMPOTENCY_TTL_S, which sets the slices the clear writes persisted client_ids to.
   */
  constructor(redis: RedisClient, keys: Keys, gauge: BacklogGauge, idemWindowS: number) {
    this.#redis = redis;
    this.#keys = keys;
    this.#gauge = gauge;
    this.#sliceS = idempotencySliceS(idemWindowS);
  }

  async accept(message: Unsequenced): Promise<AcceptResult> {
    // A system message tells of a change already made in the store: it never waits.
    if (message.type !== "system" && (await this.#gauge.messagesFull())) return { kind: "backlog_full" };
    const k = this.#keys;
    const room = message.room_id;
    const bucket = roomBucket(room);
    // Where to find the message by id while it is pending; written with the script (one round
    // trip, before it) and removed at once unless the message was accepted.
    const pointer = this.#redis.set(k.messageRoom(message.id), room);
    const script = acceptScript.run(
      this.#redis,
      [
        k.members(room),
        k.idempotencyPending(bucket),
        k.seq(room),
        k.rev(room),
        k.pendingRoom(room),
        k.pendingMessage(room, message.id),
        k.pendingIndex(bucket),
        k.pendingBytes(bucket),
        k.pendingRevs(room),
        k.pendingSystem(room),
        k.pendingSent(room, message.sender_id),
      ],
      [
        message.sender_id,
        JSON.stringify(message),
        message.id,
        Date.now(),
        k.pendingMessagePrefix(room),
        room,
        message.type === "system" ? "system" : "",
        idempotencyField(room, message.sender_id, message.client_id),
        k.idempotencySlicePrefix(bucket),
        this.#sliceS,
        ...message.mentions,
      ],
    );
    const [, settled] = await Promise.allSettled([pointer, script]);
    if (settled.status === "rejected") {
      await this.#redis.del(k.messageRoom(message.id)).catch(() => {});
      throw settled.reason;
    }
    const reply = settled.value as [number, (string | number)?, (string | number)?, number?];
    if (reply[0] === 5) this.#gauge.messageAccepted(Number(reply[3] ?? 0));
    else await this.#redis.del(k.messageRoom(message.id)).catch(() => {});
    // The pointer only lets reads by id find the message before it is stored (reads by room
    // never need it). It sits in its own slot: a master that holds it being down must not fail
    // sends to rooms on healthy masters, so its failure is not the send's. A duplicate sets its
    // first message's pointer again, in case that one was lost.
    if (reply[0] === 4 && reply[2])
      await this.#redis.set(k.messageRoom(String(reply[1])), room).catch(() => {});
    await pointer.catch(() => {});
    switch (reply[0]) {
      case 0:
        return { kind: "membership_unknown" };
      case 1:
        return { kind: "not_member" };
      case 2:
        return { kind: "mention_not_member", userId: String(reply[1]) };
      case 3:
        return { kind: "counters_missing" };
      case 4: {
        const json = String(reply[2] ?? "");
        return {
          kind: "duplicate",
          messageId: String(reply[1]),
          pending: json ? parseMessageJson(json) : null,
        };
      }
      case 5:
        // The script stored exactly this object plus seq and rev: no need to parse it back.
        return { kind: "accepted", message: { ...message, seq: Number(reply[1]), rev: Number(reply[2]) } };
      case 7:
        return { kind: "blocked" };
      default:
        throw new Error(`accept script returned ${String(reply[0])}`);
    }
  }
}
