import couchbase from "couchbase";
import { describe, expect, it } from "vitest";
import { StoreUnavailableError } from "../../src/store/store.ts";
import { members, msg, room } from "../contract/fixtures.ts";
import { makeFakeCouchbaseStore } from "../helpers/fake-couchbase.ts";

/**
 * What only a document store can get wrong: writes that time out after they applied, a crash
 * between the several documents of one call, and races the CAS loops must settle. The SDK is
 * the in-memory fake (test/helpers/fake-couchbase.ts), which fails and interleaves on demand.
 */
describe("couchbase adapter under faults and races", () => {
  it("a batch whose record write timed out after it applied is stored once when the job retries it", async () => {
    const { store, fake } = makeFakeCouchbaseStore();
    const r = await store.createGroupRoom(room(), members("u1", "u2"));
    const batch = [msg(r.id, 1), msg(r.id, 2)];
    fake.failNext("messages", "insert", new couchbase.AmbiguousTimeoutError(), { applyFirst: true });
    await expect(store.insertMessages(batch)).rejects.toBeInstanceOf(StoreUnavailableError);
    // The persist job retries the whole batch: nothing rejected, nothing twice, the room caught up.
    expect(await store.insertMessages(batch)).toEqual({ rejected: [] });
    expect((await store.listMessages(r.id, { limit: 10 })).map((m) => m.seq)).toEqual([1, 2]);
    expect(await store.getRoom(r.id)).toMatchObject({ last_seq: 2, rev: 2 });
    expect(await store.getMember(r.id, "u1")).toMatchObject({ read_seq: 2 });
  });

  it("a crash between a message's record and its room's advance is completed by the replay", async () => {
    const { store, fake } = makeFakeCouchbaseStore();
    const r = await store.createGroupRoom(room(), members("u1"));
    const m = msg(r.id, 1);
    fake.failNext("rooms", "replace", new couchbase.UnambiguousTimeoutError());
    await expect(store.insertMessages([m])).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(await store.getMessage(m.id)).not.toBeNull();
    expect(await store.getRoom(r.id)).toMatchObject({ last_seq: 0 });
    // Even behind, the room's counters never read below what is stored.
    expect(await store.roomCounters(r.id)).toEqual({ seq: 1, rev: 1 });
    await store.insertMessages([m]);
    expect(await store.getRoom(r.id)).toMatchObject({ last_seq: 1, last_message: { id: m.id } });
  });

  it("a message refused for its seq releases its client id claim (the client may send it again)", async () => {
    const { store } = makeFakeCouchbaseStore();
    const r = await store.createGroupRoom(room(), members("u1"));
    const first = msg(r.id, 1);
    const clash = msg(r.id, 1, { client_id: "again" });
    await store.insertMessages([first]);
    const { rejected } = await store.insertMessages([clash]);
    expect(rejected.map((x) => x.message.id)).toEqual([clash.id]);
    expect(await store.getMessageByClientId(r.id, "u1", "again")).toBeNull();
    const retried = msg(r.id, 2, { client_id: "again" });
    expect(await store.insertMessages([retried])).toEqual({ rejected: [] });
    expect((await store.getMessageByClientId(r.id, "u1", "again"))?.id).toBe(retried.id);
  });

  it("a direct pair claimed by a creator that stopped before writing the room gets that room", async () => {
    const { store, fake } = makeFakeCouchbaseStore();
    const orphan = room({ type: "direct", name: null, direct_key: "a|b" });
    fake.put("direct_rooms", "a|b", { room_id: orphan.id });
    expect(await store.directRoomId("a", "b")).toBeNull(); // a claim without its room is no room yet
    const mine = room({ type: "direct", name: null, direct_key: "a|b" });
    const res = await store.getOrCreateDirectRoom(mine, members("a", "b"));
    expect(res).toMatchObject({ created: true, room: { id: orphan.id } });
    expect(
      await store.getOrCreateDirectRoom(room({ type: "direct", direct_key: "a|b" }), members("a", "b")),
    ).toMatchObject({
      created: false,
      room: { id: orphan.id },
    });
    expect(await store.directRoomId("b", "a")).toBe(orphan.id);
  });

  it("two adds racing for the last places: the CAS loop lets one through and tells the other the room is full", async () => {
    const { store, fake } = makeFakeCouchbaseStore();
    const r = await store.createGroupRoom(room(), members("u1", "u2"));
    // Hold the first add's roster write until the second add has read the roster and written:
    // the first then meets a CAS mismatch, re-reads, and finds no room left.
    let writes = 0;
    let release: () => void = () => {};
    const secondRead = new Promise<void>((resolve) => {
      release = resolve;
    });
    fake.beforeWrite(async (collection, op) => {
      if (collection === "rooms" && op === "replace" && writes++ === 0) await secondRead;
    });
    const a = store.addMembers(r.id, members("x1", "x2"), 4, 5, 0);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const b = store.addMembers(r.id, members("y1", "y2"), 4, 6, 0);
    await new Promise((resolve) => setTimeout(resolve, 20));
    release();
    const results = await Promise.all([a, b]);
    expect(results).toEqual(["full", ["y1", "y2"]]);
    expect(await store.listMemberIds(r.id)).toHaveLength(4);
  });

  it("a re-added member keeps the new membership's watermarks, not the old one's", async () => {
    const { store } = makeFakeCouchbaseStore();
    const r = await store.createGroupRoom(room(), members("u1", "u2"));
    await store.updateReceipts(r.id, "u2", { read_seq: 7, at: "2026-01-01T00:00:01.000Z", rev: 1 });
    await store.removeMember(r.id, "u2", 2);
    await store.addMembers(r.id, members("u2"), 10, 3, 3);
    expect(await store.getMember(r.id, "u2")).toMatchObject({ read_seq: 3, delivered_seq: 3 });
    await store.updateReceipts(r.id, "u2", { read_seq: 9, at: "2026-01-01T00:00:02.000Z", rev: 4 });
    expect(await store.getMember(r.id, "u2")).toMatchObject({ read_seq: 9 });
  });
});
