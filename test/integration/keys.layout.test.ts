import { afterAll, describe, expect, it } from "vitest";
import { idempotencyField } from "../../src/messages/accept.repository.ts";
import { roomBucket } from "../../src/redis/redis.ts";
import { room as newRoom } from "../contract/fixtures.ts";
import { messageStack, user } from "../helpers/stack.ts";

/**
 * Benchmarks and tests read, delete and count Redis keys by the names `Keys` builds (the sync
 * benchmark re-seeds counters, the message-path benchmark samples the pending index, the
 * memory benchmark counts idempotency keys). This pins those names to what a real accept and
 * a real persist write, so a layout change fails here rather than leaving a benchmark that
 * measures nothing.
 */
const stack = messageStack("keys-layout");
const { redis, keys, store } = stack;
afterAll(() => stack.close());

describe("the keys benchmarks and tests build with Keys", () => {
  it("are the ones an accept writes, and a persist clears the pending ones and keeps the rest", async () => {
    const now = new Date().toISOString();
    const roomId = (
      await store.createGroupRoom(newRoom({ created_by: "alice", created_at: now }), [
        { user_id: "alice", role: "admin", joined_at: now },
        { user_id: "bob", role: "member", joined_at: now },
      ])
    ).id;
    const { message } = await stack
      .messages()
      .send(user("alice"), roomId, { client_id: "layout-1", type: "text", text: "hi" }, "rest");
    const bucket = roomBucket(roomId);
    const kept = [keys.members(roomId), keys.seq(roomId), keys.rev(roomId)];
    const clientId = idempotencyField(roomId, "alice", "layout-1");
    const pendingKeys = [
      keys.pendingRoom(roomId),
      keys.pendingMessage(roomId, message.id),
      keys.messageRoom(message.id),
    ];
    for (const key of [...kept, ...pendingKeys, keys.pendingBytes(bucket)])
      expect({ key, exists: await redis.exists(key) }).toEqual({ key, exists: 1 });
    // Pending: the client_id in its bucket's pending hash, no time slice yet.
    expect(await redis.hget(keys.idempotencyPending(bucket), clientId)).toBe(message.id);
    expect(await redis.keys(`${keys.idempotencySlicePrefix(bucket)}*`)).toEqual([]);
    expect(await redis.zscore(keys.pendingIndex(bucket), `${roomId}|${message.id}`)).not.toBeNull();
    expect(await redis.get(keys.seq(roomId))).toBe(String(message.seq));
    expect(await redis.get(keys.rev(roomId))).toBe(String(message.rev));

    const stored = await stack.pending.get(message.id);
    if (!stored) throw new Error("not pending");
    await stack.persister().run({ messages: [stored], ops: [] });
    for (const key of pendingKeys)
      expect({ key, exists: await redis.exists(key) }).toEqual({ key, exists: 0 });
    expect(await redis.zscore(keys.pendingIndex(bucket), `${roomId}|${message.id}`)).toBeNull();
    for (const key of kept) expect({ key, exists: await redis.exists(key) }).toEqual({ key, exists: 1 });
    // Persisted: the client_id left the pending hash for the bucket's current time slice (the
    // one key per bucket and slice the memory benchmark counts), which expires as a whole.
    expect(await redis.hget(keys.idempotencyPending(bucket), clientId)).toBeNull();
    const slices = await redis.keys(`${keys.idempotencySlicePrefix(bucket)}*`);
    expect(slices).toHaveLength(1);
    const [nowS = "0"] = await redis.time();
    expect(slices[0]).toBe(keys.idempotencySlice(bucket, Math.floor(Number(nowS) / 1800)));
    expect(await redis.hget(slices[0] ?? "", clientId)).toBe(message.id);
    expect(await redis.ttl(slices[0] ?? "")).toBeGreaterThan(3590);
  });
});
