import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type Api, startApi } from "../../src/api.ts";
import type { MessageView } from "../../src/contract/views.ts";
import { DevicesService } from "../../src/devices/devices.service.ts";
import { messageOpSchema, messageRecordSchema } from "../../src/messages/messages.schemas.ts";
import { SearchService } from "../../src/messages/search.service.ts";
import { UnreadCounter } from "../../src/rooms/unread.ts";
import { SyncService } from "../../src/sync/sync.service.ts";
import { room as newRoom } from "../contract/fixtures.ts";
import { dropPrefix, removeDir, tempDir, testConfig, token, uniquePrefix } from "../helpers/env.ts";
import { waitReady } from "../helpers/processes.ts";
import { connect } from "../helpers/socket.ts";
import { messageStack, user } from "../helpers/stack.ts";

/**
 * Issue 18 item 2: with the persist pool stopped a room's pending backlog grows (up to
 * PENDING_MAX_MESSAGES), and every read of pending state must stay bounded by the page it
 * serves. Every pending message and op read from Redis is decoded by one of two schemas, so
 * counting their parses counts the pending entries a request read.
 */
const decodedMessages = vi.spyOn(messageRecordSchema, "parse");
const decodedOps = vi.spyOn(messageOpSchema, "parse");
async function decodes<T>(fn: () => Promise<T>): Promise<{ value: T; messages: number; ops: number }> {
  decodedMessages.mockClear();
  decodedOps.mockClear();
  const value = await fn();
  return { value, messages: decodedMessages.mock.calls.length, ops: decodedOps.mock.calls.length };
}

/** Pending messages, and the first CHANGED of them with two pending reactions each. */
const BACKLOG = 600;
const CHANGED = 150;

