import { describe, expect, it } from "vitest";
import type { MessageRecord, Store } from "../../src/store/store.ts";
import { members, msg, room, storeFixture } from "./fixtures.ts";

/** MessagesStore: insert-if-absent per message, refusals returned alone, history paging, counters. */
export function runMessagesContract(adapter: string, makeStore: () => Promise<Store>): void {
  describe(`${adapter}: Messages`, () => {
    const ctx = storeFixture(makeStore);

    it("inserts messages idempotently and advances the room and the sender's read seq", async () => {
      const r = await ctx.store.createGroupRoom(room(), members("u1", "u2"));
      const batch = [msg(r.id, 1), msg(r.id, 2, { sender_id: "u2", mentions: ["u1"] })];
      await ctx.store.insertMessages(batch);
      await ctx.store.insertMessages(batch); // a retried job changes nothing
      const after = await ctx.store.getRoom(r.id);
      expect(after?.last_seq).toBe(2);
      expect(after?.last_message?.id).toBe(batch[1]?.id);
      expect(after?.last_activity_at).toBe(batch[1]?.created_at);
      expect(await ctx.store.getMessage(batch[1]?.id ?? "")).toEqual(batch[1]);
      expect((await ctx.store.getMember(r.id, "u2"))?.read_seq).toBe(2);
      expect((await ctx.store.getMember(r.id, "u1"))?.read_seq).toBe(1);
      expect(await ctx.store.roomCounters(r.id)).toEqual({ seq: 2, rev: 2 });
      expect(await ctx.store.roomCounters("empty")).toEqual({ seq: 0, rev: 0 });
      expect(after?.rev).toBe(2);
    });

    it("finds a stored message by its room, sender and client_id; one client_id may serve a sender in two rooms", async () => {
      const r = await ctx.store.createGroupRoom(room(), members("u1", "u2"));
      const other = await ctx.store.createGroupRoom(room(), members("u1", "u2"));
      const m = msg(r.id, 1);
      await ctx.store.insertMessages([m]);
      expect(await ctx.store.getMessageByClientId(r.id, "u1", m.client_id)).toEqual(m);
      expect(await ctx.store.getMessageByClientId(r.id, "u2", m.client_id)).toBeNull();
      expect(await ctx.store.getMessageByClientId(r.id, "u1", "unknown")).toBeNull();
      expect(await ctx.store.getMessageByClientId(other.id, "u1", m.client_id)).toBeNull();
      const again = msg(other.id, 1, { client_id: m.client_id });
      await ctx.store.insertMessages([again]);
      expect(await ctx.store.getMessageByClientId(other.id, "u1", m.client_id)).toEqual(again);
      expect(await ctx.store.getMessageByClientId(r.id, "u1", m.client_id)).toEqual(m);
    });

    it("does not move last_seq backwards when an older batch lands late", async () => {
      const r = await ctx.store.createGroupRoom(room(), members("u1"));
      await ctx.store.insertMessages([msg(r.id, 5)]);
      await ctx.store.insertMessages([msg(r.id, 3)]);
      expect((await ctx.store.getRoom(r.id))?.last_seq).toBe(5);
    });

    it("refuses for good, one message at a time, what can never be written, and keeps the rest", async () => {
      const r = await ctx.store.createGroupRoom(room(), members("u1"));
      const good = msg(r.id, 1);
      const ghost = msg("no-such-room", 1);
      const result = await ctx.store.insertMessages([good, ghost]);
      expect(result.rejected.map((x) => x.message.id)).toEqual([ghost.id]);
      expect(await ctx.store.getMessage(good.id)).toEqual(good);
      // Same (sender, client_id) under another id, or a taken (room, seq): refused, the others kept.
      const sameClient = msg(r.id, 2, { client_id: good.client_id });
      const sameSeq = msg(r.id, 1);
      const fine = msg(r.id, 3);
      const second = await ctx.store.insertMessages([sameClient, sameSeq, fine]);
      expect(second.rejected.map((x) => x.message.id).sort()).toEqual([sameClient.id, sameSeq.id].sort());
      expect(await ctx.store.getMessage(fine.id)).toEqual(fine);
      expect(await ctx.store.getMessage(sameSeq.id)).toBeNull();
      expect((await ctx.store.getRoom(r.id))?.last_seq).toBe(3);
      // A replay of what was written is not a refusal.
      expect((await ctx.store.insertMessages([good, fine])).rejected).toEqual([]);
    });

    it("pages history by seq in both directions", async () => {
      const r = await ctx.store.createGroupRoom(room(), members("u1"));
      await ctx.store.insertMessages(Array.from({ length: 10 }, (_, i) => msg(r.id, i + 1)));
      const seqs = (ms: MessageRecord[]) => ms.map((m) => m.seq);
      expect(seqs(await ctx.store.listMessages(r.id, { limit: 3 }))).toEqual([8, 9, 10]);
      expect(seqs(await ctx.store.listMessages(r.id, { beforeSeq: 8, limit: 3 }))).toEqual([5, 6, 7]);
      expect(seqs(await ctx.store.listMessages(r.id, { afterSeq: 0, limit: 3 }))).toEqual([1, 2, 3]);
      expect(seqs(await ctx.store.listMessages(r.id, { afterSeq: 8, limit: 5 }))).toEqual([9, 10]);
      expect(seqs(await ctx.store.listMessages(r.id, { afterSeq: 2, beforeSeq: 6, limit: 10 }))).toEqual([
        3, 4, 5,
      ]);
      expect(await ctx.store.listMessages("other", { limit: 3 })).toEqual([]);
    });
  });
}
