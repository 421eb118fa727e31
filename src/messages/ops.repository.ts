import { LuaScript } from "../redis/lua-script.ts";
import { type Keys, type RedisClient, roomBucket } from "../redis/redis.ts";
import type { MessageOp } from "../store/store.ts";
import type { BacklogGauge } from "./backlog.gauge.ts";
import type { RoomCounters } from "./room-counters.repository.ts";

/**
 * Accepts a message op: takes the room's next rev and makes the op pending (found by sync in
 * the room's set by rev, by the overlay in its message's own set, by the rescue sweep in the
 * index) in one script. The caller has checked who may do what; the persist pool applies the
 * op to the store by rev (store.ts MessageOp).
 */
const acceptOpScript = new LuaScript(
  4,
  `-- KEYS: rev, room's pending ops, bucket's ops index, message's pending ops (one slot)
-- ARGV: json-without-rev, now ms, room id
if redis.call('EXISTS', KEYS[1]) == 0 then return {3} end
local rev = redis.call('INCR', KEYS[1])
local json = string.sub(ARGV[1], 1, -2) .. ',"rev":' .. rev .. '}'
redis.call('ZADD', KEYS[2], rev, json)
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3] .. '|' .. rev)
redis.call('ZADD', KEYS[4], rev, json)
return {5, rev}`,
);

export type UnrevisionedOp = MessageOp extends infer O
  ? O extends MessageOp
    ? Omit<O, "rev">
    : never
  : never;
export type OpAcceptResult = { kind: "accepted"; op: MessageOp } | { kind: "backlog_full" };

export class MessageOpsRepository {
  readonly #redis: RedisClient;
  readonly #keys: Keys;
  readonly #counters: RoomCounters;
  readonly #gauge: BacklogGauge;

  constructor(redis: RedisClient, keys: Keys, counters: RoomCounters, gauge: BacklogGauge) {
    this.#redis = redis;
    this.#keys = keys;
    this.#counters = counters;
    this.#gauge = gauge;
  }

  /** `overBacklog`: accepted even past the backlog bound (a rollback's tombstone must never wait). */
  async accept(op: UnrevisionedOp, overBacklog = false): Promise<OpAcceptResult> {
    const k = this.#keys;
    if (!overBacklog && (await this.#gauge.opsFull())) return { kind: "backlog_full" };
    for (let attempt = 0; attempt < 3; attempt++) {
      const reply = (await acceptOpScript.run(
        this.#redis,
        [
          k.rev(op.room_id),
          k.pendingOps(op.room_id),
          k.pendingOpsIndex(roomBucket(op.room_id)),
          k.pendingMessageOps(op.room_id, op.message_id),
        ],
        [JSON.stringify(op), Date.now(), op.room_id],
      )) as [number, number?];
      if (reply[0] === 5) {
        this.#gauge.opAccepted();
        return { kind: "accepted", op: { ...op, rev: Number(reply[1]) } as MessageOp };
      }
      await this.#counters.seed(op.room_id);
    }
    throw new Error(`could not accept an op for room ${op.room_id}`);
  }
}
