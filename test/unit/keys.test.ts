import { describe, expect, it } from "vitest";
import { clientIdSchema, idSchema, newId, userIdSchema } from "../../src/ids.ts";
import { Keys } from "../../src/redis/redis.ts";

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
  pendingBytes: [keys.pendingBytes()],
  presenceSockets: hostileUserIds.map((u) => keys.presenceSockets(u)),
  presenceOnline: [keys.presenceOnline()],
  presenceSocketsPrefix: [keys.presenceSocketsPrefix],
  presenceSeenPrefix: [keys.presenceSeenPrefix],
  presenceSeen: hostileUserIds.map((u) => keys.presenceSeen(u)),
  // rate-limiter-flexible appends ":<user id>" to each prefix; each budget is a family.
  ...Object.fromEntries(
    ["send", "send-burst", "message_op", "room_create", "member_add", "typing", "media_upload"].map((b) => [
      `rateLimitPrefix(${b})`,
      hostileUserIds.map((u) => `${keys.rateLimitPrefix(b)}:${u}`),
    ]),
  ),
  pendingOps: roomIds.map((r) => keys.pendingOps(r)),
  pendingOpsIndex: [keys.pendingOpsIndex()],
  idempotency: hostileUserIds.flatMap((u) => hostileUserIds.map((c) => keys.idempotency(u, c))),
  pendingRoom: roomIds.map((r) => keys.pendingRoom(r)),
  pendingMessage: roomIds.map((r) => keys.pendingMessage(r)),
  pendingIndex: [keys.pendingIndex()],
  pendingMessagePrefix: [keys.pendingMessagePrefix],
  pushSent: hostileUserIds.flatMap((u) => roomIds.map((m) => keys.pushSent(m, u, u))),
  bullPrefix: [keys.bullPrefix],
  socketKey: [keys.socketKey],
};

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
    const shared = new Set(["pendingMessagePrefix", "presenceSocketsPrefix", "presenceSeenPrefix"]);
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
    expect(keys.pendingMessage(roomIds[0] ?? "").startsWith(keys.pendingMessagePrefix)).toBe(true);
    expect(keys.presenceSockets("a:b").startsWith(keys.presenceSocketsPrefix)).toBe(true);
    expect(keys.presenceSeen("a:b").startsWith(keys.presenceSeenPrefix)).toBe(true);
  });

  it("refuses a part with the separator or an empty part, whatever the caller validated", () => {
    expect(() => keys.idempotency("a|b", "c")).toThrow();
    expect(() => keys.members("")).toThrow();
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
