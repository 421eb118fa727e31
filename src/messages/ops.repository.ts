import type { Redis } from "ioredis";
import { LuaScript } from "../redis/lua-script.ts";
import type { Keys } from "../redis/redis.ts";
import type { MessageOp } from "../store/store.ts";
import type { Backlog } from "./accept.repository.ts";
import type { RoomCounters } from "./room-counters.repository.ts";

/**
 * Accepts a message op: takes the room's next rev and makes the op pending (readable by the
 * overlay, found by sync and the rescue sweep) in one script. The caller has checked who may
 * do what; the persist pool applies the op to the store by rev (store.ts MessageOp).
 */
const acceptOpScript = new LuaScript(
  3,
  `-- KEYS: rev, room's pending ops, ops index; ARGV: json-without-rev, now ms, room id, max pending ops
if redis.call('EXISTS', KEYS[1]) == 0 then return {3} end
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[4]) then return {6} end
local rev = redis.call('INCR', KEYS[1])
local json = string.sub(ARGV[1], 1, -2) .. ',"rev":' .. rev .. '}'
redis.call('ZADD', KEYS[2], rev, json)
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3] .. '|' .. rev)
return {5, rev}`,
);

export type UnrevisionedOp = MessageOp extends infer O
  ? O extends MessageOp
    ? Omit<O, "rev">
    : never
  : never;
export type OpAcceptResult = { kind: "accepted"; op: MessageOp } | { kind: "backlog_full" };

export class MessageOpsRepository {
  readonly #redis: Redis;
  readonly #keys: Keys;
  readonly #counters: RoomCounters;
  readonly #backlog: Backlog;

  constructor(redis: Redis, keys: Keys, counters: RoomCounters, backlog: Backlog) {
    this.#redis = redis;
    this.#keys = keys;
    this.#counters = counters;
    this.#backlog = backlog;
  }

  /** `overBacklog`: accepted even past the backlog bound (a rollback's tombstone must never wait). */
  async accept(op: UnrevisionedOp, overBacklog = false): Promise<OpAcceptResult> {
    const k = this.#keys;
    const max = overBacklog ? Number.MAX_SAFE_INTEGER : this.#backlog.maxMessages;
    for (let attempt = 0; attempt < 3; attempt++) {
      const reply = (await acceptOpScript.run(
        this.#redis,
        [k.rev(op.room_id), k.pendingOps(op.room_id), k.pendingOpsIndex()],
        [JSON.stringify(op), Date.now(), op.room_id, max],
      )) as [number, number?];
      if (reply[0] === 5) return { kind: "accepted", op: { ...op, rev: Number(reply[1]) } as MessageOp };
      if (reply[0] === 6) return { kind: "backlog_full" };
      await this.#counters.seed(op.room_id);
    }
    throw new Error(`could not accept an op for room ${op.room_id}`);
  }
}
