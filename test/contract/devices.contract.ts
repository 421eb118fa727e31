import { describe, expect, it } from "vitest";
import type { DeviceUpsert, Store } from "../../src/store/store.ts";
import { at, storeFixture } from "./fixtures.ts";

/** DevicesStore: upsert by (user, device), one device per push token, forward-only times. */
export function runDevicesContract(adapter: string, makeStore: () => Promise<Store>): void {
  describe(`${adapter}: Devices`, () => {
    const ctx = storeFixture(makeStore);
    const upsert = async (d: DeviceUpsert) => {
      const result = await ctx.store.upsertDevice(d, 100);
      if (result === "full") throw new Error("unexpected: full");
      return result;
    };

    it("upserts by (user, device): a repeat updates, an absent field is kept, null clears", async () => {
      const first = await upsert({
        user_id: "u1",
        device_id: "d1",
        platform: "ios",
        push_token: "tok-1",
        app_version: "1.0",
        at: at(1),
      });
      expect(first).toMatchObject({ created: true, tokenTakenFrom: null });
      expect(first.device).toMatchObject({
        push_token: "tok-1",
        app_version: "1.0",
        created_at: at(1),
        last_sync_at: null,
      });
      const again = await upsert({
        user_id: "u1",
        device_id: "d1",
        platform: "ios",
        at: at(2),
      });
      expect(again.created).toBe(false);
      expect(again.device).toMatchObject({
        push_token: "tok-1",
        app_version: "1.0",
        created_at: at(1),
        updated_at: at(2),
      });
      const cleared = await upsert({
        user_id: "u1",
        device_id: "d1",
        platform: "ios",
        push_token: null,
        at: at(3),
      });
      expect(cleared.device.push_token).toBeNull();
      // The same device id of another user is another device.
      expect((await upsert({ user_id: "u2", device_id: "d1", platform: "web", at: at(4) })).created).toBe(
        true,
      );
      expect((await ctx.store.listDevices("u1")).map((d) => d.device_id)).toEqual(["d1"]);
    });

    it("moves a push token to the device that registers it, whoever held it", async () => {
      await upsert({
        user_id: "u1",
        device_id: "a",
        platform: "android",
        push_token: "t",
        at: at(1),
      });
      const moved = await upsert({
        user_id: "u2",
        device_id: "b",
        platform: "android",
        push_token: "t",
        at: at(2),
      });
      expect(moved.tokenTakenFrom).toEqual({ user_id: "u1", device_id: "a" });
      expect((await ctx.store.getDevice("u1", "a"))?.push_token).toBeNull();
      expect((await ctx.store.getDevice("u2", "b"))?.push_token).toBe("t");
      const holders = await ctx.store.devicesOf(["u1", "u2", "u3"]);
      expect(holders.filter((d) => d.push_token === "t").map((d) => d.user_id)).toEqual(["u2"]);
      await ctx.store.dropPushToken("t");
      expect((await ctx.store.getDevice("u2", "b"))?.push_token).toBeNull();
    });

    it("saves a sync cursor only while its device exists, and keeps a device's cursors few", async () => {
      const cursor = (id: string) => ({
        id,
        user_id: "u1",
        device_id: "d",
        kind: "messages" as const,
        state: "{}",
        created_at: at(1),
      });
      expect(await ctx.store.saveSyncCursor(cursor("01A"), [])).toBe(false);
      await upsert({ user_id: "u1", device_id: "d", platform: "web", at: at(1) });
      for (const id of ["01B", "01C", "01D", "01E", "01F"])
        expect(await ctx.store.saveSyncCursor(cursor(id), ["01B"])).toBe(true);
      // The one the device came with (01B) and the newest three stay.
      const left = await Promise.all(
        ["01B", "01C", "01D", "01E", "01F"].map((id) => ctx.store.getSyncCursor(id)),
      );
      expect(left.map((c) => c?.id ?? null)).toEqual(["01B", null, "01D", "01E", "01F"]);
      await ctx.store.deleteDevice("u1", "d");
      expect(await ctx.store.getSyncCursor("01F")).toBeNull();
    });

    it("refuses a new device past the cap, in the same write; an existing one still updates", async () => {
      const d = (id: string) => ({ user_id: "cap", device_id: id, platform: "web" as const, at: at(1) });
      expect(await ctx.store.upsertDevice(d("a"), 2)).not.toBe("full");
      expect(await ctx.store.upsertDevice(d("b"), 2)).not.toBe("full");
      expect(await ctx.store.upsertDevice(d("c"), 2)).toBe("full");
      expect(await ctx.store.getDevice("cap", "c")).toBeNull();
      expect(await ctx.store.upsertDevice({ ...d("a"), platform: "ios" }, 2)).toMatchObject({
        created: false,
      });
    });

    it("moves sync and seen times forward only; deletes", async () => {
      await upsert({ user_id: "u1", device_id: "d", platform: "web", at: at(1) });
      expect(await ctx.store.touchDevice("u1", "d", { last_sync_at: at(5) })).toMatchObject({
        last_sync_at: at(5),
      });
      expect(
        await ctx.store.touchDevice("u1", "d", { last_sync_at: at(3), last_seen_at: at(9) }),
      ).toMatchObject({
        last_sync_at: at(5),
        last_seen_at: at(9),
      });
      expect(await ctx.store.touchDevice("u1", "nope", { last_sync_at: at(5) })).toBeNull();
      expect(await ctx.store.deleteDevice("u1", "d")).toBe(true);
      expect(await ctx.store.deleteDevice("u1", "d")).toBe(false);
      expect(await ctx.store.getDevice("u1", "d")).toBeNull();
    });
  });
}
