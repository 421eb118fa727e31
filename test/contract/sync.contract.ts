import { describe, expect, it } from "vitest";
import type { MessageOp, MessageRecord, Store } from "../../src/store/store.ts";
import { at, members, msg, room, storeFixture } from "./fixtures.ts";

/**
 * SyncStore.messageChanges: each message once, at its latest change, in (afterRev, uptoRev],
 * oldest first, at most `limit`; the viewer's own hides and stars count, nobody else's.
 */
export function runSyncContract(adapter: string, makeStore: () => Promise<Store>): void {
  describe(`${adapter}: Sync`, () => {
    const ctx = storeFixture(makeStore);

    async function setup(count: number) {
      const r = await ctx.store.createGroupRoom(room(), members("u1", "u2"));
      const ms = Array.from({ length: count }, (_, i) => msg(r.id, i + 1));
      await ctx.store.insertMessages(ms);
      const op = (m: MessageRecord, rev: number, change: Partial<MessageOp> & Pick<MessageOp, "kind">) =>
        ({ message_id: m.id, room_id: r.id, rev, at: at(rev * 1000), ...change }) as MessageOp;
      const changes = (after: number, upto: number, limit = 100, viewer = "u1") =>
        ctx.store.messageChanges(r.id, after, upto, viewer, limit);
      return { r, ms, op, changes };
    }

    it("gives a message changed several times in the window once, at its latest change", async () => {
      const { ms, op, changes } = await setup(3);
      const [a, b, c] = ms as [MessageRecord, MessageRecord, MessageRecord];
      await ctx.store.applyMessageOps([
        op(a, 4, { kind: "edit", text: "one" }),
        op(a, 5, { kind: "react", user_id: "u2", emoji: "👍" }),
        op(b, 6, { kind: "media" }),
        op(a, 7, { kind: "edit", text: "two" }),
      ]);
      expect(await changes(0, 7)).toEqual([
        { message_id: c.id, rev: 3 },
        { message_id: b.id, rev: 6 },
        { message_id: a.id, rev: 7 },
      ]);
      // From a cursor between a's changes: a only once more, at its latest.
      expect(await changes(4, 7)).toEqual([
        { message_id: b.id, rev: 6 },
        { message_id: a.id, rev: 7 },
      ]);
    });

    it("leaves out a message whose latest change is above uptoRev, and takes it once the window reaches it", async () => {
      const { ms, op, changes } = await setup(3);
      const [a, b, c] = ms as [MessageRecord, MessageRecord, MessageRecord];
      await ctx.store.applyMessageOps([
        op(a, 5, { kind: "delete" }),
        op(c, 4, { kind: "react", user_id: "u1", emoji: "x" }),
      ]);
      expect(await changes(0, 4)).toEqual([
        { message_id: b.id, rev: 2 },
        { message_id: c.id, rev: 4 },
      ]);
      expect(await changes(4, 5)).toEqual([{ message_id: a.id, rev: 5 }]);
    });

    it("counts the viewer's own hides and stars, not another user's", async () => {
      const { ms, op, changes } = await setup(2);
      const [a, b] = ms as [MessageRecord, MessageRecord];
      await ctx.store.applyMessageOps([
        op(a, 3, { kind: "hide", user_id: "u2" }),
        op(b, 4, { kind: "star", user_id: "u2", starred: true }),
      ]);
      expect(await changes(0, 4, 100, "u1")).toEqual([
        { message_id: a.id, rev: 1 },
        { message_id: b.id, rev: 2 },
      ]);
      expect(await changes(2, 4, 100, "u1")).toEqual([]);
      expect(await changes(0, 4, 100, "u2")).toEqual([
        { message_id: a.id, rev: 3 },
        { message_id: b.id, rev: 4 },
      ]);
      // The viewer's own star above the window hides the message from it, as any later change.
      await ctx.store.applyMessageOps([op(a, 5, { kind: "star", user_id: "u1", starred: true })]);
      expect(await changes(0, 4, 100, "u1")).toEqual([{ message_id: b.id, rev: 2 }]);
      expect(await changes(0, 4, 100, "u2")).toEqual([
        { message_id: a.id, rev: 3 },
        { message_id: b.id, rev: 4 },
      ]);
    });

    it("gives a message once when two kinds of change hold its latest revision", async () => {
      const { ms, op, changes } = await setup(2);
      const [a, b] = ms as [MessageRecord, MessageRecord];
      await ctx.store.applyMessageOps([
        op(a, 3, { kind: "edit", text: "e" }),
        op(a, 3, { kind: "react", user_id: "u2", emoji: "x" }),
        op(a, 3, { kind: "star", user_id: "u1", starred: true }),
        op(b, 2, { kind: "hide", user_id: "u1" }),
      ]);
      expect(await changes(0, 3)).toEqual([
        { message_id: b.id, rev: 2 },
        { message_id: a.id, rev: 3 },
      ]);
      expect(await changes(0, 3, 1)).toEqual([{ message_id: b.id, rev: 2 }]);
    });

    it("gives every message whose latest change shares one revision, each once", async () => {
      const { ms, op, changes } = await setup(40);
      await ctx.store.applyMessageOps(ms.map((m) => op(m, 50, { kind: "media" })));
      const all = await changes(0, 50, 100);
      expect(all.map((c) => c.rev)).toEqual(ms.map(() => 50));
      expect(new Set(all.map((c) => c.message_id))).toEqual(new Set(ms.map((m) => m.id)));
      // Which of them a short page takes is the store's choice; never one twice.
      const few = await changes(0, 50, 5);
      expect(few.map((c) => c.rev)).toEqual([50, 50, 50, 50, 50]);
      expect(new Set(few.map((c) => c.message_id)).size).toBe(5);
      expect(await changes(49, 50, 100)).toHaveLength(40);
    });

    it("gives a rolled-back message at its tombstone's revision", async () => {
      const { r, ms, changes } = await setup(1);
      const gone = msg(r.id, 2);
      await ctx.store.recordRollbacks([{ message: gone, rev: 3, at: at(3000) }]);
      expect(await changes(0, 3)).toEqual([
        { message_id: ms[0]?.id, rev: 1 },
        { message_id: gone.id, rev: 3 },
      ]);
    });

    it("pages through many changes in revision order, as a model of the latest change says", async () => {
      const N = 40;
      const { ms, op, changes } = await setup(N);
      // Another room's changes never show.
      const other = await ctx.store.createGroupRoom(room(), members("u1"));
      await ctx.store.insertMessages([msg(other.id, 1), msg(other.id, 2)]);
      const latest = new Map(ms.map((m) => [m.id, m.rev] as const));
      const ops: MessageOp[] = [];
      let seed = 7;
      const next = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      const kinds = ["edit", "react", "media", "star"] as const;
      for (let rev = N + 1; rev <= N + 120; rev++) {
        const m = ms[next(N)] as MessageRecord;
        const kind = kinds[next(kinds.length)] ?? "edit";
        const user = next(2) === 0 ? "u1" : "u2";
        const change =
          kind === "edit"
            ? { kind, text: `t${rev}` }
            : kind === "react"
              ? { kind, user_id: user, emoji: "x" }
              : kind === "star"
                ? { kind, user_id: user, starred: true }
                : { kind };
        ops.push(op(m, rev, change));
        if (kind !== "star" || user === "u1") latest.set(m.id, rev);
      }
      // In shuffled batches: ops apply by revision whatever their order.
      for (let i = 0; i < ops.length; i += 17)
        await ctx.store.applyMessageOps(ops.slice(i, i + 17).reverse());
      const upto = N + 100;
      const expected = [...latest]
        .filter(([, rev]) => rev <= upto)
        .sort((x, y) => x[1] - y[1])
        .map(([message_id, rev]) => ({ message_id, rev }));
      expect(await changes(0, upto, 1000)).toEqual(expected);
      // Paged by 3 from the last revision of each page (revisions are unique here).
      const paged: { message_id: string; rev: number }[] = [];
      for (let after = 0; ; ) {
        const page = await changes(after, upto, 3);
        paged.push(...page);
        if (page.length < 3) break;
        after = page.at(-1)?.rev ?? upto;
      }
      expect(paged).toEqual(expected);
      expect(await changes(20, upto, 1000)).toEqual(expected.filter((c) => c.rev > 20));
    });
  });
}
