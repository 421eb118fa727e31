import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuthUser } from "../../src/auth/jwt.ts";
import type { MessageView } from "../../src/contract/views.ts";
import { PersistMessages } from "../../src/messages/persist-messages.usecase.ts";
import { SearchService } from "../../src/messages/search.service.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { UnreadCounter } from "../../src/rooms/unread.ts";
import type { MessageRecord, Store } from "../../src/store/store.ts";
import { room as newRoom } from "../contract/fixtures.ts";
import { messageStack, user } from "../helpers/stack.ts";

const stack = messageStack("msgops");
const { redis, keys, store, pending, members, reader } = stack;
const persistUseCase = stack.persister();
const updates: { to: string; message: MessageView }[] = [];
let clock = Date.now();
const ops = stack.ops({
  events: {
    messageUpdated: (message) => updates.push({ to: "room", message }),
    messageUpdatedFor: (userId, message) => updates.push({ to: userId, message }),
  },
  now: () => clock,
});
const messages = stack.messages();
const [alice, bob, carol, mallory] = ["alice", "bob", "carol", "mallory"].map(user) as [
  AuthUser,
  AuthUser,
  AuthUser,
  AuthUser,
];
let groupId: string;
let directId: string;
let n = 0;
const send = async (from: AuthUser, roomId: string, text = "hello") =>
  (await messages.send(from, roomId, { client_id: `c${n++}`, type: "text", text }, "rest")).message;

/** What the persist pool does: store every pending message and op of the room. */
async function persistAll(roomId: string): Promise<void> {
  const msgs = await pending.range(roomId, { afterSeq: 0, limit: 1000 });
  await persistUseCase.run({
    messages: msgs,
    ops: (await pending.changes(roomId, 0, Number.MAX_SAFE_INTEGER, 1000)).ops,
  });
}

beforeAll(async () => {
  const now = new Date().toISOString();
  groupId = (
    await store.createGroupRoom(newRoom({ created_by: "alice", created_at: now }), [
      { user_id: "alice", role: "admin", joined_at: now },
      { user_id: "bob", role: "member", joined_at: now },
      { user_id: "carol", role: "member", joined_at: now },
    ])
  ).id;
  directId = (
    await store.getOrCreateDirectRoom(newRoom({ type: "direct", name: null, direct_key: "bob|carol" }), [
      { user_id: "bob", role: "member", joined_at: now },
      { user_id: "carol", role: "member", joined_at: now },
    ])
  ).room.id;
});
afterAll(() => stack.close());

describe("edit", () => {
  it("lets the sender edit within the window, on a message still pending, and announces it", async () => {
    clock = Date.now();
    const m = await send(bob, groupId, "first");
    const edited = await ops.edit(bob, m.id, "second");
    expect(edited).toMatchObject({ id: m.id, text: "second", edited_at: new Date(clock).toISOString() });
    expect(updates.at(-1)).toMatchObject({ to: "room", message: { id: m.id, text: "second" } });
    expect((await reader.get(m.id, "carol"))?.text).toBe("second");
    await persistAll(groupId);
    expect((await reader.get(m.id, "carol"))?.text).toBe("second");
    expect((await store.getMessage(m.id))?.text).toBe("first"); // the record keeps the original
  });

  it("refuses another member (403), a non-member (404), and bad text (400), changing nothing", async () => {
    const m = await send(bob, groupId, "mine");
    await expect(ops.edit(carol, m.id, "theirs")).rejects.toMatchObject({ code: "forbidden" });
    await expect(ops.edit(alice, m.id, "admin")).rejects.toMatchObject({ code: "forbidden" });
    await expect(ops.edit(mallory, m.id, "x")).rejects.toMatchObject({ code: "not_found" });
    await expect(ops.edit(bob, m.id, "\u200b")).rejects.toMatchObject({ code: "invalid_request" });
    await expect(ops.edit(bob, m.id, "x".repeat(101))).rejects.toMatchObject({ code: "invalid_request" });
    expect((await reader.get(m.id, "bob"))?.text).toBe("mine");
    expect((await pending.changes(groupId, 0, Number.MAX_SAFE_INTEGER, 1000)).ops).toEqual([]);
  });

  it("closes exactly at the window's end", async () => {
    const m = await send(bob, groupId, "timed");
    const sentAt = Date.parse(m.created_at);
    clock = sentAt + 900_000;
    await expect(ops.edit(bob, m.id, "at the edge")).resolves.toMatchObject({ text: "at the edge" });
    clock = sentAt + 900_001;
    await expect(ops.edit(bob, m.id, "too late")).rejects.toMatchObject({ code: "forbidden" });
    clock = Date.now();
  });
});