describe("reads of pending state are bounded by the page (services)", () => {
  const stack = messageStack("bounded");
  const { store, pending, reader } = stack;
  const messages = stack.messages();
  const ops = stack.ops();
  const devices = new DevicesService(store, { deviceUpdated: () => {} }, 1000);
  const sync = new SyncService({
    store,
    devices,
    counters: stack.counters,
    pending,
    reader,
    rooms: { everyRoom: async () => [] },
  });
  const viewer = user("v");
  let roomId = "";
  let since = "";
  let stored: MessageView;
  let mine: MessageView;
  const backlog: MessageView[] = [];
  let sends = 0;
  const send = async (from: string, text: string) =>
    (await messages.send(user(from), roomId, { client_id: `c${sends++}`, type: "text", text }, "rest"))
      .message;

  beforeAll(async () => {
    const now = new Date().toISOString();
    roomId = (
      await store.createGroupRoom(newRoom({ created_by: "v", created_at: now, updated_at: now }), [
        { user_id: "v", role: "admin", joined_at: now },
        { user_id: "a", role: "member", joined_at: now },
      ])
    ).id;
    // One stored message (search finds only stored ones), with a pending reaction.
    stored = await send("a", "walrus on the ice");
    const record = await pending.get(stored.id);
    if (!record) throw new Error("not pending");
    await stack.persister().run({ messages: [record], ops: [] });
    await devices.register(viewer, { device_id: "d1", platform: "web" });
    since = (await sync.messages(viewer, { device_id: "d1", limit: 50 })).next_since;
    await ops.react(viewer, stored.id, "👍");
    for (let i = 0; i < BACKLOG; i += 50) {
      const chunk = await Promise.all(
        Array.from({ length: Math.min(50, BACKLOG - i) }, (_, j) => send("a", `m${i + j}`)),
      );
      backlog.push(...chunk.sort((x, y) => x.seq - y.seq));
      if (i === BACKLOG / 2) mine = await send("v", "mine");
    }
    await messages.postSystem(roomId, { event: "room_updated", actor_id: "a", fields: ["name"] });
    for (const m of backlog.slice(0, CHANGED)) {
      await ops.react(viewer, m.id, "🎉");
      await ops.react(user("a"), m.id, "👍");
    }
  }, 60_000);
  afterAll(() => stack.close());

  it("reads a sync page of one without reading the backlog, and pages through it exactly", async () => {
    const first = await decodes(() => sync.messages(viewer, { device_id: "d1", since, limit: 1 }));
    expect(first.value.messages).toHaveLength(1);
    expect(first.value.has_more).toBe(true);
    // A few windows of limit + 1 entries each, and the candidates' own ops: never the backlog.
    expect(first.messages).toBeLessThanOrEqual(12);
    expect(first.ops).toBeLessThanOrEqual(60);
    // Page through everything; halfway, a page of one deep in the backlog is as cheap.
    const seen = new Map<string, MessageView>(first.value.messages.map((m) => [m.id, m]));
    let cursor = first.value.next_since;
    let deep: { messages: number; ops: number } | undefined;
    for (let guard = 0; guard < 100; guard++) {
      if (!deep && seen.size > BACKLOG / 2) {
        const one = await decodes(() => sync.messages(viewer, { device_id: "d1", since: cursor, limit: 1 }));
        expect(one.value.messages).toHaveLength(1);
        deep = one;
        for (const m of one.value.messages) seen.set(m.id, m);
        cursor = one.value.next_since;
      }
      const res = await sync.messages(viewer, { device_id: "d1", since: cursor, limit: 50 });
      for (const m of res.messages) {
        expect(seen.has(m.id), m.id).toBe(false);
        seen.set(m.id, m);
      }
      cursor = res.next_since;
      if (!res.has_more) break;
    }
    expect(deep?.messages).toBeLessThanOrEqual(12);
    expect(deep?.ops).toBeLessThanOrEqual(60);
    // Every message changed since the cursor came once, in its latest state.
    expect(seen.size).toBe(1 + BACKLOG + 1 + 1);
    expect(seen.get(stored.id)?.reactions).toEqual({ "👍": 1 });
    expect(seen.get(backlog[0]?.id ?? "")?.reactions).toEqual({ "🎉": 1, "👍": 1 });
  });

  it("reads a history page with its own messages' ops only", async () => {
    const newest = await decodes(() => reader.range(roomId, { limit: 1 }, "v"));
    expect(newest.value.messages).toHaveLength(1);
    expect(newest.value.has_more).toBe(true);
    const changed = backlog[CHANGED - 1];
    const older = await decodes(() =>
      reader.range(roomId, { beforeSeq: (changed?.seq ?? 0) + 1, limit: 1 }, "v"),
    );
    expect(older.value.messages[0]).toMatchObject({ id: changed?.id, reactions: { "🎉": 1, "👍": 1 } });
    for (const page of [newest, older]) {
      expect(page.messages).toBeLessThanOrEqual(2); // limit + 1
      expect(page.ops).toBeLessThanOrEqual(2); // the page message's two reactions
    }
  });

  it("reads one message's ops for GET /messages/:id", async () => {
    const one = await decodes(() => reader.get(backlog[0]?.id ?? "", "v"));
    expect(one.value).toMatchObject({ reactions: { "🎉": 1, "👍": 1 }, my_reaction: "🎉" });
    expect(one.messages).toBeLessThanOrEqual(1);
    expect(one.ops).toBe(2);
  });

  it("lays only the found messages' ops over search results", async () => {
    const search = new SearchService(store, stack.members, reader);
    const found = await decodes(() => search.search(viewer, { q: "walrus", limit: 50 }));
    expect(found.value.messages).toMatchObject([{ id: stored.id, reactions: { "👍": 1 } }]);
    expect(found.messages).toBe(0);
    expect(found.ops).toBe(1);
  });

  it("counts unread without decoding the pending messages", async () => {
    const unread = new UnreadCounter(stack.redis, stack.keys, store);
    const last = Number(await stack.redis.get(stack.keys.seq(roomId)));
    const counted = await decodes(() =>
      unread.of([{ member: { room_id: roomId, user_id: "v", read_seq: 0 }, last_seq: stored.seq }]),
    );
    expect(counted.messages).toBe(0);
    // v read up to their own message; the system message after it does not count.
    expect(counted.value.get(roomId)).toEqual({ unread: last - mine.seq - 1, last_seq: last });
    const forA = await unread.of([{ member: { room_id: roomId, user_id: "a", read_seq: 0 }, last_seq: 0 }]);
    expect(forA.get(roomId)).toEqual({ unread: 0, last_seq: last });
  });
});

