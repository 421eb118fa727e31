import { Redis } from "ioredis";
import { ulid } from "ulid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuthUser } from "../../src/auth/jwt.ts";
import type { MessageView } from "../../src/contract/views.ts";
import { MembershipCache } from "../../src/membership/membership.cache.ts";
import { AcceptRepository, idempotencyField } from "../../src/messages/accept.repository.ts";
import { BacklogGauge } from "../../src/messages/backlog.gauge.ts";
import { MessageReader } from "../../src/messages/message.reader.ts";
import { MessagesService } from "../../src/messages/messages.service.ts";
import { MessageOpsRepository } from "../../src/messages/ops.repository.ts";
import { PendingRepository } from "../../src/messages/pending.repository.ts";
import { PersistMessages } from "../../src/messages/persist-messages.usecase.ts";
import { RoomCounters } from "../../src/messages/room-counters.repository.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { Keys, roomBucket } from "../../src/redis/redis.ts";
import { ReplicaWait } from "../../src/redis/replica-wait.ts";
import { openSqliteStore } from "../../src/store/sqlite/sqlite.store.ts";
import type { Store } from "../../src/store/store.ts";
import { room as newRoom } from "../contract/fixtures.ts";
import { dropPrefix, REDIS_URL, uniquePrefix } from "../helpers/env.ts";
import { persistJobs } from "../helpers/producers.ts";

const prefix = uniquePrefix("msgsvc");
const keys = new Keys(prefix);
const redis = new Redis(REDIS_URL);
const queueConn = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
const sqlite = openSqliteStore(":memory:");
const pending = new PendingRepository(redis, keys, 3600);
const persistUseCase = new PersistMessages({
  store: sqlite,
  pending,
  ops: new MessageOpsRepository(
    redis,
    keys,
    new RoomCounters(redis, keys, sqlite),
    new BacklogGauge(redis, keys, {
      maxMessages: 1_000_000,
      maxBytes: 1 << 30,
    }),
  ),
  events: { messageFailed: () => {} },
  logger: createLogger("silent", "test"),
});
const producer = persistJobs(queueConn, keys, {
  maxDelayMs: 1,
  maxMessages: 50,
  minIntervalMs: 0,
});

/** Runs once inside the next store.roomCounters call, after the store was read: forces an interleaving. */
let afterMaxSeqRead: (() => Promise<void>) | undefined;
const store: Store = new Proxy(sqlite, {
  get(target, prop, receiver) {
    if (prop === "roomCounters") {
      return async (roomId: string) => {
        const value = await target.roomCounters(roomId);
        const hook = afterMaxSeqRead;
        afterMaxSeqRead = undefined;
        await hook?.();
        return value;
      };
    }
    const v = Reflect.get(target, prop, receiver);
    return typeof v === "function" ? v.bind(target) : v;
  },
});

/** The service under test, over this file's Redis prefix and store; `extra` replaces a dependency. */
const makeService = (extra: Partial<ConstructorParameters<typeof MessagesService>[0]> = {}) =>
  new MessagesService({
    store,
    members: new MembershipCache(redis, keys, store, 3600),
    accept: new AcceptRepository(
      redis,
      keys,
      new BacklogGauge(redis, keys, { maxMessages: 1_000_000, maxBytes: 1 << 30 }),
      3600,
    ),
    counters: new RoomCounters(redis, keys, store),
    reader: new MessageReader(store, pending),
    persist: producer,
    events: { messageNew: () => {} },
    config: { maxTextChars: 100, maxMentions: 50, idempotencyWindowS: 3600 },
    ...extra,
  });
const service = makeService();
const ops = new MessageOpsRepository(
  redis,
  keys,
  new RoomCounters(redis, keys, store),
  new BacklogGauge(redis, keys, {
    maxMessages: 1_000_000,
    maxBytes: 1 << 30,
  }),
);
const alice: AuthUser = { id: "alice", name: undefined, admin: false, expiresAt: Date.now() + 3_600_000 };
let roomA: string;
let roomB: string;

async function group(): Promise<string> {
  const now = new Date().toISOString();
  const room = await sqlite.createGroupRoom(
    newRoom({ created_by: "alice", created_at: now, updated_at: now }),
    [{ user_id: "alice", role: "admin", joined_at: now }],
  );
  return room.id;
}

const send = (room: string, clientId: string, text = clientId) =>
  service.send(alice, room, { client_id: clientId, type: "text", text }, "rest");

