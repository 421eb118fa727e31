import { ulid } from "ulid";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type MessageRecord, type NewRoom, type Store, StoreRejectedError } from "../../src/store/store.ts";

/** The behaviour every Store adapter must have. Each adapter's test file calls this once. */
export function runStoreContract(name: string, makeStore: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await makeStore();
    });
    afterEach(async () => {
      await store.close();
    });

    const at = (ms: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, 0, ms)).toISOString();
    const room = (over: Partial<NewRoom> = {}): NewRoom => ({
      id: ulid(),
      type: "group",
      name: "g",
      description: null,
      avatar_media_id: null,
      created_by: "u1",
      created_at: at(0),
      updated_at: at(0),
      direct_key: null,
      ...over,
    });
    const msg = (roomId: string, seq: number, over: Partial<MessageRecord> = {}): MessageRecord => ({
      id: ulid(),
      room_id: roomId,
      seq,
      sender_id: "u1",
      client_id: `c-${roomId}-${seq}`,
      type: "text",
      text: `m${seq}`,
      media_id: null,
      reply_to_id: null,
      mentions: [],
      created_at: at(seq * 1000),
      ...over,
    });
    const members = (...ids: string[]) =>
      ids.map((id, i) => ({
        user_id: id,
        role: i === 0 ? ("admin" as const) : ("member" as const),
        joined_at: at(0),
      }));

    it("creates a group with members and reads it back", async () => {
      const r = await store.createGroupRoom(room(), members("u1", "u2", "u3"));
      expect(r).toMatchObject({ type: "group", members_count: 3, last_seq: 0, last_message: null });
      expect(await store.getRoom(r.id)).toEqual(r);
      expect((await store.getMembers(r.id)).map((m) => [m.user_id, m.role])).toEqual([
        ["u1", "admin"],
        ["u2", "member"],
        ["u3", "member"],
      ]);
      expect(await store.getMember(r.id, "u2")).toMatchObject({ role: "member", read_seq: 0 });
      expect(await store.getMember(r.id, "nobody")).toBeNull();
      expect((await store.listMemberIds(r.id)).sort()).toEqual(["u1", "u2", "u3"]);
      expect(await store.listRoomIdsForUser("u3")).toEqual([r.id]);
      expect(await store.getRoom("missing")).toBeNull();
    });

    it("keeps one direct room per pair, even under concurrent creates", async () => {
      const attempts = await Promise.all(
        Array.from({ length: 10 }, () =>
          store.getOrCreateDirectRoom(
            room({ type: "direct", name: null, direct_key: "a|b" }),
            members("a", "b"),
          ),
        ),
      );
      const ids = new Set(attempts.map((a) => a.room.id));
      expect(ids.size).toBe(1);
      expect(attempts.filter((a) => a.created)).toHaveLength(1);
      expect(attempts[0]?.room.members_count).toBe(2);
    });

    it("lists a user's rooms by most recent activity with a keyset cursor", async () => {
      const rooms = [];
      for (let i = 0; i < 5; i++)
        rooms.push(await store.createGroupRoom(room({ created_at: at(i) }), members("u1")));
      const [r0] = rooms;
      if (!r0) throw new Error("no room");
      // A message makes the oldest room the most recent.
      await store.insertMessages([msg(r0.id, 1, { created_at: at(10_000) })]);
      const first = await store.listRoomsForUser("u1", 3);
      expect(first.map((x) => x.room.id)).toEqual([r0.id, rooms[4]?.id, rooms[3]?.id]);
      const last = first.at(-1)?.room;
      if (!last) throw new Error("empty page");
      const second = await store.listRoomsForUser("u1", 3, {
        last_activity_at: last.last_activity_at,
        id: last.id,
      });
      expect(second.map((x) => x.room.id)).toEqual([rooms[2]?.id, rooms[1]?.id]);
      expect(first[0]?.member).toMatchObject({ user_id: "u1", role: "admin" });
      expect(await store.listRoomsForUser("stranger", 10)).toEqual([]);
    });

    it("inserts messages idempotently and advances the room and the sender's read seq", async () => {
      const r = await store.createGroupRoom(room(), members("u1", "u2"));
      const batch = [msg(r.id, 1), msg(r.id, 2, { sender_id: "u2", mentions: ["u1"] })];
      await store.insertMessages(batch);
      await store.insertMessages(batch); // a retried job changes nothing
      const after = await store.getRoom(r.id);
      expect(after?.last_seq).toBe(2);
      expect(after?.last_message?.id).toBe(batch[1]?.id);
      expect(after?.last_activity_at).toBe(batch[1]?.created_at);
      expect(await store.getMessage(batch[1]?.id ?? "")).toEqual(batch[1]);
      expect((await store.getMember(r.id, "u2"))?.read_seq).toBe(2);
      expect((await store.getMember(r.id, "u1"))?.read_seq).toBe(1);
      expect(await store.maxSeq(r.id)).toBe(2);
      expect(await store.maxSeq("empty")).toBe(0);
    });

    it("finds a stored message by its sender and client_id", async () => {
      const r = await store.createGroupRoom(room(), members("u1", "u2"));
      const m = msg(r.id, 1);
      await store.insertMessages([m]);
      expect(await store.getMessageByClientId("u1", m.client_id)).toEqual(m);
      expect(await store.getMessageByClientId("u2", m.client_id)).toBeNull();
      expect(await store.getMessageByClientId("u1", "unknown")).toBeNull();
    });

    it("does not move last_seq backwards when an older batch lands late", async () => {
      const r = await store.createGroupRoom(room(), members("u1"));
      await store.insertMessages([msg(r.id, 5)]);
      await store.insertMessages([msg(r.id, 3)]);
      expect((await store.getRoom(r.id))?.last_seq).toBe(5);
    });

    it("rejects for good what can never be written, atomically", async () => {
      const r = await store.createGroupRoom(room(), members("u1"));
      const good = msg(r.id, 1);
      await expect(store.insertMessages([good, msg("no-such-room", 1)])).rejects.toBeInstanceOf(
        StoreRejectedError,
      );
      expect(await store.getMessage(good.id)).toBeNull();
      await store.insertMessages([good]);
      // Same (sender, client_id) under another id, or a taken (room, seq): refused.
      await expect(
        store.insertMessages([msg(r.id, 2, { client_id: good.client_id })]),
      ).rejects.toBeInstanceOf(StoreRejectedError);
      await expect(store.insertMessages([msg(r.id, 1)])).rejects.toBeInstanceOf(StoreRejectedError);
    });

    it("pages history by seq in both directions", async () => {
      const r = await store.createGroupRoom(room(), members("u1"));
      await store.insertMessages(Array.from({ length: 10 }, (_, i) => msg(r.id, i + 1)));
      const seqs = (ms: MessageRecord[]) => ms.map((m) => m.seq);
      expect(seqs(await store.listMessages(r.id, { limit: 3 }))).toEqual([8, 9, 10]);
      expect(seqs(await store.listMessages(r.id, { beforeSeq: 8, limit: 3 }))).toEqual([5, 6, 7]);
      expect(seqs(await store.listMessages(r.id, { afterSeq: 0, limit: 3 }))).toEqual([1, 2, 3]);
      expect(seqs(await store.listMessages(r.id, { afterSeq: 8, limit: 5 }))).toEqual([9, 10]);
      expect(seqs(await store.listMessages(r.id, { afterSeq: 2, beforeSeq: 6, limit: 10 }))).toEqual([
        3, 4, 5,
      ]);
      expect(await store.listMessages("other", { limit: 3 })).toEqual([]);
    });
  });
}
