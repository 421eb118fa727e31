import { ulid } from "ulid";
import { describe, expect, it } from "vitest";
import { newId } from "../../src/kernel/ids.ts";
import type { Store } from "../../src/store/store.ts";
import { at, media, members, msg, room, storeFixture } from "./fixtures.ts";

/** MediaStore: records with compare-and-set status changes, deletion marks, and links to messages. */
export function runMediaContract(adapter: string, makeStore: () => Promise<Store>): void {
  describe(`${adapter}: Media`, () => {
    const ctx = storeFixture(makeStore);

    it("creates and reads records, one or many; unknown ids are absent", async () => {
      const a = media();
      const b = media({ kind: "video", duration: 2.5 });
      await ctx.store.createMedia(a);
      await ctx.store.createMedia(b);
      expect(await ctx.store.getMedia(a.id)).toEqual(a);
      expect(await ctx.store.getMedia(ulid())).toBeNull();
      const many = await ctx.store.getMediaMany([a.id, b.id, a.id, ulid()]);
      expect([...many.keys()].sort()).toEqual([a.id, b.id].sort());
      expect(many.get(b.id)?.duration).toBe(2.5);
      expect((await ctx.store.getMediaMany([])).size).toBe(0);
    });

    it("changes status only from the expected ones (two confirms cannot both win), never once deleted", async () => {
      const m = media();
      await ctx.store.createMedia(m);
      const first = await ctx.store.updateMedia(m.id, ["pending"], {
        status: "processing",
        updated_at: at(1),
      });
      expect(first).toMatchObject({ status: "processing", updated_at: at(1), object_key: "ob-x" });
      expect(
        await ctx.store.updateMedia(m.id, ["pending"], { status: "processing", updated_at: at(2) }),
      ).toBeNull();
      const ready = await ctx.store.updateMedia(m.id, ["processing"], {
        status: "ready",
        thumb_key: "th-x",
        placeholder: "data:,",
        width: 10,
        height: 20,
        updated_at: at(3),
      });
      expect(ready).toMatchObject({
        status: "ready",
        thumb_key: "th-x",
        width: 10,
        height: 20,
        failure: null,
      });
      expect(
        await ctx.store.updateMedia(ulid(), ["pending"], { status: "failed", updated_at: at(4) }),
      ).toBeNull();

      const gone = await ctx.store.deleteMedia(m.id, at(5));
      expect(gone?.deleted_at).toBe(at(5));
      // Idempotent: the first mark stays.
      expect((await ctx.store.deleteMedia(m.id, at(6)))?.deleted_at).toBe(at(5));
      expect(
        await ctx.store.updateMedia(m.id, ["ready"], { status: "failed", updated_at: at(7) }),
      ).toBeNull();
      expect(await ctx.store.deleteMedia(ulid(), at(8))).toBeNull();
    });

    it("creates within a quota of bytes started since a time (any status), atomically", async () => {
      const quota = { since: at(2), maxBytes: 100 };
      expect(
        await ctx.store.createMedia(media({ owner_id: "p1", size: 40, created_at: at(1) }), quota),
      ).toEqual({
        created: true,
      });
      await ctx.store.createMedia(media({ owner_id: "p1", size: 30, created_at: at(5), status: "failed" }));
      await ctx.store.createMedia(media({ owner_id: "p2", size: 90, created_at: at(5) }));
      // 30 in the window (the 40 is older): 30 + 70 fits, then nothing more does.
      expect(
        await ctx.store.createMedia(media({ owner_id: "p1", size: 70, created_at: at(6) }), quota),
      ).toEqual({
        created: true,
      });
      const refused = media({ owner_id: "p1", size: 1, created_at: at(7) });
      expect(await ctx.store.createMedia(refused, quota)).toEqual({ created: false, used: 100 });
      expect(await ctx.store.getMedia(refused.id)).toBeNull();
    });

    it("links messages to a media, idempotently; lists them, and only in rooms the user belongs to", async () => {
      const m = media();
      await ctx.store.createMedia(m);
      const r1 = await ctx.store.createGroupRoom(room(), members("u1", "u2"));
      const r2 = await ctx.store.createGroupRoom(room(), members("u1", "u3"));
      // Listed by message id (ULIDs: oldest first); newId is monotonic, so l1 sorts first.
      const l1 = { media_id: m.id, room_id: r1.id, message_id: newId() };
      const l2 = { media_id: m.id, room_id: r2.id, message_id: newId() };
      await ctx.store.linkMedia([l1, l2]);
      await ctx.store.linkMedia([l1]);
      await ctx.store.linkMedia([]);
      expect(await ctx.store.mediaLinks(m.id, 10)).toEqual([l1, l2]);
      expect(await ctx.store.mediaLinks(m.id, 1)).toEqual([l1]);
      expect(await ctx.store.mediaLinksForMember(m.id, "u2", 10)).toEqual([l1]);
      expect(await ctx.store.mediaLinksForMember(m.id, "u3", 10)).toEqual([l2]);
      expect(await ctx.store.mediaLinksForMember(m.id, "u1", 10)).toHaveLength(2);
      expect(await ctx.store.mediaLinksForMember(m.id, "u4", 10)).toEqual([]);
      expect(await ctx.store.mediaLinks(ulid(), 10)).toEqual([]);
    });

    it("a media op moves the message's revision (and the room's), nothing else", async () => {
      const r = await ctx.store.createGroupRoom(room(), members("u1", "u2"));
      const m = msg(r.id, 1, { type: "image", text: null, media_id: ulid() });
      await ctx.store.insertMessages([m]);
      await ctx.store.applyMessageOps([
        { kind: "media", message_id: m.id, room_id: r.id, rev: 7, at: at(1) },
      ]);
      await ctx.store.applyMessageOps([
        { kind: "media", message_id: m.id, room_id: r.id, rev: 5, at: at(2) },
      ]);
      const state = (await ctx.store.getMessageStates([m], "u2")).get(m.id);
      expect(state).toMatchObject({ rev: 7, edit: null, deleted: null, reactions: {} });
      expect((await ctx.store.getRoom(r.id))?.rev).toBeGreaterThanOrEqual(7);
    });
  });
}
