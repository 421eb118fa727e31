import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import type { MessageView } from "../../src/contract/views.ts";
import { DevicesService } from "../../src/devices/devices.service.ts";
import { RoomCounters } from "../../src/messages/room-counters.repository.ts";
import { SyncService } from "../../src/sync/sync.service.ts";
import { room as newRoom } from "../contract/fixtures.ts";
import { messageStack, user } from "../helpers/stack.ts";

/**
 * Sync against a model: random sends, edits, deletes, reactions, hides and stars by several
 * users, persisted by the pool at random points (so changes sit pending, stored, or half of
 * each when a page is read), interleaved with sync pages of random sizes. The device's replica
 * must end equal to what the server shows, and no page may hand a message out twice at the
 * same revision.
 */
/** Runs once right after the next page read the rooms' counters: forces a change into that window. */
let afterCounters: (() => Promise<void>) | undefined;
class RacingCounters extends RoomCounters {
  override async currentRevs(roomIds: string[]): Promise<Map<string, number>> {
    const revs = await super.currentRevs(roomIds);
    const hook = afterCounters;
    afterCounters = undefined;
    await hook?.();
    return revs;
  }
}
const stack = messageStack("syncprop");
const { store, pending, reader } = stack;
const worker = stack.persister();
const ops = stack.ops({ config: { editWindowS: 86_400, deleteWindowS: 86_400 } });
const messages = stack.messages();
const devices = new DevicesService(store, { deviceUpdated: () => {} }, 1000);
const sync = new SyncService({
  store,
  devices,
  counters: new RacingCounters(stack.redis, stack.keys, store),
  pending,
  reader,
  rooms: { everyRoom: async () => [] },
});
const USERS = ["v", "a", "b"];
const viewer = user("v");

afterAll(() => stack.close());

type Op =
  | { kind: "send"; by: number; room: number }
  | { kind: "edit"; msg: number }
  | { kind: "delete"; msg: number }
  | { kind: "react"; by: number; msg: number; emoji: string | null }
  | { kind: "hide"; msg: number }
  | { kind: "star"; msg: number; on: boolean }
  | { kind: "persist"; share: number }
  | { kind: "burst"; room: number; count: number }
  | { kind: "sync"; limit: number }
  | { kind: "racingSync"; limit: number; room: number; persist: boolean; msg: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("send" as const), by: fc.nat(2), room: fc.nat(2) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("edit" as const), msg: fc.nat(40) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("delete" as const), msg: fc.nat(40) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("react" as const),
      by: fc.nat(2),
      msg: fc.nat(40),
      emoji: fc.constantFrom("👍", "🎉", null),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("hide" as const), msg: fc.nat(40) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("star" as const), msg: fc.nat(40), on: fc.boolean() }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("persist" as const), share: fc.double({ min: 0, max: 1 }) }),
  },
  // A backlog deeper than any page: the page's bounded pending reads are cut before the room is.
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("burst" as const),
      room: fc.nat(2),
      count: fc.integer({ min: 8, max: 20 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant("sync" as const), limit: fc.integer({ min: 1, max: 7 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("racingSync" as const),
      limit: fc.integer({ min: 1, max: 7 }),
      room: fc.nat(2),
      persist: fc.boolean(),
      msg: fc.nat(40),
    }),
  },
);

/** The pool, on some of what is pending: a prefix of the pending messages, and the ops. */
async function persistSome(share: number): Promise<void> {
  const all = await pending.stale(-60_000, 100_000);
  const n = Math.floor(all.messages.length * share);
  await worker.run({ messages: all.messages.slice(0, n), ops: share > 0.5 ? all.ops : [] });
}

