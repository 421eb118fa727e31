import calculateSlot from "cluster-key-slot";
import { describe, expect, it } from "vitest";
import { clientIdSchema, idSchema, newId, userIdSchema } from "../../src/kernel/ids.ts";
import { idempotencyField } from "../../src/messages/accept.repository.ts";
import {
  Keys,
  presenceBucket,
  presenceBuckets,
  ROOM_BUCKETS,
  roomBucket,
  roomBuckets,
} from "../../src/redis/redis.ts";

const keys = new Keys("chat");

/** Ids as a hostile client would pick them: every charset edge, and other families' words. */
const hostileUserIds = [
  "a",
  "members",
  "members-gen",
  "seq:x",
  "a:b",
  ":",
  "::",
  "idem",
  "pending-msg:01",
  "x".repeat(64),
  "-.",
  "_",
];
const roomIds = Array.from({ length: 5 }, () => newId());

/** Every key builder with a set of inputs; a builder added to Keys must be added here (checked below). */
const builders: Record<string, string[]> = {
  members: roomIds.map((r) => keys.members(r)),
  membersGen: roomIds.map((r) => keys.membersGen(r)),
  roomLock: roomIds.map((r) => keys.roomLock(r)),
  seq: roomIds.map((r) => keys.seq(r)),
  rev: roomIds.map((r) => keys.rev(r)),
  counterFloor: roomIds.map((r) => keys.counterFloor(r)),
  pendingBytes: roomBuckets().map((b) => keys.pendingBytes(b)),
  presenceSockets: hostileUserIds.map((u) => keys.presenceSockets(u)),
  presenceOnline: presenceBuckets().map((b) => keys.presenceOnline(b)),
  presenceSocketsPrefix: presenceBuckets().map((b) => keys.presenceSocketsPrefix(b)),
  presenceSeenPrefix: presenceBuckets().map((b) => keys.presenceSeenPrefix(b)),
  presenceSeen: hostileUserIds.map((u) => keys.presenceSeen(u)),
  presenceNodes: presenceBuckets().map((b) => keys.presenceNodes(b)),
  presenceNodeUsers: presenceBuckets().map((b) => keys.presenceNodeUsers(b, newId())),
  presenceNodeUsersPrefix: presenceBuckets().map((b) => keys.presenceNodeUsersPrefix(b)),
  // rate-limiter-flexible appends ":<user id>" to each prefix; each budget is a family.
  ...Object.fromEntries(
    ["send", "send-burst", "message_op", "room_create", "member_add", "typing", "media_upload"].map((b) => [
      `rateLimitPrefix(${b})`,
      hostileUserIds.map((u) => `${keys.rateLimitPrefix(b)}:${u}`),
    ]),
  ),
  pendingOps: roomIds.map((r) => keys.pendingOps(r)),
  pendingOpsIndex: roomBuckets().map((b) => keys.pendingOpsIndex(b)),
  idempotencyPending: roomBuckets().map((b) => keys.idempotencyPending(b)),
  idempotencySlice: roomBuckets().flatMap((b) => [0, 1, 29_000_000].map((s) => keys.idempotencySlice(b, s))),
  idempotencySlicePrefix: roomBuckets().map((b) => keys.idempotencySlicePrefix(b)),
  pendingRoom: roomIds.map((r) => keys.pendingRoom(r)),
  pendingMessage: roomIds.flatMap((r) => roomIds.map((m) => keys.pendingMessage(r, m))),
  pendingIndex: roomBuckets().map((b) => keys.pendingIndex(b)),
  pendingMessagePrefix: roomIds.map((r) => keys.pendingMessagePrefix(r)),
  pendingRevs: roomIds.map((r) => keys.pendingRevs(r)),
  pendingMessageOps: roomIds.flatMap((r) => roomIds.map((m) => keys.pendingMessageOps(r, m))),
  pendingSystem: roomIds.map((r) => keys.pendingSystem(r)),
  pendingSent: roomIds.slice(0, 2).flatMap((r) => hostileUserIds.map((u) => keys.pendingSent(r, u))),
  messageRoom: roomIds.map((m) => keys.messageRoom(m)),
  pushSent: hostileUserIds.flatMap((u) => roomIds.map((m) => keys.pushSent(m, u, u))),
  bullPrefix: ["persist", "media", "fanout", "notify"].map((q) => keys.bullPrefix(q)),
  socketKey: [keys.socketKey],
  waitMark: roomBuckets().map((b) => keys.waitMark(`r${b}`)),
  boardSession: ["0", "a", "f"].map((c) => keys.boardSession(c.repeat(64))),
};

