import type { Redis } from "ioredis";
import { LuaScript } from "../redis/lua-script.ts";
import type { Keys } from "../redis/redis.ts";
import { BLOCKED_MARKER } from "../rooms/membership.cache.ts";
import type { MessageRecord } from "../store/store.ts";
import { messageRecordSchema } from "./messages.schemas.ts";

/**
 * The accept step in one round trip: membership (cached set), mentions, idempotency on
 * (sender, client_id), back-pressure, the room's next seq and rev, and the pending entries
 * that make the message readable before it is persisted. The message arrives as JSON without
 * seq and rev; the script appends them (a string splice: cjson would turn `[]` into `{}`).
 * The idempotency key holds only the message id: the JSON lives once, in the pending key,
 * and only while pending. A replay's pending key is derived inside the script from the
 * prefix (its id is only known there): under Redis Cluster these keys need one hash tag per room.
 */
const acceptScript = new LuaScript(
  8,
  `-- KEYS: members, idempotency, seq, rev, pending room zset, pending message, pending index, pending bytes
-- ARGV: sender, json-without-seq-and-rev, message id, now ms, pending msg key prefix,
--       max pending messages, max pending bytes, "system" or "", mentions...
-- A system message tells of a membership change the service has just made: no member checks.
if ARGV[8] ~= 'system' then
  if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
  if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return {1} end
  for i = 9, #ARGV do
    if redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 0 then return {2, ARGV[i]} end
  end
  if redis.call('SISMEMBER', KEYS[1], '${BLOCKED_MARKER}') == 1 then return {7} end
end
local existing = redis.call('GET', KEYS[2])
if existing then
  return {4, existing, redis.call('GET', ARGV[5] .. existing) or ''}
end
if redis.call('EXISTS', KEYS[3]) == 0 or redis.call('EXISTS', KEYS[4]) == 0 then return {3} end
if redis.call('ZCARD', KEYS[7]) >= tonumber(ARGV[6]) or tonumber(redis.call('GET', KEYS[8]) or '0') >= tonumber(ARGV[7]) then
  return {6}
end
local seq = redis.call('INCR', KEYS[3])
local rev = redis.call('INCR', KEYS[4])
local json = string.sub(ARGV[2], 1, -2) .. ',"seq":' .. seq .. ',"rev":' .. rev .. '}'
-- No expiry while pending: the persist worker's clear starts the idempotency window, so a
-- store outage longer than the window cannot let a replay make a second message.
redis.call('SET', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[5], seq, json)
redis.call('SET', KEYS[6], json)
redis.call('ZADD', KEYS[7], ARGV[4], ARGV[3])
redis.call('INCRBY', KEYS[8], #json)
return {5, seq, rev}`,
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
export type Backlog = { maxMessages: number; maxBytes: number };

export function parseMessageJson(json: string): MessageRecord {
  return messageRecordSchema.parse(JSON.parse(json));
}

export class AcceptRepository {
  readonly #redis: Redis;
  readonly #keys: Keys;
  readonly #backlog: Backlog;

  constructor(redis: Redis, keys: Keys, backlog: Backlog) {
    this.#redis = redis;
    this.#keys = keys;
    this.#backlog = backlog;
  }

  async accept(message: Unsequenced): Promise<AcceptResult> {
    const k = this.#keys;
    const reply = (await acceptScript.run(
      this.#redis,
      [
        k.members(message.room_id),
        k.idempotency(message.sender_id, message.client_id),
        k.seq(message.room_id),
        k.rev(message.room_id),
        k.pendingRoom(message.room_id),
        k.pendingMessage(message.id),
        k.pendingIndex(),
        k.pendingBytes(),
      ],
      [
        message.sender_id,
        JSON.stringify(message),
        message.id,
        Date.now(),
        k.pendingMessagePrefix,
        this.#backlog.maxMessages,
        this.#backlog.maxBytes,
        message.type === "system" ? "system" : "",
        ...message.mentions,
      ],
    )) as [number, (string | number)?, (string | number)?];
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
      case 6:
        return { kind: "backlog_full" };
      case 7:
        return { kind: "blocked" };
      default:
        throw new Error(`accept script returned ${String(reply[0])}`);
    }
  }
}