describe("reads of pending state are bounded by the page (REST, persist pool stopped)", () => {
  const prefix = uniquePrefix("bounded-rest");
  const dir = tempDir("bounded-rest");
  let api: Api;
  let base = "";
  const call = async <T>(userId: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}/api/v1/chat${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token(userId)}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as T };
  };
  let roomId = "";
  let since = "";

  beforeAll(async () => {
    // The API alone: nothing persists, everything sent stays pending.
    api = await startApi(testConfig(prefix, dir));
    base = `http://127.0.0.1:${api.port()}`;
    // Its Redis connections queue nothing while connecting: wait until they answer.
    await waitReady(base);
    const room = await call<{ room: { id: string } }>("v", "POST", "/rooms", {
      type: "group",
      name: "g",
      member_ids: ["a"],
    });
    expect(room.status, JSON.stringify(room.body)).toBe(201);
    roomId = room.body.room.id;
    expect((await call("v", "POST", "/devices", { device_id: "rest", platform: "web" })).status).toBe(201);
    since = (await call<{ next_since: string }>("v", "GET", "/sync/messages?device_id=rest")).body.next_since;
    for (let i = 0; i < BACKLOG; i += 50) {
      const sent = await Promise.all(
        Array.from({ length: 50 }, (_, j) =>
          call("a", "POST", `/rooms/${roomId}/messages`, { client_id: `r${i + j}`, type: "text", text: "x" }),
        ),
      );
      expect(sent.every((r) => r.status === 201)).toBe(true);
    }
  }, 60_000);
  afterAll(async () => {
    await api.close();
    await dropPrefix(prefix);
    removeDir(dir);
  });

  it("GET /sync/messages?limit=1, history and the room list read O(page) pending entries", async () => {
    const page = await decodes(() =>
      call<{ messages: unknown[]; has_more: boolean }>(
        "v",
        "GET",
        `/sync/messages?device_id=rest&since=${since}&limit=1`,
      ),
    );
    expect(page.value.status).toBe(200);
    expect(page.value.body.messages).toHaveLength(1);
    expect(page.value.body.has_more).toBe(true);
    expect(page.messages).toBeLessThanOrEqual(12);
    const history = await decodes(() =>
      call<{ messages: unknown[] }>("v", "GET", `/rooms/${roomId}/messages?limit=1`),
    );
    expect(history.value.body.messages).toHaveLength(1);
    expect(history.messages).toBeLessThanOrEqual(2);
    const rooms = await decodes(() =>
      call<{ rooms: { id: string; unread_count: number }[] }>("v", "GET", "/rooms"),
    );
    expect(rooms.value.body.rooms.find((r) => r.id === roomId)?.unread_count).toBe(BACKLOG);
    expect(rooms.messages).toBe(0);
  });

  it("socket messages:sync and chats:sync read O(page) pending entries", async () => {
    const socket = await connect(base, token("v"));
    try {
      const page = await decodes(
        () =>
          socket.emitWithAck("messages:sync", { device_id: "rest", since, limit: 1 }) as Promise<{
            ok: boolean;
            messages: unknown[];
            has_more: boolean;
          }>,
      );
      expect(page.value).toMatchObject({ ok: true, has_more: true });
      expect(page.value.messages).toHaveLength(1);
      expect(page.messages).toBeLessThanOrEqual(12);
      const chats = await decodes(
        () =>
          socket.emitWithAck("chats:sync", { device_id: "rest" }) as Promise<{
            ok: boolean;
            rooms: { id: string; unread_count: number }[];
          }>,
      );
      expect(chats.value.rooms.find((r) => r.id === roomId)?.unread_count).toBe(BACKLOG);
      expect(chats.messages).toBe(0);
    } finally {
      socket.disconnect();
    }
  });
});
