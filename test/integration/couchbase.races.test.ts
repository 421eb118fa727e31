import couchbase from "couchbase";
import { describe, expect, it } from "vitest";
import {
  type CollectionName,
  keys,
  type MessageKeyDoc,
  type PushTokenDoc,
} from "../../src/store/couchbase/couchbase.layout.ts";
import {
  type DeviceUpsert,
  type MemberRecord,
  type MessageOp,
  type MessageRecord,
  type NewRoom,
  type Store,
  StoreUnavailableError,
  type SyncCursorRecord,
} from "../../src/store/store.ts";
import { at, media, members, msg, room } from "../contract/fixtures.ts";
import { type FakeCouchbase, makeFakeCouchbaseStore, type WriteOp } from "../helpers/fake-couchbase.ts";

/**
 * Races on the adapter's multi-document and CAS paths. Every interleaving is forced: a chosen
 * write is held at the fake's write hook until another call has got where the test wants it,
 * so each test exercises one schedule on purpose and ends the same way on every run.
 */

type WriteMatch = (collection: CollectionName, op: WriteOp, key: string) => boolean;

/** Writes to `collection` (of `op`, to `key`, when given). */
const write =
  (collection: CollectionName, op?: WriteOp, key?: string): WriteMatch =>
  (c, o, k) =>
    c === collection && (op === undefined || o === op) && (key === undefined || k === key);

type Hold = { reached: Promise<void>; release: () => void };

/**
 * Holds chosen writes at the fake's hook. Each hold takes the first matching write that arrives
 * after it was set (the request has left: what it read is read) and keeps it until released.
 */
function holds(fake: FakeCouchbase): (match: WriteMatch) => Hold {
  const waiting: { match: WriteMatch; arrive: () => void; gate: Promise<void> }[] = [];
  fake.beforeWrite(async (collection, op, key) => {
    const i = waiting.findIndex((w) => w.match(collection, op, key));
    const w = i < 0 ? undefined : waiting.splice(i, 1)[0];
    if (!w) return;
    w.arrive();
    await w.gate;
  });
  return (match) => {
    const arrived = Promise.withResolvers<void>();
    const gate = Promise.withResolvers<void>();
    waiting.push({ match, arrive: arrived.resolve, gate: gate.promise });
    // A schedule that cannot happen fails the test at once instead of hanging it.
    const reached = Promise.race([
      arrived.promise,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error("a held write never arrived")), 2000).unref(),
      ),
    ]);
    return { reached, release: () => gate.resolve() };
  };
}

/** Starts two calls whose CAS writes of one document are both held until both have read it. */
async function bothWrite<A, B>(
  hold: (match: WriteMatch) => Hold,
  collection: CollectionName,
  key: string,
  first: () => Promise<A>,
  second: () => Promise<B>,
) {
  const g1 = hold(write(collection, "replace", key));
  const p1 = first();
  await g1.reached;
  const g2 = hold(write(collection, "replace", key));
  const p2 = second();
  await g2.reached;
  return { g1, p1, g2, p2 };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 30));

// --- 1. direct rooms ---------------------------------------------------------------------------

