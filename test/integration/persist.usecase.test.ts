import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { ulid } from "ulid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MembershipCache } from "../../src/membership/membership.cache.ts";
import { AcceptRepository, idempotencyField } from "../../src/messages/accept.repository.ts";
import { BacklogGauge, readBacklog } from "../../src/messages/backlog.gauge.ts";
import { MessageOpsRepository } from "../../src/messages/ops.repository.ts";
import { PendingRepository } from "../../src/messages/pending.repository.ts";
import { persistBatchSchema, persistQueue } from "../../src/messages/persist.queue.ts";
import { type FailureEvents, PersistMessages } from "../../src/messages/persist-messages.usecase.ts";
import { RoomCounters } from "../../src/messages/room-counters.repository.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { UNBOUNDED_ATTEMPTS } from "../../src/queues/queue.ts";
import { Keys, roomBucket } from "../../src/redis/redis.ts";
import { openSqliteStore } from "../../src/store/sqlite/sqlite.store.ts";
import type { MessageRecord } from "../../src/store/store.ts";
import { room as newRoom } from "../contract/fixtures.ts";
import { dropPrefix, REDIS_URL, uniquePrefix } from "../helpers/env.ts";
import { persistJobs } from "../helpers/producers.ts";

const prefix = uniquePrefix("persist");
const keys = new Keys(prefix);
const redis = new Redis(REDIS_URL);
const store = openSqliteStore(":memory:");
const pending = new PendingRepository(redis, keys, 3600);
const accept = new AcceptRepository(
  redis,
  keys,
  new BacklogGauge(redis, keys, { maxMessages: 1_000_000, maxBytes: 1 << 30 }),
  3600,
);
const counters = new RoomCounters(redis, keys, store);
const members = new MembershipCache(redis, keys, store, 3600);
const failed: { id: string; reason: string }[] = [];
const events: FailureEvents = { messageFailed: (m, reason) => failed.push({ id: m.id, reason }) };
const useCase = new PersistMessages({
  store,
  pending,
  ops: new MessageOpsRepository(
    redis,
    keys,
    counters,
    new BacklogGauge(redis, keys, { maxMessages: 1_000_000, maxBytes: 1 << 30 }),
  ),
  events,
  logger: createLogger("silent", "test"),
});
const run = (messages: MessageRecord[]) => useCase.run({ messages, ops: [] });
let roomId: string;

beforeAll(async () => {
  const now = new Date().toISOString();
  const room = await store.createGroupRoom(newRoom({ created_by: "u1", created_at: now, updated_at: now }), [
    { user_id: "u1", role: "admin", joined_at: now },
  ]);
  roomId = room.id;
});
afterAll(async () => {
  await dropPrefix(prefix);
  redis.disconnect();
  await store.close();
});

async function acceptOne(room: string, clientId: string): Promise<MessageRecord> {
  for (;;) {
    const r = await accept.accept({
      id: ulid(),
      room_id: room,
      sender_id: "u1",
      client_id: clientId,
      type: "text",
      text: clientId,
      media_id: null,
      reply_to_id: null,
      mentions: [],
      system: null,
      created_at: new Date().toISOString(),
    });
    if (r.kind === "membership_unknown") await members.load(room);
    else if (r.kind === "counters_missing") await counters.seed(room);
    else if (r.kind === "accepted") return r.message;
    else throw new Error(r.kind);
  }
}

