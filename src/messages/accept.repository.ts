import type { Redis } from "ioredis";
import { LuaScript } from "../redis/lua-script.ts";
import type { Keys } from "../redis/redis.ts";
import type { MessageRecord } from "../store/store.ts";
import { messageRecordSchema } from "./messages.schemas.ts";

/**
 * The accept step in one round trip: membership (cached set), mentions, idempotency on
 * (sender, client_id), the room's next seq, and the pending entries that make the message
 * readable before it is persisted. The message arrives as JSON without its seq; the script
 * appends it (string splice, as cjson would turn `[]` into `{}`). A replay's pending key is
 * derived inside the script from the prefix (its id is only known there): under Redis Cluster
 * these keys will need one hash tag per room.
 */
const acceptScript = new LuaScript(
  6,
  `-- KEYS: members, idempotency, seq, pending room zset, pending message, pending index
-- ARGV: sender, json-without-seq, message id, now ms, pending msg key prefix, mentions...
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return {1} end
for i = 6, #ARGV do
  if redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 0 then return {2, ARGV[i]} end
end
local existing = redis.call('GET', KEYS[2])
if existing then
  -- The id is the JSON's first field and a ULID: no decoder needed (nor trusted with the text).
  local id = string.match(existing, '^{"id":"([0-9A-Z]+)"')
  return {4, existing, redis.call('EXISTS', ARGV[5] .. id)}
end
if redis.call('EXISTS', KEYS[3]) == 0 then return {3} end
local seq = redis.call('INCR', KEYS[3])
local json = string.sub(ARGV[2], 1, -2) .. ',"seq":' .. seq .. '}'
-- No expiry while pending: the persist worker's clear starts the idempotency window, so a
-- store outage longer than the window cannot let a replay make a second message.
redis.call('SET', KEYS[2], json)
redis.call('ZADD', KEYS[4], seq, json)
redis.call('SET', KEYS[5], json)
redis.call('ZADD', KEYS[6], ARGV[4], ARGV[3])
return {5, seq}`,
);

/** Re-seeds a missing counter above everything the store or the pending set has seen. */
const seedScript = new LuaScript(
  2,
  `local top = tonumber(ARGV[1])
local p = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if p[2] and tonumber(p[2]) > top then top = tonumber(p[2]) end
redis.call('SET', KEYS[1], top, 'NX')
return top`,
);

export type AcceptResult =
  | { kind: "membership_unknown" }
  | { kind: "not_member" }
  | { kind: "mention_not_member"; userId: string }
  | { kind: "seq_missing" }
  | { kind: "duplicate"; message: MessageRecord; pending: boolean }
  | { kind: "accepted"; message: MessageRecord };

export type Unsequenced = Omit<MessageRecord, "seq">;

export function parseMessageJson(json: string): MessageRecord {
  return messageRecordSchema.parse(JSON.parse(json));
}

export class AcceptRepository {
  readonly #redis: Redis;
  readonly #keys: Keys;
  constructor(redis: Redis, keys: Keys) {
    this.#redis = redis;
    this.#keys = keys;
  }

  async accept(message: Unsequenced): Promise<AcceptResult> {
    const k = this.#keys;
    const reply = (await acceptScript.run(
      this.#redis,
      [
        k.members(message.room_id),
        k.idempotency(message.sender_id, message.client_id),
        k.seq(message.room_id),
        k.pendingRoom(message.room_id),
        k.pendingMessage(message.id),
        k.pendingIndex(),
      ],
      [
        message.sender_id,
        JSON.stringify(message),
        message.id,
        Date.now(),
        k.pendingMessagePrefix,
        ...message.mentions,
      ],
    )) as [number, (string | number)?, number?];
    switch (reply[0]) {
      case 0:
        return { kind: "membership_unknown" };
      case 1:
        return { kind: "not_member" };
      case 2:
        return { kind: "mention_not_member", userId: String(reply[1]) };
      case 3:
        return { kind: "seq_missing" };
      case 4:
        return { kind: "duplicate", message: parseMessageJson(String(reply[1])), pending: reply[2] === 1 };
      case 5:
        // The script stored exactly this object plus its seq: no need to parse it back.
        return { kind: "accepted", message: { ...message, seq: Number(reply[1]) } };
      default:
        throw new Error(`accept script returned ${String(reply[0])}`);
    }
  }

  /**
   * Re-seeds a missing seq counter above every message the room has. Pending is read before
   * the store: a message that leaves pending in between was stored before it left (the
   * persist worker clears pending only after its commit), so one of the two reads sees it.
   * The other order could miss it and hand out its seq again.
   */
  async seedSeq(roomId: string, readStoreMax: () => Promise<number>): Promise<void> {
    const top = await this.#redis.zrevrange(this.#keys.pendingRoom(roomId), 0, 0, "WITHSCORES");
    const pendingMax = Number(top[1] ?? 0);
    const storeMax = await readStoreMax();
    await seedScript.run(
      this.#redis,
      [this.#keys.seq(roomId), this.#keys.pendingRoom(roomId)],
      [Math.max(pendingMax, storeMax)],
    );
  }
}