/** What the persist pool does with a message: store it, then clear it from pending. */
async function persist(m: MessageView): Promise<void> {
  const stored = (await pending.get(m.id)) ?? undefined;
  if (!stored) throw new Error("not pending");
  await persistUseCase.run({ messages: [stored], ops: [] });
}

beforeAll(async () => {
  roomA = await group();
  roomB = await group();
});
afterAll(async () => {
  await producer.close();
  await dropPrefix(prefix);
  redis.disconnect();
  queueConn.disconnect();
  await sqlite.close();
});

describe("seq re-seed", () => {
  it("never reuses a seq when the newest message is persisted between the store read and the seed", async () => {
    const first = (await send(roomA, "reseed-1")).message;
    await redis.del(keys.seq(roomA), keys.rev(roomA)); // Redis lost the counters while `first` is still pending
    // The store is read (it does not have `first` yet), then `first` is persisted and leaves
    // pending before the seed looks at pending: exactly the window the probe hit.
    afterMaxSeqRead = () => persist(first);
    const second = (await send(roomA, "reseed-2")).message;
    expect(afterMaxSeqRead).toBeUndefined(); // the hook ran
    expect(second.seq).toBe(first.seq + 1);
    expect(second.rev).toBe(first.rev + 1);
    // And the store takes it (the old code's reused seq was refused and rolled back).
    await persist(second);
    expect((await sqlite.getMessage(second.id))?.seq).toBe(first.seq + 1);
  });
});

describe("seq re-seed under repeated counter loss", () => {
  it("never reuses a seq when another node re-seeds, accepts, persists and loses the counter again in between", async () => {
    const first = (await send(roomB, "again-1")).message;
    await persist(first);
    await redis.del(keys.seq(roomB), keys.rev(roomB));
    let other: MessageView | undefined;
    // Our store read sees `first` as the newest; before our seed runs, another node re-seeds,
    // accepts the next message, persists it (it leaves pending), and the counter is lost again.
    afterMaxSeqRead = async () => {
      other = (await send(roomB, "again-other")).message;
      await persist(other);
      await redis.del(keys.seq(roomB), keys.rev(roomB));
    };
    const mine = (await send(roomB, "again-mine")).message;
    expect(other?.seq).toBe(first.seq + 1);
    expect(mine.seq).toBe(first.seq + 2);
    expect(mine.rev).toBeGreaterThan(other?.rev ?? 0);
    await persist(mine);
    expect((await sqlite.getMessage(mine.id))?.seq).toBe(first.seq + 2);
  });
});

const waitConn = new Redis(REDIS_URL);
afterAll(() => waitConn.disconnect());

describe("REDIS_WAIT_REPLICAS", () => {
  it("never acknowledges or announces a message its replicas do not hold, and never blocks the shared connection", async () => {
    // This Redis has no replica: WAIT 1 can never be met.
    const announced: string[] = [];
    const waiting = makeService({
      events: { messageNew: (m) => announced.push(m.id) },
      replication: new ReplicaWait({ conn: waitConn, keys, replicas: 1, timeoutMs: 300 }),
    });
    const room = await group();
    const attempt = () =>
      waiting.send(alice, room, { client_id: "wait-1", type: "text", text: "hi" }, "rest");
    const first = attempt();
    // While the wait runs, the connection every request uses still answers at once.
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    await redis.ping();
    expect(performance.now() - t0).toBeLessThan(100);
    await expect(first).rejects.toMatchObject({ code: "unavailable" });
    // Not on a replica: not broadcast either (a failover could still drop its seq).
    expect(announced).toEqual([]);
    // Concurrent retries share one wait round instead of queueing a timeout each.
    const t1 = performance.now();
    const retries = await Promise.allSettled([attempt(), attempt(), attempt(), attempt()]);
    expect(retries.every((r) => r.status === "rejected")).toBe(true);
    expect(performance.now() - t1).toBeLessThan(1500);
    // Accepted once, answered by no one: the same message when the client retries without the wait.
    const pendingNow = (await pending.range(room, { limit: 100 })).filter((m) => m.client_id === "wait-1");
    expect(pendingNow).toHaveLength(1);
    const again = await send(room, "wait-1");
    expect(again.created).toBe(false);
    expect(again.message.id).toBe(pendingNow[0]?.id);
  });
});

/** Where Redis holds a persisted client_id: the bucket's time slice of now (slices of 1,800 s here). */
async function persistedEntry(room: string, clientId: string) {
  const [nowS = "0"] = await redis.time();
  const slice = keys.idempotencySlice(roomBucket(room), Math.floor(Number(nowS) / 1800));
  const field = idempotencyField(room, "alice", clientId);
  return { slice, field, id: await redis.hget(slice, field), ttl: await redis.ttl(slice) };
}