describe("sync against a model", () => {
  it("a replica fed by sync pages ends equal to the server, whatever the interleaving", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 10, maxLength: 70 }), async (script) => {
        run++;
        const now = new Date().toISOString();
        const rooms: string[] = [];
        for (let i = 0; i < 3; i++) {
          const r = await store.createGroupRoom(
            newRoom({ created_by: "v", created_at: now, updated_at: now }),
            [
              { user_id: "v", role: "admin", joined_at: now },
              { user_id: "a", role: "member", joined_at: now },
              { user_id: "b", role: "member", joined_at: now },
            ],
          );
          rooms.push(r.id);
        }
        const deviceId = `dev-${run}`;
        await devices.register(viewer, { device_id: deviceId, platform: "web" });
        // Other runs' rooms belong to the viewer too: the cursor starts after them.
        let since = (await sync.messages(viewer, { device_id: deviceId, limit: 50 })).next_since;
        const sent: MessageView[] = [];
        const replica = new Map<string, MessageView>();
        const lastRev = new Map<string, number>();
        const page = async (limit: number) => {
          const res = await sync.messages(viewer, { device_id: deviceId, since, limit });
          expect(res.messages.length).toBeLessThanOrEqual(limit);
          for (const m of res.messages) {
            // Each message at most once per revision, and never back in time.
            expect(m.rev).toBeGreaterThan(lastRev.get(m.id) ?? 0);
            lastRev.set(m.id, m.rev);
            replica.set(m.id, m);
          }
          since = res.next_since;
          return res.has_more;
        };
        const pick = (i: number) => sent[i % Math.max(1, sent.length)];
        for (const op of script) {
          const m = pick("msg" in op ? op.msg : 0);
          try {
            switch (op.kind) {
              case "send": {
                const res = await messages.send(
                  user(USERS[op.by] ?? "v"),
                  rooms[op.room] ?? "",
                  { client_id: `r${run}-${sent.length}`, type: "text", text: `t${sent.length}` },
                  "rest",
                );
                sent.push(res.message);
                break;
              }
              case "edit":
                if (m) await ops.edit(user(m.sender_id), m.id, `e${Math.random().toString(36).slice(2, 6)}`);
                break;
              case "delete":
                if (m) await ops.delete(user(m.sender_id), m.id, "everyone");
                break;
              case "react":
                if (m) await ops.react(user(USERS[op.by] ?? "v"), m.id, op.emoji);
                break;
              case "hide":
                if (m) await ops.delete(viewer, m.id, "me");
                break;
              case "star":
                if (m) await ops.star(viewer, m.id, op.on);
                break;
              case "burst":
                for (let i = 0; i < op.count; i++) {
                  const res = await messages.send(
                    user(USERS[i % USERS.length] ?? "v"),
                    rooms[op.room] ?? "",
                    { client_id: `r${run}-${sent.length}`, type: "text", text: `t${sent.length}` },
                    "rest",
                  );
                  sent.push(res.message);
                }
                break;
              case "persist":
                await persistSome(op.share);
                break;
              case "sync":
                await page(op.limit);
                break;
              case "racingSync":
                // Another node sends and reacts while the page is being read (and maybe the
                // pool stores them at once): changes above the counters the page read.
                afterCounters = async () => {
                  const res = await messages.send(
                    user("a"),
                    rooms[op.room] ?? "",
                    { client_id: `r${run}-${sent.length}`, type: "text", text: `t${sent.length}` },
                    "rest",
                  );
                  sent.push(res.message);
                  if (m) await ops.react(user("b"), m.id, "🔥").catch(() => {});
                  if (op.persist) await persistSome(1);
                };
                await page(op.limit);
                break;
            }
          } catch (err) {
            // Refusals the rules make (edit a tombstone, react to one, act on a hidden message).
            const code = (err as { code?: string }).code;
            if (code !== "forbidden" && code !== "not_found") throw err;
          }
        }
        // Catch up: page until done, with some of it persisted and some still pending.
        await persistSome(0.5);
        for (let guard = 0; (await page(5)) && guard < 500; guard++);
        // The server's truth, as the viewer's devices should hold it.
        const truth = await reader.syncViews(
          (await Promise.all(sent.map((m) => reader.record(m.id)))).filter((r) => r !== null),
          "v",
        );
        expect(replica.size).toBe(truth.length);
        for (const t of truth) {
          const r = replica.get(t.id);
          expect(r, t.id).toBeDefined();
          expect({ ...r, media: null }).toEqual({ ...t, media: null });
        }
        // Once all is stored, the page indexes the accept and op scripts wrote are gone with it.
        await persistSome(1);
        const k = stack.keys;
        const left = await Promise.all([
          ...rooms.flatMap((r) => [
            stack.redis.zcard(k.pendingRevs(r)),
            stack.redis.zcard(k.pendingSystem(r)),
            ...USERS.map((u) => stack.redis.zcard(k.pendingSent(r, u))),
          ]),
          ...sent.map((m) => stack.redis.zcard(k.pendingMessageOps(m.room_id, m.id))),
        ]);
        expect(left.every((n) => n === 0)).toBe(true);
      }),
      { numRuns: 60 },
    );
  }, 120_000);
});