describe("delete", () => {
  it("for everyone by the sender within the window leaves a tombstone everywhere", async () => {
    clock = Date.now();
    const m = await send(bob, groupId, "oops");
    await ops.delete(bob, m.id, "everyone");
    expect(updates.at(-1)).toMatchObject({ to: "room", message: { id: m.id, deleted: true, text: null } });
    for (const viewer of ["alice", "bob", "carol"]) {
      expect(await reader.get(m.id, viewer)).toMatchObject({ deleted: true, text: null, reactions: {} });
    }
    await expect(ops.edit(bob, m.id, "revive")).rejects.toMatchObject({ code: "forbidden" });
    await expect(ops.react(carol, m.id, "👍")).rejects.toMatchObject({ code: "forbidden" });
  });

  it("closes the sender's window at 48 h, while a group admin may delete any time", async () => {
    const m = await send(bob, groupId, "old");
    clock = Date.parse(m.created_at) + 172_800_001;
    await expect(ops.delete(bob, m.id, "everyone")).rejects.toMatchObject({ code: "forbidden" });
    await expect(ops.delete(carol, m.id, "everyone")).rejects.toMatchObject({ code: "forbidden" });
    await ops.delete(alice, m.id, "everyone");
    expect((await reader.get(m.id, "bob"))?.deleted).toBe(true);
    clock = Date.now();
  });

  it("has no admins in a direct room: only the sender deletes for everyone", async () => {
    const m = await send(bob, directId, "direct");
    await expect(ops.delete(carol, m.id, "everyone")).rejects.toMatchObject({ code: "forbidden" });
    await ops.delete(bob, m.id, "everyone");
  });

  it("for me hides it from the caller only, and tells only the caller's devices", async () => {
    const m = await send(bob, groupId, "private");
    await ops.delete(carol, m.id, "me");
    expect(updates.at(-1)).toMatchObject({ to: "carol", message: { id: m.id, deleted: true } });
    const carolSees = await reader.range(groupId, { afterSeq: m.seq - 1, limit: 5 }, "carol");
    expect(carolSees.messages.map((x) => x.id)).not.toContain(m.id);
    expect((await reader.range(groupId, { afterSeq: m.seq - 1, limit: 5 }, "bob")).messages[0]?.id).toBe(
      m.id,
    );
    await expect(ops.edit(bob, m.id, "still mine")).resolves.toMatchObject({ text: "still mine" });
    await expect(ops.react(carol, m.id, "👍")).rejects.toMatchObject({ code: "not_found" });
  });
});

describe("reactions", () => {
  it("keeps one per user, replaces, counts, and removes", async () => {
    const m = await send(bob, groupId, "react to me");
    await ops.react(alice, m.id, "👍");
    await ops.react(carol, m.id, "👍");
    const replaced = await ops.react(alice, m.id, "❤️");
    expect(replaced).toMatchObject({ reactions: { "👍": 1, "❤️": 1 }, my_reaction: "❤️" });
    // The broadcast carries counts, not the actor's own reaction.
    expect(updates.at(-1)).toMatchObject({
      to: "room",
      message: { reactions: { "👍": 1, "❤️": 1 }, my_reaction: null },
    });
    await persistAll(groupId);
    await ops.react(carol, m.id, null);
    expect(await reader.get(m.id, "carol")).toMatchObject({ reactions: { "❤️": 1 }, my_reaction: null });
    await persistAll(groupId);
    expect(await reader.get(m.id, "alice")).toMatchObject({ reactions: { "❤️": 1 }, my_reaction: "❤️" });
    await expect(ops.react(mallory, m.id, "👍")).rejects.toMatchObject({ code: "not_found" });
  });
});