describe("client_id after the idempotency window", () => {
  it("answers the original message from the store once Redis forgot the key; in another room it is a new message", async () => {
    const first = await send(roomA, "reuse-1", "hello");
    expect(first.created).toBe(true);
    await persist(first.message);
    // The window starts at persistence (the client_id had no expiry while pending): its time
    // slice lives at least one window (3,600 s) more.
    const entry = await persistedEntry(roomA, "reuse-1");
    expect(entry.id).toBe(first.message.id);
    expect(entry.ttl).toBeGreaterThan(3590);
    const pendingIds = keys.idempotencyPending(roomBucket(roomA));
    expect(await redis.hget(pendingIds, entry.field)).toBeNull();
    expect((await send(roomA, "reuse-1", "from Redis")).message.id).toBe(first.message.id);
    await redis.hdel(entry.slice, entry.field); // the window passed
    const again = await send(roomA, "reuse-1", "a different text");
    expect(again.created).toBe(false);
    expect(again.message.id).toBe(first.message.id);
    expect(again.message.text).toBe("hello");
    expect(await pending.range(roomA, { limit: 100 })).toEqual([]); // nothing new accepted
    // Idempotency is per room (the key lives in the room's Redis slot).
    const elsewhere = await send(roomB, "reuse-1", "in room B");
    expect(elsewhere.created).toBe(true);
    expect(elsewhere.message.id).not.toBe(first.message.id);
    expect((await send(roomB, "reuse-1")).message.id).toBe(elsewhere.message.id);
  });

  it("drops the slice no lookup reads any more (three slices back) when it fills the current one", async () => {
    const [nowS = "0"] = await redis.time();
    const slice = Math.floor(Number(nowS) / 1800);
    const bucket = roomBucket(roomA);
    const stale = keys.idempotencySlice(bucket, slice - 3);
    const oldest = keys.idempotencySlice(bucket, slice - 2);
    await redis.hset(stale, "r|s|c", "gone");
    await redis.hset(oldest, "r|s|c", "kept");
    await persist((await send(roomA, "slices-1")).message);
    expect(await redis.exists(stale)).toBe(0);
    expect(await redis.hget(oldest, "r|s|c")).toBe("kept");
    await redis.del(oldest);
  });

  it("keeps the client_id while the message is pending, however long persistence takes", async () => {
    const first = await send(roomA, "pending-1");
    const pendingIds = keys.idempotencyPending(roomBucket(roomA));
    expect(await redis.hget(pendingIds, idempotencyField(roomA, "alice", "pending-1"))).toBe(
      first.message.id,
    );
    expect(await redis.ttl(pendingIds)).toBe(-1);
    const replay = await send(roomA, "pending-1");
    expect(replay.created).toBe(false);
  });

  it("asks the store again when its answer is older than half the window (a stall before the accept)", async () => {
    const first = await send(roomA, "stall-1", "hello");
    await persist(first.message);
    const entry = await persistedEntry(roomA, "stall-1");
    await redis.hdel(entry.slice, entry.field); // the window passed during the stall
    // The first look at the store came before the first message was stored; the second finds it.
    let looks = 0;
    const stalled = makeService({
      store: {
        getMessage: (id) => sqlite.getMessage(id),
        getMessageByClientId: async (room, sender, clientId) =>
          looks++ === 0 ? null : sqlite.getMessageByClientId(room, sender, clientId),
      },
      config: { maxTextChars: 100, maxMentions: 50, idempotencyWindowS: 0 },
    });
    const again = await stalled.send(alice, roomA, { client_id: "stall-1", type: "text", text: "x" }, "rest");
    expect(again).toMatchObject({ created: false, message: { id: first.message.id, text: "hello" } });
    expect(looks).toBe(2);
  });
});

describe("rooms nobody can see", () => {
  it("answers 404 for a room that does not exist and caches nothing for it", async () => {
    const ghost = ulid();
    await expect(send(ghost, "ghost-1")).rejects.toMatchObject({ code: "not_found" });
    expect(await redis.keys(`${prefix}:*${ghost}*`)).toEqual([]);
  });
});