describe("getOrCreateDirectRoom racing for one pair", () => {
  it("the caller that lost the pair's claim writes the winner's room: one room, both get it, one created", async () => {
    const { store, fake } = makeFakeCouchbaseStore();
    const hold = holds(fake);
    const mine = room({ type: "direct", name: null, direct_key: "a|b" });
    const theirs = room({ type: "direct", name: null, direct_key: "a|b" });
    // A's claim waits until B has claimed the pair and is about to write its room.
    const aClaim = hold(write("direct_rooms", "insert"));
    const pA = store.getOrCreateDirectRoom(mine, members("a", "b"));
    await aClaim.reached;
    const bRoom = hold(write("rooms", "insert"));
    const pB = store.getOrCreateDirectRoom(theirs, members("a", "b"));
    await bRoom.reached;
    aClaim.release();
    const a = await pA; // lost the claim, so it wrote the room under B's id first
    bRoom.release();
    const b = await pB;
    expect(a.room.id).toBe(theirs.id);
    expect(b.room.id).toBe(theirs.id);
    expect([a.created, b.created]).toEqual([true, false]);
    expect(fake.keys("rooms")).toEqual([theirs.id]);
    expect(await store.directRoomId("b", "a")).toBe(theirs.id);
    expect((await store.listRoomsForUser("a", 10)).map((r) => r.room.id)).toEqual([theirs.id]);
  });

  it("eight callers whose claims all left before any landed: one room, all get it, one created", async () => {
    const { store, fake } = makeFakeCouchbaseStore();
    const hold = holds(fake);
    const claims = Array.from({ length: 8 }, () => hold(write("direct_rooms", "insert")));
    const calls = claims.map(() =>
      store.getOrCreateDirectRoom(room({ type: "direct", name: null, direct_key: "a|b" }), members("a", "b")),
    );
    await Promise.all(claims.map((c) => c.reached));
    for (const c of claims) c.release();
    const results = await Promise.all(calls);
    expect(new Set(results.map((r) => r.room.id)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(fake.keys("rooms")).toHaveLength(1);
    expect(await store.getMembers(fake.keys("rooms")[0] ?? "")).toHaveLength(2);
  });
});

// --- 2. push tokens ---------------------------------------------------------------------------

const reg = (user: string, device: string, token: string | null | undefined, ms = 0): DeviceUpsert => ({
  user_id: user,
  device_id: device,
  platform: "android",
  push_token: token,
  at: at(ms),
});

/** Who holds the token (by the devices) and whom its lookup names. */
async function tokenState(store: Store, fake: FakeCouchbase, token: string) {
  const devices = await store.devicesOf(["u1", "u2", "u3"]);
  const holders = devices
    .filter((d) => d.push_token === token)
    .map((d) => `${d.user_id}/${d.device_id}`)
    .sort();
  const lookup = fake.peek("push_tokens", keys.pushToken(token)) as PushTokenDoc | undefined;
  return { holders, owner: lookup ? `${lookup.user_id}/${lookup.device_id}` : null };
}

describe("one push token, several devices", () => {
  it.each([
    { first: 0, second: 1 },
    { first: 1, second: 0 },
  ])(
    "two users' devices registering it at once: the later claim keeps it ($first then $second)",
    async ({ first, second }) => {
      const { store, fake } = makeFakeCouchbaseStore();
      const hold = holds(fake);
      const token = "tok-shared";
      const who = [
        { user: "u1", device: "d1" },
        { user: "u2", device: "d2" },
      ];
      // Both devices have written the token into their own documents before either claims it.
      const claims: Hold[] = [];
      const calls: Promise<Awaited<ReturnType<Store["upsertDevice"]>>>[] = [];
      for (const w of who) {
        const h = hold(write("push_tokens"));
        calls.push(store.upsertDevice(reg(w.user, w.device, token), 5));
        await h.reached;
        claims.push(h);
      }
      claims[first]?.release();
      await calls[first];
      claims[second]?.release();
      const last = await calls[second];
      const winner = `${who[second]?.user}/${who[second]?.device}`;
      expect(await tokenState(store, fake, token)).toEqual({ holders: [winner], owner: winner });
      expect(last).toMatchObject({
        tokenTakenFrom: { user_id: who[first]?.user, device_id: who[first]?.device },
      });
    },
  );

  it("two new devices racing for a user's last slot: one is added, the other is refused", async () => {
    const { store, fake } = makeFakeCouchbaseStore();
    await store.upsertDevice(reg("u1", "d1", null), 2);
    const hold = holds(fake);
    const { g1, p1, g2, p2 } = await bothWrite(
      hold,
      "devices",
      "u1",
      () => store.upsertDevice(reg("u1", "d2", null, 1000), 2),
      () => store.upsertDevice(reg("u1", "d3", null, 1000), 2),
    );
    g1.release();
    expect(await p1).toMatchObject({ created: true, device: { device_id: "d2" } });
    g2.release();
    expect(await p2).toBe("full");
    expect((await store.listDevices("u1")).map((d) => d.device_id)).toEqual(["d1", "d2"]);
  });

  it("a drop landing between a registration's device write and its claim leaves the token with the registrant", async () => {
    const { store, fake } = makeFakeCouchbaseStore();
    const token = "tok-drop";
    await store.upsertDevice(reg("u1", "d1", token), 5);
    const hold = holds(fake);
    const claim = hold(write("push_tokens"));
    const registering = store.upsertDevice(reg("u2", "d2", token, 1000), 5);
    await claim.reached;
    await store.dropPushToken(token);
    claim.release();
    await registering;
    expect(await tokenState(store, fake, token)).toEqual({ holders: ["u2/d2"], owner: "u2/d2" });
  });

  // #releaseToken reads the lookup, then removes it without CAS: a claim landing in between is erased.
  it.each([
    { path: "dropPushToken", run: (s: Store, token: string) => s.dropPushToken(token) },
    { path: "deleteDevice", run: (s: Store) => s.deleteDevice("u1", "d1") },
    {
      path: "re-registering with a new token",
      run: (s: Store) => s.upsertDevice(reg("u1", "d1", "tok-new"), 5),
    },
  ])(
    "a registration landing inside $path's release keeps its lookup (else a third device makes two holders)",
    async ({ run }) => {
      const { store, fake } = makeFakeCouchbaseStore();
      const token = "tok-raced";
      await store.upsertDevice(reg("u1", "d1", token), 5);
      const hold = holds(fake);
      // The release has read the lookup (d1) and its remove is on its way.
      const remove = hold(write("push_tokens", "remove", keys.pushToken(token)));
      const releasing = run(store, token);
      await remove.reached;
      await store.upsertDevice(reg("u2", "d2", token, 1000), 5);
      remove.release();
      await releasing;
      expect.soft(await tokenState(store, fake, token)).toEqual({ holders: ["u2/d2"], owner: "u2/d2" });
      // With the lookup gone, the next registrant takes the token off nobody.
      await store.upsertDevice(reg("u3", "d3", token, 2000), 5);
      expect(await tokenState(store, fake, token)).toEqual({ holders: ["u3/d3"], owner: "u3/d3" });
    },
  );

  // The takeaway clears whatever entry holds the token when it retries, even a re-registration made since.
  it("a takeaway delayed past the old holder's re-registration does not strip the token from everyone", async () => {
    const { store, fake } = makeFakeCouchbaseStore();
    const token = "tok-back";
    await store.upsertDevice(reg("u1", "d1", token), 5);
    const hold = holds(fake);
    // d2 has claimed the lookup and is about to clear d1's entry.
    const takeaway = hold(write("devices", "replace", "u1"));
    const d2 = store.upsertDevice(reg("u2", "d2", token, 1000), 5);
    await takeaway.reached;
    // d1 registers the token again (an app start) and claims it back from d2.
    const again = await store.upsertDevice({ ...reg("u1", "d1", token, 2000), app_version: "2" }, 5);
    expect(again).toMatchObject({ device: { push_token: token }, tokenTakenFrom: { user_id: "u2" } });
    takeaway.release();
    await d2;
    expect(await tokenState(store, fake, token)).toEqual({ holders: ["u1/d1"], owner: "u1/d1" });
  });
});

// --- 3. media quota ---------------------------------------------------------------------------

describe("createMedia under a byte quota", () => {
  it("many calls that all read the empty quota before any wrote never pass it together", async () => {
    const { store, fake } = makeFakeCouchbaseStore();
    const hold = holds(fake);
    const quota = { since: at(0), maxBytes: 100 };
    const sizes = [30, 10, 45, 20, 25, 5, 60, 15, 35, 40];
    const records = sizes.map((size, i) => media({ size, created_at: at(1000 + i) }));
    const gates = records.map(() => hold(write("media_quota")));
    const calls = records.map((m) => store.createMedia(m, quota));
    await Promise.all(gates.map((g) => g.reached));
    for (const g of gates) g.release();
    const results = await Promise.all(calls);
    const created = records.filter((_, i) => results[i]?.created);
    const total = created.reduce((sum, m) => sum + m.size, 0);
    expect(total).toBeLessThanOrEqual(quota.maxBytes);
    expect(created.length).toBeGreaterThan(0);
    expect(fake.keys("media").sort()).toEqual(created.map((m) => m.id).sort());
    // Each refusal was right: its size did not fit then, and does not fit the final total either.
    records.forEach((m, i) => {
      const r = results[i];
      if (r && !r.created) {
        expect(r.used + m.size).toBeGreaterThan(quota.maxBytes);
        expect(total + m.size).toBeGreaterThan(quota.maxBytes);
      }
    });
  });

  it("a call whose quota write timed out after it applied counts its upload once when retried", async () => {
    const { store, fake } = makeFakeCouchbaseStore();
    const quota = { since: at(0), maxBytes: 100 };
    const m = media({ size: 60, created_at: at(1000) });
    fake.failNext("media_quota", "insert", new couchbase.AmbiguousTimeoutError(), { applyFirst: true });
    await expect(store.createMedia(m, quota)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(await store.createMedia(m, quota)).toEqual({ created: true });
    expect(await store.createMedia(media({ size: 41, created_at: at(2000) }), quota)).toEqual({
      created: false,
      used: 60,
    });
    expect(await store.createMedia(media({ size: 40, created_at: at(3000) }), quota)).toEqual({
      created: true,
    });
  });

  // Two API processes' windows differ by their clocks: the later window must not prune what the earlier counts.
  it("a call with a later window does not let a concurrent call with an earlier one pass its quota", async () => {
    const { store, fake } = makeFakeCouchbaseStore();
    const old = media({ size: 60, created_at: at(5000) });
    await store.createMedia(old, { since: at(0), maxBytes: 100 });
    const hold = holds(fake);
    const early = hold(write("media_quota"));
    const a = media({ size: 35, created_at: at(20_000) });
    const pA = store.createMedia(a, { since: at(1000), maxBytes: 100 });
    await early.reached;
    // B's clock is 10 s ahead: `old` is outside its window, and its write prunes it.
    const b = media({ size: 30, created_at: at(20_001) });
    expect(await store.createMedia(b, { since: at(10_000), maxBytes: 100 })).toEqual({ created: true });
    early.release();
    // In A's window: old 60 + b 30 + a 35 = 125 > 100.
    expect(await pA).toEqual({ created: false, used: 90 });
  });
});

// --- 4. sync cursors --------------------------------------------------------------------------

const cursor = (id: string): SyncCursorRecord => ({
  id,
  user_id: "u1",
  device_id: "d1",
  kind: "messages",
  state: "{}",
  created_at: at(0),
});

describe("saveSyncCursor racing deleteDevice", () => {
  // The save writes the cursor's document, then its id into the device's list; the delete lands
  // while one of those writes is held.
  it.each([
    ["a save whose list write lands after the delete", write("devices", "replace", "u1")],
    [
      "a delete that lands between a save's cursor document and its list write",
      write("sync_cursors", "insert"),
    ],
  ])("%s: the save reports the device gone and leaves no cursor", async (_, held) => {
    const { store, fake } = makeFakeCouchbaseStore();
    await store.upsertDevice(reg("u1", "d1", null), 5);
    const hold = holds(fake)(held);
    const saving = store.saveSyncCursor(cursor("cur-1"), []);
    await hold.reached;
    expect(await store.deleteDevice("u1", "d1")).toBe(true);
    hold.release();
    expect(await saving).toBe(false);
    expect(await store.getSyncCursor("cur-1")).toBeNull();
    expect(fake.keys("sync_cursors")).toEqual([]);
  });

  it("a cursor saved while a delete is in flight is readable until the delete lands, then gone", async () => {
    const { store, fake } = makeFakeCouchbaseStore();
    await store.upsertDevice(reg("u1", "d1", null), 5);
    const hold = holds(fake);
    const deleteWrite = hold(write("devices", "replace", "u1"));
    const deleting = store.deleteDevice("u1", "d1");
    await deleteWrite.reached;
    expect(await store.saveSyncCursor(cursor("cur-1"), [])).toBe(true);
    expect(await store.getSyncCursor("cur-1")).toEqual(cursor("cur-1"));
    deleteWrite.release();
    expect(await deleting).toBe(true); // re-read after the CAS miss: the new cursor goes with the device
    expect(await store.getSyncCursor("cur-1")).toBeNull();
    expect(fake.keys("sync_cursors")).toEqual([]);
  });

  it("a delete that crashed after removing the device leaves no usable cursor, even for a device re-created under its id", async () => {
    const { store, fake } = makeFakeCouchbaseStore();
    await store.upsertDevice(reg("u1", "d1", null), 5);
    await store.saveSyncCursor(cursor("cur-1"), []);
    fake.failNext("sync_cursors", "remove", new couchbase.UnambiguousTimeoutError());
    await expect(store.deleteDevice("u1", "d1")).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(await store.getSyncCursor("cur-1")).toBeNull();
    await store.upsertDevice(reg("u1", "d1", null, 5000), 5);
    expect(await store.getSyncCursor("cur-1")).toBeNull();
  });

  it("pruning keeps the `keep` ids and the 3 newest, sequentially and when saves race", async () => {
    const { store, fake } = makeFakeCouchbaseStore();
    await store.upsertDevice(reg("u1", "d1", null), 5);
    for (const id of ["cur-01", "cur-02", "cur-03"]) {
      expect(await store.saveSyncCursor(cursor(id), ["cur-01"])).toBe(true);
      expect(await store.getSyncCursor(id)).not.toBeNull();
    }
    // Four saves that all read the list before any wrote; released one by one, each retries its CAS.
    const hold = holds(fake);
    const ids = ["cur-04", "cur-05", "cur-06", "cur-07"];
    const gates: Hold[] = [];
    const saves: Promise<boolean>[] = [];
    for (const id of ids) {
      const g = hold(write("devices", "replace", "u1"));
      saves.push(store.saveSyncCursor(cursor(id), ["cur-01"]));
      await g.reached;
      gates.push(g);
    }
    for (const [i, g] of gates.entries()) {
      g.release();
      expect(await saves[i]).toBe(true);
    }
    const kept = ["cur-01", "cur-05", "cur-06", "cur-07"];
    for (const id of ["cur-01", "cur-02", "cur-03", ...ids]) {
      expect(await store.getSyncCursor(id), id).toEqual(kept.includes(id) ? cursor(id) : null);
    }
    expect(fake.keys("sync_cursors")).toEqual(kept);
  });
});

// --- 5. message ops ---------------------------------------------------------------------------

const OP_ROOM: NewRoom = room();
const M1 = msg(OP_ROOM.id, 1);
const M2 = msg(OP_ROOM.id, 2, { type: "image", text: null, media_id: "media-1" });
const M3 = msg(OP_ROOM.id, 3, { sender_id: "u2" });
const MESSAGES = [M1, M2, M3];

const base = (m: MessageRecord, rev: number) => ({ message_id: m.id, room_id: m.room_id, rev, at: at(rev) });
/** Edits, deletes, reactions, hides, stars and media changes, with crossing revisions. */
const OPS: MessageOp[] = [
  { ...base(M1, 10), kind: "edit", text: "first edit" },
  { ...base(M1, 13), kind: "react", user_id: "u1", emoji: "👍" },
  { ...base(M1, 14), kind: "react", user_id: "u2", emoji: "👍" },
  { ...base(M1, 17), kind: "react", user_id: "u3", emoji: "🎉" },
  { ...base(M1, 12), kind: "edit", text: "last edit" },
  { ...base(M1, 11), kind: "edit", text: "middle edit" },
  { ...base(M1, 15), kind: "react", user_id: "u1", emoji: "❤️" },
  { ...base(M1, 16), kind: "react", user_id: "u2", emoji: null },
  { ...base(M1, 28), kind: "star", user_id: "u2", starred: true },
  { ...base(M3, 20), kind: "delete" },
  { ...base(M3, 19), kind: "edit", text: "edited before its delete" },
  { ...base(M3, 18), kind: "delete" },
  { ...base(M3, 29), kind: "hide", user_id: "u2" },
  { ...base(M2, 23), kind: "hide", user_id: "u1" },
  { ...base(M2, 21), kind: "hide", user_id: "u1" },
  { ...base(M2, 24), kind: "star", user_id: "u1", starred: false },
  { ...base(M2, 22), kind: "star", user_id: "u1", starred: true },
  { ...base(M2, 25), kind: "star", user_id: "u2", starred: true },
  { ...base(M2, 27), kind: "media" },
  { ...base(M2, 26), kind: "media" },
];

/** A fixed permutation (seeded), so the "shuffled" order is the same on every run. */
function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

type Setup = ReturnType<typeof makeFakeCouchbaseStore>;

/** Everything applyMessageOps decides, as two viewers and sync see it. */
async function opOutcome({ store }: Setup) {
  const view = async (viewer: string) => ({
    states: Object.fromEntries(await store.getMessageStates(MESSAGES, viewer)),
    changes: await store.messageChanges(OP_ROOM.id, 0, 1000, viewer, 100),
  });
  return {
    u1: await view("u1"),
    u2: await view("u2"),
    reactions: (await store.getReactions(M1.id)).sort((a, b) => (a.user_id < b.user_id ? -1 : 1)),
    roomRev: (await store.getRoom(OP_ROOM.id))?.rev,
  };
}

async function opStore(opts: { opsFirst?: boolean } = {}): Promise<Setup> {
  const setup = makeFakeCouchbaseStore();
  await setup.store.createGroupRoom(OP_ROOM, members("u1", "u2", "u3"));
  if (!opts.opsFirst) expect(await setup.store.insertMessages(MESSAGES)).toEqual({ rejected: [] });
  return setup;
}

describe("applyMessageOps in any order, concurrently and replayed", () => {
  it("every schedule ends in the same states and changes, and that state is the by-revision merge", async () => {
    const outcomes: Record<string, Awaited<ReturnType<typeof opOutcome>>> = {};

    const oneBatch = await opStore();
    await oneBatch.store.applyMessageOps(OPS);
    outcomes["one batch"] = await opOutcome(oneBatch);

    const reversed = await opStore();
    for (const op of [...OPS].reverse()) await reversed.store.applyMessageOps([op]);
    outcomes["one by one, reversed"] = await opOutcome(reversed);

    for (const seed of [1, 7, 42]) {
      const s = await opStore();
      for (const op of shuffled(OPS, seed)) await s.store.applyMessageOps([op]);
      outcomes[`one by one, shuffled ${seed}`] = await opOutcome(s);
    }

    // Ops stored before their messages (the persist job's batches crossed).
    const early = await opStore({ opsFirst: true });
    await early.store.applyMessageOps(shuffled(OPS, 3));
    expect(await early.store.insertMessages(MESSAGES)).toEqual({ rejected: [] });
    outcomes["ops before their messages"] = await opOutcome(early);

    // Four batches whose first writes of M1's state all read the same document before any landed.
    const racing = await opStore();
    const hold = holds(racing.fake);
    const batches = [0, 1, 2, 3].map((k) => OPS.filter((_, i) => i % 4 === k));
    const gates = batches.map(() => hold(write("message_state", undefined, M1.id)));
    const runs = batches.map((b) => racing.store.applyMessageOps(b));
    await Promise.all(gates.map((g) => g.reached));
    for (const g of gates.reverse()) g.release();
    await Promise.all(runs);
    outcomes["four concurrent batches"] = await opOutcome(racing);

    // A replay racing its original, both held at the same first write.
    const replay = await opStore();
    const hold2 = holds(replay.fake);
    const both = [
      hold2(write("message_state", undefined, M2.id)),
      hold2(write("message_state", undefined, M2.id)),
    ];
    const twice = [replay.store.applyMessageOps(OPS), replay.store.applyMessageOps(shuffled(OPS, 9))];
    await Promise.all(both.map((g) => g.reached));
    for (const g of both) g.release();
    await Promise.all(twice);
    outcomes["a replay racing its original"] = await opOutcome(replay);

    // A batch whose first state and user writes timed out after applying, then replayed whole.
    const ambiguous = await opStore();
    ambiguous.fake.failNext("message_state", "insert", new couchbase.AmbiguousTimeoutError(), {
      applyFirst: true,
    });
    ambiguous.fake.failNext("user_messages", "insert", new couchbase.AmbiguousTimeoutError(), {
      applyFirst: true,
    });
    await expect(ambiguous.store.applyMessageOps(OPS)).rejects.toBeInstanceOf(StoreUnavailableError);
    await settle(); // the batch's other writes finish in the background
    await ambiguous.store.applyMessageOps(OPS);
    outcomes["replayed after an ambiguous timeout"] = await opOutcome(ambiguous);

    const reference = outcomes["one batch"];
    for (const [name, outcome] of Object.entries(outcomes)) expect(outcome, name).toEqual(reference);

    // The common outcome is the right one (not just equally wrong everywhere).
    const u1 = reference?.u1.states;
    const u2 = reference?.u2.states;
    expect(u1?.[M1.id]).toMatchObject({
      edit: { text: "last edit", rev: 12 },
      reactions: { "❤️": 1, "🎉": 1 },
      my_reaction: "❤️",
      my_reaction_rev: 15,
      rev: 17,
    });
    expect(u2?.[M1.id]).toMatchObject({ my_reaction: null, my_reaction_rev: 16, starred: true, rev: 28 });
    expect(u1?.[M2.id]).toMatchObject({ hidden: true, starred: false, star_rev: 24, rev: 27 });
    expect(u2?.[M2.id]).toMatchObject({ hidden: false, starred: true, star_rev: 25, rev: 27 });
    expect(u1?.[M3.id]).toMatchObject({ deleted: { rev: 18 }, hidden: false, rev: 19 });
    expect(u2?.[M3.id]).toMatchObject({ deleted: { rev: 18 }, hidden: true, rev: 29 });
    expect(reference?.u1.changes).toEqual([
      { message_id: M1.id, rev: 17 },
      { message_id: M3.id, rev: 19 },
      { message_id: M2.id, rev: 27 },
    ]);
    expect(reference?.u2.changes).toEqual([
      { message_id: M2.id, rev: 27 },
      { message_id: M1.id, rev: 28 },
      { message_id: M3.id, rev: 29 },
    ]);
    expect(reference?.roomRev).toBe(29);
  });
});

// --- 6. roster ------------------------------------------------------------------------------

const admins = async (store: Store, roomId: string) =>
  (await store.getMembers(roomId)).filter((m) => m.role === "admin").map((m) => m.user_id);

describe("roster changes racing", () => {
  it("demoting the two admins at once leaves one admin: the second demotion is refused", async () => {
    const { store, fake } = makeFakeCouchbaseStore();
    const r = await store.createGroupRoom(room(), members("u1", "u2", "u3"));
    await store.setRole(r.id, "u2", "admin", 1);
    const { g1, p1, g2, p2 } = await bothWrite(
      holds(fake),
      "rooms",
      r.id,
      () => store.setRole(r.id, "u1", "member", 2),
      () => store.setRole(r.id, "u2", "member", 3),
    );
    g1.release();
    expect(await p1).toMatchObject({ user_id: "u1", role: "member" });
    g2.release();
    expect(await p2).toBe("last_admin");
    expect(await admins(store, r.id)).toEqual(["u2"]);
  });

  it.each(["remove lands first", "add lands first"])(
    "removing the last admin while a member is added: the heir is promoted, the new member stays (%s)",
    async (order) => {
      const { store, fake } = makeFakeCouchbaseStore();
      const r = await store.createGroupRoom(room(), members("u1", "u2", "u3"));
      const newcomer = [{ user_id: "x1", role: "member" as const, joined_at: at(5000) }];
      const { g1, p1, g2, p2 } = await bothWrite(
        holds(fake),
        "rooms",
        r.id,
        () => store.removeMember(r.id, "u1", 4),
        () => store.addMembers(r.id, newcomer, 10, 5, 0),
      );
      const [gA, gB] = order === "remove lands first" ? [g1, g2] : [g2, g1];
      gA.release();
      await (order === "remove lands first" ? p1 : p2);
      gB.release();
      expect(await p1).toEqual({ removed: true, promoted: "u2" });
      expect(await p2).toEqual(["x1"]);
      expect(await store.listMemberIds(r.id)).toEqual(["u2", "u3", "x1"]);
      expect(await admins(store, r.id)).toEqual(["u2"]);
      expect(await store.getRoom(r.id)).toMatchObject({ members_count: 3, rev: 5 });
    },
  );

  it("removing the two admins at once promotes the longest-standing member exactly once", async () => {
    const { store, fake } = makeFakeCouchbaseStore();
    const r = await store.createGroupRoom(room(), members("u1", "u2", "u3", "u4"));
    await store.setRole(r.id, "u2", "admin", 1);
    const { g1, p1, g2, p2 } = await bothWrite(
      holds(fake),
      "rooms",
      r.id,
      () => store.removeMember(r.id, "u1", 2),
      () => store.removeMember(r.id, "u2", 3),
    );
    g1.release();
    await p1;
    g2.release();
    expect([await p1, await p2]).toEqual([
      { removed: true, promoted: null },
      { removed: true, promoted: "u3" },
    ]);
    expect(await admins(store, r.id)).toEqual(["u3"]);
  });

  it.each(["demotion lands first", "removal lands first"])(
    "demoting one admin while the other is removed never leaves the group without an admin (%s)",
    async (order) => {
      const { store, fake } = makeFakeCouchbaseStore();
      const r = await store.createGroupRoom(room(), members("u1", "u2", "u3"));
      await store.setRole(r.id, "u2", "admin", 1);
      const { g1, p1, g2, p2 } = await bothWrite(
        holds(fake),
        "rooms",
        r.id,
        () => store.setRole(r.id, "u1", "member", 2),
        () => store.removeMember(r.id, "u2", 3),
      );
      const demotionFirst = order === "demotion lands first";
      (demotionFirst ? g1 : g2).release();
      await (demotionFirst ? p1 : p2);
      (demotionFirst ? g2 : g1).release();
      const [demoted, removed] = [await p1, await p2];
      if (demotionFirst) {
        expect((demoted as MemberRecord).role).toBe("member");
        expect(removed).toEqual({ removed: true, promoted: "u1" });
      } else {
        expect(demoted).toBe("last_admin");
        expect(removed).toEqual({ removed: true, promoted: null });
      }
      expect(await admins(store, r.id)).toEqual(["u1"]);
    },
  );
});

// --- 7. message inserts -----------------------------------------------------------------------

describe("insertMessages racing", () => {
  it("a replay racing its original stores the message once and rejects neither", async () => {
    const { store, fake } = makeFakeCouchbaseStore();
    const r = await store.createGroupRoom(room(), members("u1", "u2"));
    const batch = [msg(r.id, 1), msg(r.id, 2)];
    const hold = holds(fake);
    // The original holds both claims of message 1 but has not written its record yet.
    const record = hold(write("messages", "insert", batch[0]?.id));
    const original = store.insertMessages(batch);
    await record.reached;
    expect(await store.insertMessages(batch)).toEqual({ rejected: [] });
    record.release();
    expect(await original).toEqual({ rejected: [] });
    expect((await store.listMessages(r.id, { limit: 10 })).map((m) => m.id)).toEqual(batch.map((m) => m.id));
    expect(await store.getRoom(r.id)).toMatchObject({
      last_seq: 2,
      rev: 2,
      last_message: { id: batch[1]?.id },
    });
    expect(await store.getMember(r.id, "u1")).toMatchObject({ read_seq: 2 });
  });

  it("two replays whose seq claims both left before either landed both succeed", async () => {
    const { store, fake } = makeFakeCouchbaseStore();
    const r = await store.createGroupRoom(room(), members("u1"));
    const m = msg(r.id, 1);
    const hold = holds(fake);
    const seqKey = keys.seq(r.id, 1);
    const gates = [
      hold(write("message_keys", "insert", seqKey)),
      hold(write("message_keys", "insert", seqKey)),
    ];
    const runs = [store.insertMessages([m]), store.insertMessages([m])];
    await Promise.all(gates.map((g) => g.reached));
    for (const g of gates) g.release();
    expect(await Promise.all(runs)).toEqual([{ rejected: [] }, { rejected: [] }]);
    expect(fake.keys("messages")).toEqual([m.id]);
  });

  it.each([
    { winner: 0, loser: 1 },
    { winner: 1, loser: 0 },
  ])(
    "two messages claiming one seq at once: one stored, the other rejected with its client id free (winner $winner)",
    async ({ winner, loser }) => {
      const { store, fake } = makeFakeCouchbaseStore();
      const r = await store.createGroupRoom(room(), members("u1"));
      const rivals = [msg(r.id, 3, { client_id: "ca" }), msg(r.id, 3, { client_id: "cb" })];
      const hold = holds(fake);
      const seqKey = keys.seq(r.id, 3);
      const gates: Hold[] = [];
      const runs: Promise<{ rejected: { message: MessageRecord; reason: string }[] }>[] = [];
      for (const m of rivals) {
        const g = hold(write("message_keys", "insert", seqKey));
        runs.push(store.insertMessages([m]));
        await g.reached;
        gates.push(g);
      }
      gates[winner]?.release();
      expect(await runs[winner]).toEqual({ rejected: [] });
      gates[loser]?.release();
      const lost = rivals[loser] as MessageRecord;
      const won = rivals[winner] as MessageRecord;
      expect(await runs[loser]).toEqual({ rejected: [{ message: lost, reason: expect.any(String) }] });
      expect(fake.keys("messages")).toEqual([won.id]);
      expect(await store.getMessageByClientId(r.id, "u1", lost.client_id)).toBeNull();
      expect(fake.peek("message_keys", keys.clientId(r.id, "u1", lost.client_id))).toBeUndefined();
      // The client sends it again and it is stored under the next seq.
      expect(await store.insertMessages([{ ...lost, seq: 4, rev: 4 }])).toEqual({ rejected: [] });
      expect(await store.getMessageByClientId(r.id, "u1", lost.client_id)).toMatchObject({
        id: lost.id,
        seq: 4,
      });
    },
  );

  it("one client id under two seqs at once: one stored, the loser's seq released for another message", async () => {
    const { store, fake } = makeFakeCouchbaseStore();
    const r = await store.createGroupRoom(room(), members("u1"));
    const a = msg(r.id, 1, { client_id: "same" });
    const b = msg(r.id, 2, { client_id: "same" });
    const hold = holds(fake);
    const cid = keys.clientId(r.id, "u1", "same");
    const aClaim = hold(write("message_keys", "insert", cid));
    const pA = store.insertMessages([a]);
    await aClaim.reached;
    expect(await store.insertMessages([b])).toEqual({ rejected: [] });
    aClaim.release();
    expect(await pA).toEqual({ rejected: [{ message: a, reason: expect.any(String) }] });
    expect(fake.peek("message_keys", keys.seq(r.id, 1))).toBeUndefined();
    const other = msg(r.id, 1, { client_id: "other" });
    expect(await store.insertMessages([other])).toEqual({ rejected: [] });
    expect((await store.listMessages(r.id, { limit: 10 })).map((m) => m.id)).toEqual([other.id, b.id]);
  });

  // The older batch writes its room, then its sender's watermark: either write is held (it has
  // read the room or the sender's state below the newer batch) and lands after the newer batch.
  it.each([
    ["room", write("rooms", "replace")],
    ["sender's watermark", write("member_state")],
  ])(
    "two batches advancing one room out of order never move it or the sender's watermark backwards (%s write held)",
    async (_, held) => {
      const { store, fake } = makeFakeCouchbaseStore();
      const r = await store.createGroupRoom(room(), members("u1", "u2"));
      const low = [msg(r.id, 1), msg(r.id, 2)];
      const high = [msg(r.id, 3), msg(r.id, 4)];
      const hold = holds(fake)(held);
      const older = store.insertMessages(low);
      await hold.reached;
      expect(await store.insertMessages(high)).toEqual({ rejected: [] });
      hold.release();
      expect(await older).toEqual({ rejected: [] });
      expect(await store.getRoom(r.id)).toMatchObject({
        last_seq: 4,
        rev: 4,
        last_message: { id: high[1]?.id },
      });
      expect(await store.getMember(r.id, "u1")).toMatchObject({ read_seq: 4, delivered_seq: 4 });
    },
  );

  // #release reads the seq claim, then removes it without CAS: a claim made in between is erased.
  it("a rejected message's replay racing its original never frees a seq another message has since claimed", async () => {
    const { store, fake } = makeFakeCouchbaseStore();
    const r = await store.createGroupRoom(room(), members("u1"));
    await store.insertMessages([msg(r.id, 1, { client_id: "taken" })]);
    // Rejected for its client id: both runs claim seq 2, fail on the client id, and release seq 2.
    const dup = msg(r.id, 2, { client_id: "taken" });
    const seqKey = keys.seq(r.id, 2);
    const hold = holds(fake);
    const releases = [
      hold(write("message_keys", "remove", seqKey)),
      hold(write("message_keys", "remove", seqKey)),
    ];
    const runs = [store.insertMessages([dup]), store.insertMessages([dup])];
    await Promise.all(releases.map((g) => g.reached)); // both read the claim as dup's
    releases[0]?.release();
    await runs[0];
    const next = msg(r.id, 2, { client_id: "next" });
    expect(await store.insertMessages([next])).toEqual({ rejected: [] });
    releases[1]?.release();
    expect((await runs[1])?.rejected.map((x) => x.message.id)).toEqual([dup.id]);
    expect
      .soft(fake.peek("message_keys", seqKey) as MessageKeyDoc | undefined)
      .toEqual({ message_id: next.id });
    // If seq 2's claim was erased, a third message takes seq 2 as well.
    const third = msg(r.id, 2, { client_id: "third" });
    expect(await store.insertMessages([third])).toEqual({
      rejected: [{ message: third, reason: expect.any(String) }],
    });
    expect((await store.listMessages(r.id, { limit: 10 })).map((m) => m.seq)).toEqual([1, 2]);
  });
});
