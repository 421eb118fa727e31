import { describe, expect, it } from "vitest";
import type { Store } from "../../src/store/store.ts";
import { at, members, msg, room, storeFixture } from "./fixtures.ts";

/** RoomsStore and MembersStore: creation, direct-room uniqueness, listing by activity. */
export function runRoomsContract(adapter: string, makeStore: () => Promise<Store>): void {
  describe(`${adapter}: Rooms`, () => {
    const ctx = storeFixture(makeStore);

    it("creates a group with members and reads it back", async () => {
      const r = await ctx.store.createGroupRoom(room(), members("u1", "u2", "u3"));
      expect(r).toMatchObject({ type: "group", members_count: 3, last_seq: 0, last_message: null });
      expect(await ctx.store.getRoom(r.id)).toEqual(r);
      expect((await ctx.store.getMembers(r.id)).map((m) => [m.user_id, m.role])).toEqual([
        ["u1", "admin"],
        ["u2", "member"],
        ["u3", "member"],
      ]);
      expect(await ctx.store.getMember(r.id, "u2")).toMatchObject({ role: "member", read_seq: 0 });
      expect(await ctx.store.getMember(r.id, "nobody")).toBeNull();
      expect((await ctx.store.listMemberIds(r.id)).sort()).toEqual(["u1", "u2", "u3"]);
      expect(await ctx.store.listRoomIdsForUser("u3")).toEqual([r.id]);
      expect(await ctx.store.getRoom("missing")).toBeNull();
    });

    it("keeps one direct room per pair, even under concurrent creates", async () => {
      const attempts = await Promise.all(
        Array.from({ length: 10 }, () =>
          ctx.store.getOrCreateDirectRoom(
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
        rooms.push(await ctx.store.createGroupRoom(room({ created_at: at(i) }), members("u1")));
      const [r0] = rooms;
      if (!r0) throw new Error("no room");
      // A message makes the oldest room the most recent.
      await ctx.store.insertMessages([msg(r0.id, 1, { created_at: at(10_000) })]);
      const first = await ctx.store.listRoomsForUser("u1", 3);
      expect(first.map((x) => x.room.id)).toEqual([r0.id, rooms[4]?.id, rooms[3]?.id]);
      const last = first.at(-1)?.room;
      if (!last) throw new Error("empty page");
      const second = await ctx.store.listRoomsForUser("u1", 3, {
        last_activity_at: last.last_activity_at,
        id: last.id,
      });
      expect(second.map((x) => x.room.id)).toEqual([rooms[2]?.id, rooms[1]?.id]);
      expect(first[0]?.member).toMatchObject({ user_id: "u1", role: "admin" });
      expect(await ctx.store.listRoomsForUser("stranger", 10)).toEqual([]);
    });

    it("moves receipt watermarks up only, a read moving delivery with it", async () => {
      const r = await ctx.store.createGroupRoom(room(), members("u1", "u2"));
      const up = (change: { read_seq?: number; delivered_seq?: number }, rev: number) =>
        ctx.store.updateReceipts(r.id, "u2", { ...change, at: at(rev), rev });
      expect(await up({ delivered_seq: 3 }, 1)).toMatchObject({ read_seq: 0, delivered_seq: 3 });
      expect(await up({ read_seq: 5 }, 2)).toMatchObject({ read_seq: 5, delivered_seq: 5, read_at: at(2) });
      expect(await up({ read_seq: 4, delivered_seq: 2 }, 3)).toMatchObject({
        read_seq: 5,
        delivered_seq: 5,
        read_at: at(2),
      });
      expect(await ctx.store.updateReceipts(r.id, "stranger", { read_seq: 1, at: at(4), rev: 4 })).toBeNull();
    });

    it("changes only the settings given, and lists a user's memberships with the room's last seq", async () => {
      const r = await ctx.store.createGroupRoom(room(), members("u1", "u2"));
      await ctx.store.updateSettings(r.id, "u2", { pinned: true, rev: 1 });
      const muted = await ctx.store.updateSettings(r.id, "u2", { muted_until: at(99), rev: 2 });
      expect(muted).toMatchObject({ pinned: true, archived: false, muted_until: at(99) });
      expect(await ctx.store.updateSettings(r.id, "u2", { muted_until: null, rev: 3 })).toMatchObject({
        pinned: true,
        muted_until: null,
      });
      expect((await ctx.store.getMember(r.id, "u1"))?.pinned).toBe(false);
      await ctx.store.insertMessages([msg(r.id, 1), msg(r.id, 2, { type: "system" }), msg(r.id, 3)]);
      await ctx.store.updateSettings(r.id, "u2", { muted_until: at(98), rev: 4 });
      await ctx.store.updateReceipts(r.id, "u2", { read_seq: 2, at: at(5), rev: 5 });
      const mine = await ctx.store.listMemberships("u2");
      expect(mine).toEqual([
        {
          member: expect.objectContaining({ room_id: r.id, user_id: "u2", read_seq: 2, muted_until: at(98) }),
          last_seq: 3,
        },
      ]);
      const seqs = await ctx.store.uncountedSeqsAfter([
        { room_id: r.id, seq: 0 },
        { room_id: "other", seq: 0 },
      ]);
      expect(seqs.get(r.id)).toEqual([2]);
      expect((await ctx.store.uncountedSeqsAfter([{ room_id: r.id, seq: 2 }])).get(r.id) ?? []).toEqual([]);
      // A message the store refused for good took seq 4 but is nothing to read: never unread.
      await ctx.store.recordRollbacks([{ message: msg(r.id, 4), rev: 9, at: at(5) }]);
      const after = await ctx.store.uncountedSeqsAfter([{ room_id: r.id, seq: 0 }]);
      expect([...(after.get(r.id) ?? [])].sort((a, b) => a - b)).toEqual([2, 4]);
      expect((await ctx.store.uncountedSeqsAfter([{ room_id: r.id, seq: 4 }])).get(r.id) ?? []).toEqual([]);
    });

    it("adds members under the cap with their watermarks at the join, and keeps a group administered", async () => {
      const r = await ctx.store.createGroupRoom(room(), members("u1", "u2"));
      const joined = [{ user_id: "u3", role: "member" as const, joined_at: at(5) }];
      expect(await ctx.store.addMembers(r.id, joined, 3, 7, 4)).toEqual(["u3"]);
      expect(await ctx.store.getMember(r.id, "u3")).toMatchObject({ read_seq: 4, delivered_seq: 4 });
      expect(await ctx.store.addMembers(r.id, joined, 3, 8, 4)).toEqual([]); // already in
      expect(
        await ctx.store.addMembers(r.id, [{ user_id: "u4", role: "member", joined_at: at(6) }], 3, 9, 4),
      ).toBe("full");
      expect(await ctx.store.setRole(r.id, "u1", "member", 10)).toBe("last_admin");
      expect(await ctx.store.setRole(r.id, "nobody", "admin", 10)).toBeNull();
      // The last admin leaves: the member who joined first (then by id) becomes admin.
      expect(await ctx.store.removeMember(r.id, "u1", 11)).toEqual({ removed: true, promoted: "u2" });
      expect((await ctx.store.getMember(r.id, "u2"))?.role).toBe("admin");
      expect(await ctx.store.removeMember(r.id, "u1", 12)).toEqual({ removed: false, promoted: null });
      expect((await ctx.store.getRoom(r.id))?.rev).toBe(11);
    });

    it("finds the rooms showing a media as their avatar, and clears it only while it is still that media", async () => {
      const [a, b, c] = [room(), room(), room()].sort((x, y) => (x.id < y.id ? -1 : 1));
      if (!a || !b || !c) throw new Error("no rooms");
      for (const r of [a, b, c]) await ctx.store.createGroupRoom(r, members("u1"));
      await ctx.store.updateRoom(a.id, { avatar_media_id: "m1", updated_at: at(1), rev: 1 });
      await ctx.store.updateRoom(b.id, { avatar_media_id: "m1", updated_at: at(1), rev: 1 });
      await ctx.store.updateRoom(c.id, { avatar_media_id: "m2", updated_at: at(1), rev: 1 });
      expect(await ctx.store.roomsWithAvatar("m1", 10)).toEqual([a.id, b.id]);
      expect(await ctx.store.roomsWithAvatar("m1", 1)).toEqual([a.id]);
      expect(await ctx.store.roomsWithAvatar("none", 10)).toEqual([]);

      const cleared = await ctx.store.clearAvatar(a.id, "m1", { updated_at: at(2), rev: 5 });
      expect(cleared).toMatchObject({ id: a.id, avatar_media_id: null, updated_at: at(2), rev: 5 });
      expect(await ctx.store.getRoom(a.id)).toEqual(cleared);
      // Another avatar set meanwhile stays; so does a room that has none.
      expect(await ctx.store.clearAvatar(c.id, "m1", { updated_at: at(3), rev: 6 })).toBeNull();
      expect(await ctx.store.getRoom(c.id)).toMatchObject({ avatar_media_id: "m2", rev: 1 });
      expect(await ctx.store.clearAvatar(a.id, "m1", { updated_at: at(3), rev: 6 })).toBeNull();
      expect(await ctx.store.clearAvatar("missing", "m1", { updated_at: at(3), rev: 6 })).toBeNull();
      expect(await ctx.store.roomsWithAvatar("m1", 10)).toEqual([b.id]);
    });
  });
}