describe("the one message reader", () => {
  it("finds a message persisted between the pending read and the store read (pending first)", async () => {
    const m = (await send(roomA, "race-get")).message;
    const stored = await pending.get(m.id);
    if (!stored) throw new Error("not pending");
    // The pending read happens, then the message is persisted and leaves pending, then the store is read.
    const racyPending = new Proxy(pending, {
      get(target, prop, receiver) {
        if (prop === "get") {
          return async (id: string) => {
            const value = await target.get(id);
            await persistUseCase.run({ messages: [stored], ops: [] });
            return value;
          };
        }
        const v = Reflect.get(target, prop, receiver);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const reader = new MessageReader(store, racyPending);
    expect((await reader.get(m.id, "alice"))?.id).toBe(m.id);
    expect(await pending.get(m.id)).toBeNull(); // it did leave pending meanwhile
  });

  it("lays pending ops over the message, pending or stored, until the persist pool applies them", async () => {
    const m = (await send(roomA, "ops-1", "original")).message;
    const at = new Date().toISOString();
    const edit = await ops.accept({ kind: "edit", message_id: m.id, room_id: roomA, at, text: "edited" });
    const react = await ops.accept({
      kind: "react",
      message_id: m.id,
      room_id: roomA,
      at,
      user_id: "bob",
      emoji: "👍",
    });
    if (edit.kind !== "accepted" || react.kind !== "accepted") throw new Error("not accepted");
    expect(edit.op.rev).toBe(m.rev + 1);
    expect(react.op.rev).toBe(m.rev + 2);
    const reader = new MessageReader(store, pending);
    // The message itself is still pending: the overlay applies to it too.
    expect(await reader.get(m.id, "alice")).toMatchObject({
      text: "edited",
      reactions: { "👍": 1 },
      rev: react.op.rev,
    });
    expect(await reader.get(m.id, "bob")).toMatchObject({ my_reaction: "👍" });
    // Ops may be persisted before their message: the store keeps them.
    await persistUseCase.run({
      messages: [],
      ops: (await pending.changes(roomA, 0, Number.MAX_SAFE_INTEGER, 1000)).ops,
    });
    expect((await pending.changes(roomA, 0, Number.MAX_SAFE_INTEGER, 1000)).ops).toEqual([]);
    expect(await reader.get(m.id, "alice")).toMatchObject({ text: "edited", reactions: { "👍": 1 } });
    await persist(m);
    const history = await reader.range(roomA, { afterSeq: m.seq - 1, limit: 1 }, "bob");
    expect(history.messages[0]).toMatchObject({ id: m.id, text: "edited", my_reaction: "👍", edited_at: at });
    // A newer pending op overrides the stored one; an older one (already beaten) changes nothing.
    await ops.accept({ kind: "react", message_id: m.id, room_id: roomA, at, user_id: "bob", emoji: null });
    expect(await reader.get(m.id, "bob")).toMatchObject({ reactions: {}, my_reaction: null });
  });

  it("finds ops whose job was never stored in the rescue sweep", async () => {
    const m = (await send(roomA, "ops-rescue")).message;
    await ops.accept({ kind: "delete", message_id: m.id, room_id: roomA, at: new Date().toISOString() });
    const stale = await pending.stale(0, 100);
    expect(stale.ops.some((op) => op.message_id === m.id && op.kind === "delete")).toBe(true);
    await persistUseCase.run(stale);
    expect((await pending.stale(0, 100)).ops).toEqual([]);
    expect(await new MessageReader(store, pending).get(m.id, "alice")).toMatchObject({
      deleted: true,
      text: null,
    });
  });
});

describe("the send loop", () => {
  it("re-enqueues a repeat of a message that is still pending (its first job may never have been stored)", async () => {
    const first = (await send(roomA, "requeue-1")).message;
    await producer.queue.obliterate({ force: true }); // the API died before the job reached Redis
    const again = await send(roomA, "requeue-1");
    expect(again.created).toBe(false);
    const jobs = await producer.queue.getJobs(["waiting", "delayed", "prioritized"]);
    const ids = jobs.flatMap((j) => (j.data as { messages: { id: string }[] }).messages.map((m) => m.id));
    expect(ids).toContain(first.id);
  });

  it("answers unavailable when the accept keeps asking to re-seed", async () => {
    const stuck = new MessagesService({
      store,
      members: new MembershipCache(redis, keys, store, 3600),
      accept: { accept: async () => ({ kind: "counters_missing" }) } as unknown as AcceptRepository,
      counters: { seed: async () => {} } as unknown as RoomCounters,
      reader: new MessageReader(store, pending),
      persist: producer,
      events: { messageNew: () => {} },
      config: { maxTextChars: 100, maxMentions: 50, idempotencyWindowS: 3600 },
    });
    await expect(
      stuck.send(alice, roomA, { client_id: "stuck", type: "text", text: "x" }, "rest"),
    ).rejects.toMatchObject({ code: "unavailable" });
  });
});