describe("accept and persist", () => {
  it("persists a batch, clears pending, and a replay changes nothing", async () => {
    const batch = [await acceptOne(roomId, "a1"), await acceptOne(roomId, "a2")];
    expect(await pending.range(roomId, { limit: 10 })).toHaveLength(2);
    expect(await run(batch)).toEqual({ persisted: 2, rejected: 0, ops: 0 });
    expect(await run(batch)).toEqual({ persisted: 2, rejected: 0, ops: 0 });
    expect(await pending.range(roomId, { limit: 10 })).toEqual([]);
    expect(await pending.get(batch[0]?.id ?? "")).toBeNull();
    expect((await store.roomCounters(roomId)).seq).toBe(2);
    expect((await readBacklog(redis, keys)).bytes).toBe(0);
  });

  it("rolls back only what the store refuses, frees its client_id, and reports message:failed", async () => {
    // A room the cache believes in but the store does not have: the store refuses its messages.
    const ghost = ulid();
    await redis.sadd(keys.members(ghost), "", "u1");
    await redis.set(keys.seq(ghost), 0);
    await redis.set(keys.rev(ghost), 0);
    const good = await acceptOne(roomId, "b1");
    const bad = await acceptOne(ghost, "b2");
    expect(await run([good, bad])).toEqual({ persisted: 1, rejected: 1, ops: 0 });
    expect(await store.getMessage(good.id)).not.toBeNull();
    expect(await store.getMessage(bad.id)).toBeNull();
    expect(failed).toEqual([{ id: bad.id, reason: "rejected_by_store" }]);
    expect(await pending.get(bad.id)).toBeNull();
    // Neither pending nor in any time slice: the client_id is free.
    const ghostBucket = roomBucket(ghost);
    expect(
      await redis.hget(keys.idempotencyPending(ghostBucket), idempotencyField(ghost, "u1", "b2")),
    ).toBeNull();
    expect(await redis.keys(`${keys.idempotencySlicePrefix(ghostBucket)}*`)).toEqual([]);
    expect((await readBacklog(redis, keys)).messages).toBe(0);
    // The rolled-back message is a tombstone with a revision of its own, after its accept rev.
    const tomb = (await store.getMessageStates([bad], "u1")).get(bad.id);
    expect(tomb?.deleted?.rev).toBeGreaterThan(bad.rev);
  });

  it("re-seeds lost seq and rev counters above the store's highest", async () => {
    await redis.del(keys.seq(roomId), keys.rev(roomId));
    const before = await store.roomCounters(roomId);
    const m = await acceptOne(roomId, "after-loss");
    expect(m.seq).toBe(before.seq + 1);
    expect(m.rev).toBe(before.rev + 1);
  });

  it("rescues pending messages older than the threshold", async () => {
    const orphan = await acceptOne(roomId, "orphan");
    expect(await pending.stale(60_000, 10)).toEqual({ messages: [], ops: [] });
    const stale = await pending.stale(0, 10);
    expect(stale.messages.map((m) => m.id)).toContain(orphan.id);
    await useCase.run(stale);
    expect(await pending.stale(0, 10)).toEqual({ messages: [], ops: [] });
    expect(await store.getMessage(orphan.id)).not.toBeNull();
  });
});

describe("group commit", () => {
  it("puts concurrent messages into few jobs and resolves only once the job is in Redis", async () => {
    const conn = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
    await new Promise((r) => conn.once("ready", r));
    const producer = persistJobs(conn, keys, {
      maxDelayMs: 20,
      maxMessages: 50,
      minIntervalMs: 0,
    });
    const queue = new Queue(persistQueue.name, {
      connection: redis,
      prefix: keys.bullPrefix(persistQueue.name),
    });
    try {
      const msgs = await Promise.all(Array.from({ length: 120 }, (_, i) => acceptOne(roomId, `gc-${i}`)));
      await Promise.all(msgs.map((m) => producer.enqueue(m)));
      const jobs = await queue.getJobs(["waiting"]);
      const ids = jobs.flatMap((j) => persistBatchSchema.parse(j.data).messages.map((m) => m.id));
      expect(new Set(ids)).toEqual(new Set(msgs.map((m) => m.id)));
      expect(jobs.length).toBeGreaterThanOrEqual(3); // 120 messages, at most 50 a batch
      expect(jobs.length).toBeLessThan(10);
      expect(jobs[0]?.opts.attempts).toBe(UNBOUNDED_ATTEMPTS);
    } finally {
      await producer.close();
      await queue.close();
      conn.disconnect();
    }
  });
});
