import { Redis } from "ioredis";
import { ulid } from "ulid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuthUser } from "../../src/auth/jwt.ts";
import { AcceptRepository } from "../../src/messages/accept.repository.ts";
import { MessageReader } from "../../src/messages/message.reader.ts";
import { MessagesService } from "../../src/messages/messages.service.ts";
import type { MessageView } from "../../src/messages/messages.views.ts";
import { PendingRepository } from "../../src/messages/pending.repository.ts";
import { PersistProducer } from "../../src/messages/persist.queue.ts";
import { PersistMessages } from "../../src/messages/persist-messages.usecase.ts";
import { RoomCounters } from "../../src/messages/room-counters.repository.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { Keys } from "../../src/redis/redis.ts";
import { MembershipCache } from "../../src/rooms/membership.cache.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite.store.ts";
import type { Store } from "../../src/store/store.ts";
import { dropPrefix, REDIS_URL, uniquePrefix } from "../helpers/env.ts";

const prefix = uniquePrefix("msgsvc");
const keys = new Keys(prefix);
const redis = new Redis(REDIS_URL);
const queueConn = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
const sqlite = new SqliteStore(":memory:");
const pending = new PendingRepository(redis, keys, 3600);
const persistUseCase = new PersistMessages({
  store: sqlite,
  pending,
  counters: new RoomCounters(redis, keys, sqlite),
  events: { messageFailed: () => {} },
  logger: createLogger("silent", "test"),
});
const producer = new PersistProducer(queueConn, keys.bullPrefix, {
  maxDelayMs: 1,
  maxMessages: 50,
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

const service = new MessagesService({
  store,
  members: new MembershipCache(redis, keys, store, 3600),
  accept: new AcceptRepository(redis, keys, { maxMessages: 1_000_000, maxBytes: 1 << 30 }),
  counters: new RoomCounters(redis, keys, store),
  reader: new MessageReader(store, pending),
  persist: producer,
  events: { messageNew: () => {} },
  config: { maxTextChars: 100 },
});
const alice: AuthUser = { id: "alice", name: undefined, admin: false, expiresAt: Date.now() + 3_600_000 };
let roomA: string;
let roomB: string;

async function group(): Promise<string> {
  const now = new Date().toISOString();
  const room = await sqlite.createGroupRoom(
    {
      id: ulid(),
      type: "group",
      name: "g",
      description: null,
      avatar_media_id: null,
      created_by: "alice",
      created_at: now,
      updated_at: now,
      direct_key: null,
    },
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

describe("client_id after the idempotency window", () => {
  it("answers the original message from the store once Redis forgot the key, and 409 in another room", async () => {
    const first = await send(roomA, "reuse-1", "hello");
    expect(first.created).toBe(true);
    await persist(first.message);
    // The window starts at persistence (the key had no expiry while pending).
    expect(await redis.ttl(keys.idempotency("alice", "reuse-1"))).toBeGreaterThan(3500);
    await redis.del(keys.idempotency("alice", "reuse-1")); // the window passed
    const again = await send(roomA, "reuse-1", "a different text");
    expect(again.created).toBe(false);
    expect(again.message.id).toBe(first.message.id);
    expect(again.message.text).toBe("hello");
    expect(await pending.range(roomA, { limit: 100 })).toEqual([]); // nothing new accepted
    await expect(send(roomB, "reuse-1")).rejects.toMatchObject({ code: "conflict" });
  });

  it("keeps the key while the message is pending, however long persistence takes", async () => {
    await send(roomA, "pending-1");
    expect(await redis.ttl(keys.idempotency("alice", "pending-1"))).toBe(-1);
    const replay = await send(roomA, "pending-1");
    expect(replay.created).toBe(false);
  });
});

describe("rooms nobody can see", () => {
  it("answers 404 for a room that does not exist and caches nothing for it", async () => {
    const ghost = ulid();
    await expect(send(ghost, "ghost-1")).rejects.toMatchObject({ code: "not_found" });
    expect(await redis.keys(`${prefix}:*${ghost}*`)).toEqual([]);
  });
});
