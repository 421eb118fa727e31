import { describe, expect, it } from "vitest";
import type { MessageOp, Store } from "../../src/store/store.ts";
import { at, members, msg, room, storeFixture } from "./fixtures.ts";

/** MessageStateStore: ops applied by revision commute, replay, and may precede their message. */
export function runMessageStateContract(adapter: string, makeStore: () => Promise<Store>): void {
  describe(`${adapter}: MessageState`, () => {
    const ctx = storeFixture(makeStore);

    async function setup() {
      const r = await ctx.store.createGroupRoom(room(), members("u1", "u2", "u3"));
      const m = msg(r.id, 1);
      const op = <K extends MessageOp["kind"]>(kind: K, rev: number, extra: object = {}) =>
        ({ kind, message_id: m.id, room_id: r.id, rev, at: at(rev * 1000), ...extra }) as Extract<
          MessageOp,
          { kind: K }
        >;
      const state = async (viewer = "u1") => (await ctx.store.getMessageStates([m], viewer)).get(m.id);
      return { r, m, op, state };
    }

    it("lists a user's stars, most recent first, keyset-paged; unstarred ones are left out", async () => {
      const r = await ctx.store.createGroupRoom(room(), members("u1", "u2"));
      const [a, b, c] = [msg(r.id, 1), msg(r.id, 2), msg(r.id, 3)];
      const star = (m: typeof a, rev: number, starred: boolean, user = "u1"): MessageOp => ({
        kind: "star",
        message_id: m.id,
        room_id: r.id,
        rev,
        at: at(rev * 1000),
        user_id: user,
        starred,
      });
      await ctx.store.applyMessageOps([
        star(a, 4, true),
        star(b, 5, true),
        star(c, 6, true),
        star(a, 7, true, "u2"),
      ]);
      await ctx.store.applyMessageOps([star(b, 8, false)]);
      const all = await ctx.store.listStarred("u1", 10);
      expect(all.map((x) => x.message_id)).toEqual([c.id, a.id]);
      expect(all[0]).toEqual({ message_id: c.id, room_id: r.id, starred_at: at(6000) });
      const next = await ctx.store.listStarred("u1", 1, { starred_at: at(6000), message_id: c.id });
      expect(next.map((x) => x.message_id)).toEqual([a.id]);
      expect(await ctx.store.listStarred("u3", 10)).toEqual([]);
    });

    it("gives a message nobody changed a default state at its record's rev", async () => {
      const { m, state } = await setup();
      await ctx.store.insertMessages([m]);
      expect(await state()).toMatchObject({
        edit: null,
        deleted: null,
        reactions: {},
        my_reaction: null,
        hidden: false,
        starred: false,
        rev: m.rev,
      });
    });

    it("keeps an op that arrives before its message, and applies it once the message lands", async () => {
      const { m, op, state } = await setup();
      await ctx.store.applyMessageOps([op("edit", 5, { text: "edited first" })]);
      await ctx.store.insertMessages([m]);
      expect((await state())?.edit).toMatchObject({ text: "edited first", rev: 5 });
      expect(await ctx.store.getMessage(m.id)).toEqual(m); // the record keeps the original text
    });

    it("ends in the same state whichever order two edits arrive in, and a replay changes nothing", async () => {
      const { m, op, state } = await setup();
      await ctx.store.insertMessages([m]);
      await ctx.store.applyMessageOps([op("edit", 7, { text: "later" })]);
      await ctx.store.applyMessageOps([op("edit", 6, { text: "earlier" })]);
      expect((await state())?.edit?.text).toBe("later");
      await ctx.store.applyMessageOps([op("edit", 7, { text: "later" }), op("edit", 6, { text: "earlier" })]);
      expect((await state())?.edit).toMatchObject({ text: "later", rev: 7 });
    });

    it("does not let a replayed insert undo an edit", async () => {
      const { m, op, state } = await setup();
      await ctx.store.insertMessages([m]);
      await ctx.store.applyMessageOps([op("edit", 4, { text: "new" })]);
      await ctx.store.insertMessages([m]);
      expect((await state())?.edit?.text).toBe("new");
    });

    it("makes a delete stick, whatever arrives after it", async () => {
      const { m, op, state } = await setup();
      await ctx.store.insertMessages([m]);
      await ctx.store.applyMessageOps([op("delete", 9)]);
      await ctx.store.applyMessageOps([op("edit", 10, { text: "too late" }), op("delete", 12)]);
      const s = await state();
      expect(s?.deleted).toMatchObject({ rev: 9 });
      expect(s?.rev).toBe(10);
    });

    it("keeps one reaction per user, the highest rev winning, and counts them", async () => {
      const { m, op, state } = await setup();
      await ctx.store.insertMessages([m]);
      await ctx.store.applyMessageOps([
        op("react", 3, { user_id: "u1", emoji: "👍" }),
        op("react", 5, { user_id: "u2", emoji: "👍" }),
        op("react", 4, { user_id: "u3", emoji: "❤️" }),
        op("react", 2, { user_id: "u1", emoji: "😂" }), // older: loses
      ]);
      expect(await state("u1")).toMatchObject({ reactions: { "👍": 2, "❤️": 1 }, my_reaction: "👍" });
      await ctx.store.applyMessageOps([op("react", 8, { user_id: "u1", emoji: null })]);
      expect(await state("u1")).toMatchObject({ reactions: { "👍": 1, "❤️": 1 }, my_reaction: null, rev: 8 });
      // A removal is remembered: an older reaction arriving late does not come back.
      await ctx.store.applyMessageOps([op("react", 6, { user_id: "u1", emoji: "🎉" })]);
      expect((await state("u1"))?.my_reaction).toBeNull();
      expect((await ctx.store.getReactions(m.id)).length).toBe(3);
    });

    it("hides for one user only, and stars per user by rev", async () => {
      const { m, op, state } = await setup();
      await ctx.store.insertMessages([m]);
      await ctx.store.applyMessageOps([
        op("hide", 3, { user_id: "u2" }),
        op("star", 5, { user_id: "u1", starred: true }),
        op("star", 4, { user_id: "u1", starred: false }),
      ]);
      expect(await state("u1")).toMatchObject({ hidden: false, starred: true });
      expect(await state("u2")).toMatchObject({ hidden: true, starred: false });
    });

    it("advances the room's rev with every op", async () => {
      const { r, m, op } = await setup();
      await ctx.store.insertMessages([m]);
      await ctx.store.applyMessageOps([op("react", 40, { user_id: "u1", emoji: "👍" })]);
      expect((await ctx.store.roomCounters(r.id)).rev).toBe(40);
      expect((await ctx.store.getRoom(r.id))?.rev).toBe(40);
    });
  });
}
