import { describe, expect, it } from "vitest";
import type { Store } from "../../src/store/store.ts";
import { at, members, room, storeFixture } from "./fixtures.ts";

/** BlocksStore: one direction per row, idempotent, and what a direct room's block means. */
export function runBlocksContract(adapter: string, makeStore: () => Promise<Store>): void {
  describe(`${adapter}: Blocks`, () => {
    const ctx = storeFixture(makeStore);

    it("blocks one way, idempotently, and lifts", async () => {
      await ctx.store.block("a", "b", at(1));
      await ctx.store.block("a", "b", at(2));
      expect(await ctx.store.isBlocked("a", "b")).toBe(true);
      expect(await ctx.store.isBlocked("b", "a")).toBe(false);
      expect(await ctx.store.blockersOf("b", ["a", "c"])).toEqual(["a"]);
      expect(await ctx.store.blockersOf("b", [])).toEqual([]);
      await ctx.store.unblock("a", "b");
      await ctx.store.unblock("a", "b");
      expect(await ctx.store.isBlocked("a", "b")).toBe(false);
    });

    it("knows a direct room is blocked either way, and a group never is", async () => {
      const direct = await ctx.store.getOrCreateDirectRoom(
        room({ type: "direct", name: null, direct_key: "x|y" }),
        members("x", "y"),
      );
      const group = await ctx.store.createGroupRoom(room(), members("x", "y"));
      expect(await ctx.store.directRoomId("y", "x")).toBe(direct.room.id);
      expect(await ctx.store.directRoomId("x", "z")).toBeNull();
      expect(await ctx.store.isRoomBlocked(direct.room.id)).toBe(false);
      await ctx.store.block("y", "x", at(1));
      expect(await ctx.store.isRoomBlocked(direct.room.id)).toBe(true);
      expect(await ctx.store.isRoomBlocked(group.id)).toBe(false);
    });
  });
}
