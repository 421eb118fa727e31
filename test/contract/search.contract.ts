import { describe, expect, it } from "vitest";
import type { MessageOp, Store } from "../../src/store/store.ts";
import { at, members, msg, room, storeFixture } from "./fixtures.ts";

/** SearchStore: the caller's rooms only, current text, no tombstones or hidden messages, any script. */
export function runSearchContract(adapter: string, makeStore: () => Promise<Store>): void {
  describe(`${adapter}: Search`, () => {
    const ctx = storeFixture(makeStore);
    const ids = async (user: string, q: string, extra: { roomId?: string } = {}) =>
      (await ctx.store.searchMessages(user, { terms: q.split(" "), limit: 50, ...extra })).messages.map(
        (m) => m.text,
      );

    it("finds text in the caller's rooms, ignoring accents, in scripts without spaces too", async () => {
      const mine = await ctx.store.createGroupRoom(room(), members("u1", "u2"));
      const other = await ctx.store.createGroupRoom(room(), members("u3"));
      await ctx.store.insertMessages([
        msg(mine.id, 1, { text: "Crème brûlée tonight?" }),
        msg(mine.id, 2, { text: "日本語のテキストです" }),
        msg(mine.id, 3, { text: "Привет, мир" }),
        msg(other.id, 1, { text: "creme for someone else" }),
        msg(mine.id, 4, { text: null, type: "system" }),
      ]);
      expect(await ids("u1", "creme")).toEqual(["Crème brûlée tonight?"]);
      expect(await ids("u1", "creme tonight")).toEqual(["Crème brûlée tonight?"]);
      expect(await ids("u1", "creme absent")).toEqual([]);
      expect(await ids("u2", "テキスト")).toEqual(["日本語のテキストです"]);
      expect(await ids("u1", "привет")).toEqual(["Привет, мир"]);
      expect(await ids("u3", "creme")).toEqual(["creme for someone else"]);
      expect(await ids("u1", "creme", { roomId: other.id })).toEqual([]);
    });

    it("follows edits (whenever they land), drops tombstones, and hides what the caller hid", async () => {
      const r = await ctx.store.createGroupRoom(room(), members("u1", "u2"));
      const a = msg(r.id, 1, { text: "original words" });
      const b = msg(r.id, 2, { text: "doomed words" });
      const c = msg(r.id, 3, { text: "private words" });
      const op = (m: typeof a, o: Record<string, unknown>) =>
        ({ message_id: m.id, room_id: r.id, at: at(9), ...o }) as MessageOp;
      // An edit that lands before its message, and a later one that loses to it.
      await ctx.store.applyMessageOps([op(a, { kind: "edit", rev: 10, text: "edited phrase" })]);
      await ctx.store.insertMessages([a, b, c]);
      await ctx.store.applyMessageOps([op(a, { kind: "edit", rev: 9, text: "stale phrase" })]);
      await ctx.store.applyMessageOps([
        op(b, { kind: "delete", rev: 11 }),
        op(c, { kind: "hide", rev: 12, user_id: "u2" }),
      ]);
      expect(await ids("u1", "original")).toEqual([]);
      expect(await ids("u1", "stale")).toEqual([]);
      expect(await ids("u1", "edited")).toEqual(["original words"]); // the record; views lay the edit over it
      expect(await ids("u1", "doomed")).toEqual([]);
      expect(await ids("u1", "words")).toEqual(["private words"]);
      expect(await ids("u2", "words")).toEqual([]);
    });

    it("pages most recently stored first with a keyset", async () => {
      const r = await ctx.store.createGroupRoom(room(), members("u1"));
      await ctx.store.insertMessages(
        Array.from({ length: 5 }, (_, i) => msg(r.id, i + 1, { text: `needle ${i}` })),
      );
      const first = await ctx.store.searchMessages("u1", { terms: ["needle"], limit: 2 });
      expect(first.messages.map((m) => m.seq)).toEqual([5, 4]);
      const next = await ctx.store.searchMessages("u1", {
        terms: ["needle"],
        limit: 2,
        after: first.next ?? "",
      });
      expect(next.messages.map((m) => m.seq)).toEqual([3, 2]);
      const last = await ctx.store.searchMessages("u1", {
        terms: ["needle"],
        limit: 2,
        after: next.next ?? "",
      });
      expect(last.messages.map((m) => m.seq)).toEqual([1]);
      expect(last.next).toBeNull();
    });
  });
}