/** The hash tag Redis Cluster takes a key's slot from (the first {...} with something inside). */
const tagOf = (key: string): string | null => /\{([^}]+)\}/.exec(key)?.[1] ?? null;

describe("Redis key families", () => {
  it("covers every key builder of Keys", () => {
    const methods = Object.getOwnPropertyNames(Keys.prototype).filter((n) => n !== "constructor");
    expect(new Set(methods)).toEqual(new Set(Object.keys(builders).map((b) => b.replace(/\(.*\)$/, ""))));
  });

  it("never gives two inputs, of one family or of two, the same key", () => {
    const owner = new Map<string, string>();
    for (const [family, list] of Object.entries(builders)) {
      for (const key of list) {
        const prev = owner.get(key);
        // Within a family, distinct inputs give distinct keys (the lists hold no duplicate inputs).
        expect(prev, `${key} built by ${prev} and ${family}`).toBeUndefined();
        owner.set(key, family);
      }
    }
  });

  it("puts each builder's keys in one family of their own, the second segment, where no input reaches", () => {
    const familiesOf = (list: string[]) => new Set(list.map((k) => k.split(":")[1]));
    const owner = new Map<string, string>();
    // pendingMessagePrefix is, by design, the start of pendingMessage's keys.
    const shared = new Set([
      "pendingMessagePrefix",
      "idempotencySlicePrefix",
      "presenceSocketsPrefix",
      "presenceSeenPrefix",
      "presenceNodeUsersPrefix",
    ]);
    for (const [builder, list] of Object.entries(builders)) {
      const families = familiesOf(list);
      expect(families.size, builder).toBe(1);
      const [family = ""] = families;
      expect(family).toMatch(/^[a-z._-]+$/);
      if (!shared.has(builder)) {
        expect(owner.get(family), `${family}: ${owner.get(family)} and ${builder}`).toBeUndefined();
        owner.set(family, builder);
      }
    }
    const room = roomIds[0] ?? "";
    expect(keys.pendingMessage(room, newId()).startsWith(keys.pendingMessagePrefix(room))).toBe(true);
    expect(keys.idempotencySlice(3, 7)).toBe(`${keys.idempotencySlicePrefix(3)}7`);
    const b = presenceBucket("a:b");
    expect(keys.presenceSockets("a:b").startsWith(keys.presenceSocketsPrefix(b))).toBe(true);
    expect(keys.presenceSeen("a:b").startsWith(keys.presenceSeenPrefix(b))).toBe(true);
    const node = newId();
    expect(keys.presenceNodeUsers(b, node)).toBe(`${keys.presenceNodeUsersPrefix(b)}${node}`);
  });

  it("gives distinct client_ids distinct fields in their bucket's idempotency hashes", () => {
    const fields = roomIds
      .slice(0, 2)
      .flatMap((r) => hostileUserIds.flatMap((u) => hostileUserIds.map((c) => idempotencyField(r, u, c))));
    expect(new Set(fields).size).toBe(fields.length);
  });

  it("refuses a part with the separator, a brace or nothing, whatever the caller validated", () => {
    const room = roomIds[0] ?? "";
    expect(() => keys.pendingSent(room, "a|b")).toThrow();
    expect(() => keys.pendingSent(room, "a{b}")).toThrow();
    expect(() => keys.idempotencySlice(0, -1)).toThrow();
    expect(() => keys.idempotencySlice(0, 1.5)).toThrow();
    expect(() => idempotencyField(room, "a|b", "c")).toThrow();
    expect(() => idempotencyField(room, "a", "")).toThrow();
    expect(() => keys.presenceSockets("{x}")).toThrow();
    expect(() => keys.members("")).toThrow();
    expect(() => keys.pendingIndex(ROOM_BUCKETS)).toThrow();
    expect(() => keys.pendingIndex(-1)).toThrow();
    expect(() => keys.bullPrefix("a:b")).toThrow();
    expect(() => keys.waitMark("x}{y")).toThrow();
  });

  it("has one hash tag per key, made by the builder: no input can move a key to another slot", () => {
    for (const [builder, list] of Object.entries(builders)) {
      for (const key of list) {
        const tags = key.match(/\{[^}]*\}/g) ?? [];
        expect(tags.length, `${builder}: ${key}`).toBeLessThanOrEqual(1);
        if (tags[0]) expect(tags[0], key).toMatch(/^\{(r\d+|p\d+|chat\.[a-z]+)\}$/);
      }
    }
  });

  it("puts every key one script or transaction touches in one slot (Redis Cluster runs nothing else)", () => {
    const room = roomIds[1] ?? "";
    const bucket = roomBucket(room);
    const id = newId();
    // The accept, op, seed, clear and take-revs scripts, the member cache fill and invalidation.
    const roomScripts = [
      keys.members(room),
      keys.membersGen(room),
      keys.roomLock(room),
      keys.idempotencyPending(bucket),
      keys.idempotencySlice(bucket, 29_000_000),
      `${keys.idempotencySlicePrefix(bucket)}29000000`,
      keys.seq(room),
      keys.rev(room),
      keys.counterFloor(room),
      keys.pendingRoom(room),
      keys.pendingOps(room),
      keys.pendingMessage(room, id),
      `${keys.pendingMessagePrefix(room)}${id}`,
      keys.pendingRevs(room),
      keys.pendingMessageOps(room, id),
      keys.pendingSystem(room),
      keys.pendingSent(room, "alice"),
      keys.pendingIndex(bucket),
      keys.pendingBytes(bucket),
      keys.pendingOpsIndex(bucket),
      keys.waitMark(`r${bucket}`),
    ];
    expect(new Set(roomScripts.map((k) => calculateSlot(k))).size).toBe(1);
    // Presence: a user's sockets, seen time, their bucket's online index, nodes and node users
    // (connect, disconnect, and the heartbeat, which derives keys from the bucket's prefixes).
    const user = "some.user";
    const pb = presenceBucket(user);
    const presence = [
      keys.presenceSockets(user),
      keys.presenceSeen(user),
      keys.presenceOnline(pb),
      keys.presenceNodes(pb),
      keys.presenceNodeUsers(pb, "node"),
      `${keys.presenceNodeUsersPrefix(pb)}node`,
      `${keys.presenceSocketsPrefix(pb)}${user}`,
      `${keys.presenceSeenPrefix(pb)}${user}`,
    ];
    expect(new Set(presence.map((k) => calculateSlot(k))).size).toBe(1);
    // A BullMQ queue's keys share its tag.
    expect(tagOf(`${keys.bullPrefix("persist")}:persist:wait`)).toBe("chat.persist");
  });

  it("spreads rooms, their buckets and the queues over many slots (no slot takes every message)", () => {
    const rooms = Array.from({ length: 2000 }, () => newId());
    const buckets = new Set(rooms.map((r) => roomBucket(r)));
    expect(buckets.size).toBe(ROOM_BUCKETS);
    const slots = new Set(roomBuckets().map((b) => calculateSlot(keys.pendingIndex(b))));
    expect(slots.size).toBe(ROOM_BUCKETS);
    const queueSlots = new Set(
      ["persist", "media", "fanout", "notify"].map((q) => calculateSlot(`${keys.bullPrefix(q)}:x`)),
    );
    expect(queueSlots.size).toBe(4);
  });

  it("accepts only the real id formats at the edge", () => {
    const room = newId();
    expect(idSchema.safeParse(room).success).toBe(true);
    for (const bad of [
      `${room}:gen`,
      room.toLowerCase(),
      `${room}|x`,
      "8ZZZZZZZZZZZZZZZZZZZZZZZZZ",
      "",
      room.slice(1),
    ]) {
      expect(idSchema.safeParse(bad).success, bad).toBe(false);
    }
    for (const bad of ["a|b", "", "x".repeat(65), "a b", "é"]) {
      expect(userIdSchema.safeParse(bad).success, bad).toBe(false);
      expect(clientIdSchema.safeParse(bad).success, bad).toBe(false);
    }
  });
});
