import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Api, startApi } from "../../src/api.ts";
import { signToken } from "../../src/auth/jwt.ts";
import {
  dropPrefix,
  removeDir,
  TEST_SECRET,
  tempDir,
  testConfig,
  token,
  uniquePrefix,
} from "../helpers/env.ts";
import { Client } from "../helpers/http.ts";
import { connect, nextEvent } from "../helpers/socket.ts";

type RoomBody = { room: { id: string; type: string; members?: { user_id: string; role: string }[] } };
type ListBody = { rooms: { id: string }[]; next_cursor: string | null };
type ErrorBody = { error: { code: string; message: string; details?: unknown } };

const prefix = uniquePrefix("rooms");
const dir = tempDir("rooms");
let api: Api;
let base: string;
const as = (user: string) => new Client(base, token(user));

beforeAll(async () => {
  api = await startApi(testConfig(prefix, dir, { GROUP_MAX_MEMBERS: "5" }));
  base = `http://127.0.0.1:${api.port()}`;
});
afterAll(async () => {
  await api.close();
  await dropPrefix(prefix);
  removeDir(dir);
});

describe("auth on REST", () => {
  it("rejects missing, garbage and expired tokens with 401", async () => {
    const none = await fetch(`${base}/api/v1/chat/rooms`);
    expect(none.status).toBe(401);
    expect(((await none.json()) as ErrorBody).error.code).toBe("unauthenticated");
    expect((await new Client(base, "garbage").call("GET", "/rooms")).status).toBe(401);
    expect((await new Client(base, token("alice", -10)).call("GET", "/rooms")).status).toBe(401);
  });

  it("serves health and readiness without a token", async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ checks: { redis: "ok", store: "ok" } });
  });

  it("serves Prometheus metrics to admins only", async () => {
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    const member = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token("alice")}` } });
    expect(member.status).toBe(403);
    const admin = signToken(TEST_SECRET, "ops", { admin: true });
    const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${admin}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("chat_http_request_duration_seconds");
  });

  it("answers unknown endpoints with a JSON 404", async () => {
    const res = await as("alice").call<ErrorBody>("GET", "/nope");
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("not_found");
  });
});

describe("POST /rooms", () => {
  it("returns the pair's one direct room: 201 new, 200 existing, from either side", async () => {
    const a = await as("d1").call<RoomBody>("POST", "/rooms", { type: "direct", member_id: "d2" });
    expect(a.status).toBe(201);
    expect(a.body.room.type).toBe("direct");
    const again = await as("d1").call<RoomBody>("POST", "/rooms", { type: "direct", member_id: "d2" });
    const other = await as("d2").call<RoomBody>("POST", "/rooms", { type: "direct", member_id: "d1" });
    expect([again.status, other.status]).toEqual([200, 200]);
    expect(again.body.room.id).toBe(a.body.room.id);
    expect(other.body.room.id).toBe(a.body.room.id);
  });

  it("creates one direct room under 20 concurrent creates from both users", async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        i % 2
          ? as("c1").call<RoomBody>("POST", "/rooms", { type: "direct", member_id: "c2" })
          : as("c2").call<RoomBody>("POST", "/rooms", { type: "direct", member_id: "c1" }),
      ),
    );
    expect(new Set(results.map((r) => r.body.room.id)).size).toBe(1);
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 200)).toHaveLength(19);
  });

  it("refuses a direct room with oneself", async () => {
    const res = await as("solo").call<ErrorBody>("POST", "/rooms", { type: "direct", member_id: "solo" });
    expect(res.status).toBe(400);
  });

  it("creates a group with the creator as admin", async () => {
    const res = await as("g1").call<RoomBody>("POST", "/rooms", {
      type: "group",
      name: "Team",
      member_ids: ["g2", "g3", "g2"],
    });
    expect(res.status).toBe(201);
    expect(res.body.room.members).toEqual([
      expect.objectContaining({ user_id: "g1", role: "admin" }),
      expect.objectContaining({ user_id: "g2", role: "member" }),
      expect.objectContaining({ user_id: "g3", role: "member" }),
    ]);
    expect(res.body.room).toMatchObject({
      members_count: 3,
      last_seq: 0,
      last_message: null,
      unread_count: 0,
    });
  });

  it("caps group size (GROUP_MAX_MEMBERS=5 here) and changes nothing", async () => {
    const before = await as("cap").call<ListBody>("GET", "/rooms");
    const res = await as("cap").call<ErrorBody>("POST", "/rooms", {
      type: "group",
      name: "Big",
      member_ids: ["a1", "a2", "a3", "a4", "a5"],
    });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/at most 5/);
    expect((await as("cap").call<ListBody>("GET", "/rooms")).body.rooms).toEqual(before.body.rooms);
  });

  it("rejects bad bodies with 400 invalid_request and zod details", async () => {
    const cases: unknown[] = [
      {},
      { type: "group", name: "", member_ids: [] },
      { type: "group", name: "x", member_ids: ["bad id"] },
      { type: "direct" },
      { type: "direct", member_id: "x", extra: 1 },
      [],
    ];
    for (const body of cases) {
      const res = await as("v").call<ErrorBody>("POST", "/rooms", body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe("invalid_request");
      expect(Array.isArray(res.body.error.details)).toBe(true);
    }
    const broken = await as("v").call<ErrorBody>("POST", "/rooms", "{not json");
    expect(broken.status).toBe(400);
  });
});

describe("GET /rooms and /rooms/:id", () => {
  it("lists most recent first with a cursor", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await as("lister").call<RoomBody>("POST", "/rooms", {
        type: "group",
        name: `r${i}`,
        member_ids: [],
      });
      ids.push(r.body.room.id);
    }
    const page1 = await as("lister").call<ListBody>("GET", "/rooms?limit=2");
    expect(page1.body.rooms.map((r) => r.id)).toEqual([ids[4], ids[3]]);
    expect(page1.body.next_cursor).toEqual(expect.any(String));
    const page2 = await as("lister").call<ListBody>(
      "GET",
      `/rooms?limit=2&cursor=${encodeURIComponent(page1.body.next_cursor ?? "")}`,
    );
    expect(page2.body.rooms.map((r) => r.id)).toEqual([ids[2], ids[1]]);
    const page3 = await as("lister").call<ListBody>(
      "GET",
      `/rooms?limit=2&cursor=${encodeURIComponent(page2.body.next_cursor ?? "")}`,
    );
    expect(page3.body.rooms.map((r) => r.id)).toEqual([ids[0]]);
    expect(page3.body.next_cursor).toBeNull();
    expect((await as("lister").call("GET", "/rooms?cursor=garbage")).status).toBe(400);
    expect((await as("lister").call("GET", "/rooms?limit=101")).status).toBe(400);
  });

  it("shows a room with members to members, 404 to everyone else", async () => {
    const created = await as("owner").call<RoomBody>("POST", "/rooms", {
      type: "group",
      name: "Private",
      member_ids: ["friend"],
    });
    const id = created.body.room.id;
    const friend = await as("friend").call<RoomBody>("GET", `/rooms/${id}`);
    expect(friend.status).toBe(200);
    expect(friend.body.room.members?.map((m) => m.user_id).sort()).toEqual(["friend", "owner"]);
    const stranger = await as("stranger").call<ErrorBody>("GET", `/rooms/${id}`);
    expect(stranger.status).toBe(404);
    expect(stranger.body.error.code).toBe("not_found");
    expect((await as("stranger").call("GET", "/rooms/01JAAAAAAAAAAAAAAAAAAAAAAA")).status).toBe(404);
  });
});

describe("Socket.IO auth and room:created", () => {
  it("rejects handshakes without, with bad, and with expired tokens", async () => {
    await expect(connect(base, "")).rejects.toThrow(/unauthenticated/);
    await expect(connect(base, "nope")).rejects.toThrow(/unauthenticated/);
    await expect(connect(base, token("alice", -5))).rejects.toThrow(/expired/);
  });

  it("disconnects a socket when its token expires", async () => {
    const socket = await connect(base, token("brief", 2));
    const started = Date.now();
    const reason = await nextEvent<string>(socket, "disconnect", 5000);
    expect(reason).toBe("io server disconnect");
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it("puts members' sockets into a new room and tells them", async () => {
    const socket = await connect(base, token("joiner"));
    try {
      const event = nextEvent<RoomBody>(socket, "room:created");
      const created = await as("creator").call<RoomBody>("POST", "/rooms", {
        type: "group",
        name: "Hello",
        member_ids: ["joiner"],
      });
      expect((await event).room.id).toBe(created.body.room.id);
    } finally {
      socket.close();
    }
  });
});