describe("operations commute (invariant 5)", () => {
  it("ends in the same state whichever order the persist jobs run in", async () => {
    clock = Date.now();
    const m = await send(bob, groupId, "v1");
    await ops.edit(bob, m.id, "v2");
    await ops.react(carol, m.id, "🎉");
    await ops.edit(bob, m.id, "v3");
    await ops.react(carol, m.id, "👍");
    const before = await reader.get(m.id, "carol");
    // Apply the ops newest first, then the message record last.
    const pendingOps = (await pending.changes(groupId, 0, Number.MAX_SAFE_INTEGER, 1000)).ops;
    for (const op of [...pendingOps].reverse()) await persistUseCase.run({ messages: [], ops: [op] });
    await persistAll(groupId);
    const after = await reader.get(m.id, "carol");
    expect(after).toMatchObject({ text: "v3", reactions: { "👍": 1 }, my_reaction: "👍" });
    expect(after).toEqual(before);
  });
});

describe("search while ops wait for the persist pool", () => {
  it("never shows a tombstone or a hidden message, even before the delete or hide is stored", async () => {
    const search = new SearchService(store, members, reader);
    const deleted = await send(bob, groupId, "walrus spotted");
    const hidden = await send(bob, groupId, "giraffe spotted");
    await persistAll(groupId);
    const find = async (viewer: AuthUser, q: string) =>
      (await search.search(viewer, { q, limit: 10 })).messages.map((m) => m.id);
    expect(await find(carol, "walrus")).toEqual([deleted.id]);
    await ops.delete(bob, deleted.id, "everyone");
    await ops.delete(carol, hidden.id, "me");
    // Not persisted yet: the store's index still has both.
    expect((await pending.changes(groupId, 0, Number.MAX_SAFE_INTEGER, 1000)).ops).toHaveLength(2);
    expect(await find(carol, "walrus")).toEqual([]);
    expect(await find(carol, "giraffe")).toEqual([]);
    expect(await find(alice, "giraffe")).toEqual([hidden.id]);
  });
});

describe("unread while messages wait for the persist pool", () => {
  const unread = new UnreadCounter(redis, keys, store);
  const aliceAndBob = async () =>
    (
      await store.createGroupRoom(newRoom({ created_by: "alice" }), [
        { user_id: "alice", role: "admin", joined_at: new Date().toISOString() },
        { user_id: "bob", role: "member", joined_at: new Date().toISOString() },
      ])
    ).id;
  const unreadOf = async (roomId: string, userId: string) => {
    const member = await store.getMember(roomId, userId);
    const room = await store.getRoom(roomId);
    if (!member || !room) throw new Error("missing");
    return (await unread.of([{ member, last_seq: room.last_seq }])).get(roomId)?.unread;
  };

  it("counts pending messages as the store will: not one's own, never system messages, each once", async () => {
    const roomId = await aliceAndBob();
    const count = (userId: string) => unreadOf(roomId, userId);
    await send(alice, roomId, "one");
    await send(alice, roomId, "two");
    await messages.postSystem(roomId, { event: "room_updated", actor_id: "alice", fields: ["name"] });
    expect(await count("alice")).toBe(0);
    expect(await count("bob")).toBe(2);
    await persistAll(roomId);
    expect(await count("alice")).toBe(0);
    expect(await count("bob")).toBe(2);
    await send(bob, roomId, "reply");
    expect(await count("bob")).toBe(0);
  });

  it("never counts a message the store refused for good (rolled back: its seq taken, nothing to read)", async () => {
    const roomId = await aliceAndBob();
    const count = () => unreadOf(roomId, "bob");
    await send(alice, roomId, "kept");
    await persistAll(roomId);
    await send(alice, roomId, "refused");
    expect(await count()).toBe(2);
    // The persist pool meets a store that refuses the second message for good.
    const refusing: Store = {
      ...store,
      insertMessages: async (msgs: MessageRecord[]) => ({
        rejected: msgs.map((message) => ({ message, reason: "refused" })),
      }),
    };
    const pendingNow = await pending.range(roomId, { afterSeq: 0, limit: 10 });
    await new PersistMessages({
      store: refusing,
      pending,
      ops: stack.opsRepo,
      events: { messageFailed: () => {} },
      logger: createLogger("silent", "test"),
    }).run({ messages: pendingNow, ops: [] });
    expect(await pending.range(roomId, { afterSeq: 0, limit: 10 })).toEqual([]);
    expect(await count()).toBe(1);
  });
});
