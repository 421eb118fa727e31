import { beforeAll, describe, expect, it } from "vitest";
import { collect, waitFor } from "../helpers/socket.ts";
import { useTwoNodes } from "../helpers/two-nodes.ts";

type Receipt = { room_id: string; user_id: string; read_seq: number; delivered_seq: number };
type Room = {
  id: string;
  unread_count: number;
  last_seq: number;
  settings: { muted_until: string | null; pinned: boolean; archived: boolean };
};

const t = useTwoNodes("receipts", { workers: 1 });
const { on, open } = t;
let nodeA = "";
let nodeB = "";
beforeAll(() => {
  ({ nodeA, nodeB } = t);
});

const { group } = t;
async function sendN(base: string, user: string, roomId: string, n: number, tag: string): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await on(base, user).call("POST", `/rooms/${roomId}/messages`, {
      client_id: `${tag}${i}`,
      type: "text",
      text: `${tag} ${i}`,
    });
    expect(res.status).toBe(201);
  }
}

describe("receipts and unread", () => {
  it("counts unread from watermarks; reading on one device updates every device, on every node", async () => {
    const roomId = await group("u-alice", ["u-bob"]);
    await sendN(nodeA, "u-alice", roomId, 5, "a");
    const bobB = await on(nodeB, "u-bob").call<{ total: number; rooms: Record<string, number> }>(
      "GET",
      "/unread",
    );
    expect(bobB.body).toEqual({ total: 5, rooms: { [roomId]: 5 } });
    expect((await on(nodeA, "u-alice").call<{ total: number }>("GET", "/unread")).body.total).toBe(0); // own messages

    const phone = await open(nodeA, "u-bob");
    const laptop = await open(nodeB, "u-bob");
    const aliceSocket = await open(nodeB, "u-alice");
    const onLaptop = collect<Receipt>(laptop, "receipt:updated");
    const onAlice = collect<Receipt>(aliceSocket, "receipt:updated");
    expect(await phone.timeout(3000).emitWithAck("message:read", { room_id: roomId, seq: 3 })).toEqual({
      ok: true,
    });
    await waitFor(() => onLaptop.length === 1 && onAlice.length === 1, 5000, "receipt:updated on both");
    expect(onLaptop[0]).toEqual({ room_id: roomId, user_id: "u-bob", read_seq: 3, delivered_seq: 3 });
    const list = await on(nodeB, "u-bob").call<{ rooms: Room[] }>("GET", "/rooms");
    expect(list.body.rooms.find((r) => r.id === roomId)?.unread_count).toBe(2);

    // Monotonic: a lower seq changes nothing and announces nothing; a seq past the end is clamped.
    expect((await on(nodeA, "u-bob").call("POST", `/rooms/${roomId}/read`, { seq: 1 })).status).toBe(204);
    expect((await on(nodeA, "u-bob").call("POST", `/rooms/${roomId}/read`, { seq: 999 })).status).toBe(204);
    await waitFor(() => onLaptop.length === 2, 5000, "the clamped read");
    expect(onLaptop[1]).toMatchObject({ read_seq: 5, delivered_seq: 5 });
    expect((await on(nodeB, "u-bob").call<{ total: number }>("GET", "/unread")).body.total).toBe(0);

    // Sending implies reading.
    await sendN(nodeA, "u-alice", roomId, 2, "b");
    await sendN(nodeB, "u-bob", roomId, 1, "c");
    await waitFor(
      async () => (await on(nodeB, "u-bob").call<{ total: number }>("GET", "/unread")).body.total === 0,
      10_000,
      "read by sending",
    );
  });

  it("keeps delivered separate from read, and validates the seq", async () => {
    const roomId = await group("d-alice", ["d-bob"]);
    await sendN(nodeA, "d-alice", roomId, 3, "d");
    expect((await on(nodeB, "d-bob").call("POST", `/rooms/${roomId}/delivered`, { seq: 3 })).status).toBe(
      204,
    );
    expect((await on(nodeB, "d-bob").call<{ total: number }>("GET", "/unread")).body.total).toBe(3);
    for (const bad of [{ seq: -1 }, { seq: 1.5 }, { seq: "3" }, {}, { seq: 1, extra: true }]) {
      expect((await on(nodeB, "d-bob").call("POST", `/rooms/${roomId}/read`, bad)).status).toBe(400);
    }
    expect((await on(nodeB, "d-mallory").call("POST", `/rooms/${roomId}/read`, { seq: 1 })).status).toBe(404);
    expect((await on(nodeB, "d-bob").call<{ total: number }>("GET", "/unread")).body.total).toBe(3);
  });
});

describe("settings", () => {
  it("mutes, pins and archives per user, partially, reflected in lists and in the unread total", async () => {
    const roomId = await group("s-alice", ["s-bob"]);
    await sendN(nodeA, "s-alice", roomId, 2, "s");
    const bob = on(nodeB, "s-bob");
    const until = new Date(Date.now() + 3_600_000).toISOString();
    const muted = await bob.call<{ room: Room }>("PUT", `/rooms/${roomId}/settings`, { muted_until: until });
    expect(muted.status).toBe(200);
    expect(muted.body.room.settings).toEqual({ muted_until: until, pinned: false, archived: false });
    const pinned = await bob.call<{ room: Room }>("PUT", `/rooms/${roomId}/settings`, {
      pinned: true,
      archived: true,
    });
    expect(pinned.body.room.settings).toEqual({ muted_until: until, pinned: true, archived: true });
    // Muted rooms count per room, not in the total.
    expect((await bob.call("GET", "/unread")).body).toEqual({ total: 0, rooms: { [roomId]: 2 } });
    const list = await bob.call<{ rooms: Room[] }>("GET", "/rooms");
    expect(list.body.rooms.find((r) => r.id === roomId)?.settings.pinned).toBe(true);
    // Alice's view is her own.
    expect(
      (await on(nodeA, "s-alice").call<{ room: Room }>("GET", `/rooms/${roomId}`)).body.room.settings.pinned,
    ).toBe(false);
    await bob.call("PUT", `/rooms/${roomId}/settings`, { muted_until: null });
    expect((await bob.call<{ total: number }>("GET", "/unread")).body.total).toBe(2);
    for (const bad of [{}, { pinned: "yes" }, { muted_until: "tomorrow" }, { colour: "red" }]) {
      expect((await bob.call("PUT", `/rooms/${roomId}/settings`, bad)).status).toBe(400);
    }
    expect(
      (await on(nodeA, "s-mallory").call("PUT", `/rooms/${roomId}/settings`, { pinned: true })).status,
    ).toBe(404);
  });
});

describe("search", () => {
  type Found = {
    messages: { id: string; text: string | null; edited_at: string | null }[];
    next_cursor: string | null;
  };
  it("finds the caller's messages by words once stored, follows edits and deletes, and refuses what it cannot look up", async () => {
    const roomId = await group("q-alice", ["q-bob"]);
    const other = await group("q-carol", []);
    const post = (user: string, room: string, clientId: string, text: string) =>
      on(nodeA, user).call<{ message: { id: string } }>("POST", `/rooms/${room}/messages`, {
        client_id: clientId,
        type: "text",
        text,
      });
    const a = await post("q-alice", roomId, "q1", "Rendez-vous au café à midi");
    await post("q-alice", roomId, "q2", "nothing to see");
    await post("q-carol", other, "q3", "café secret");
    const search = (user: string, q: string, extra = "") =>
      on(nodeB, user).call<Found>("GET", `/search/messages?q=${encodeURIComponent(q)}${extra}`);
    await waitFor(
      async () => (await search("q-bob", "cafe midi")).body.messages.length === 1,
      10_000,
      "indexed",
    );
    expect((await search("q-bob", "cafe")).body.messages.map((m) => m.id)).toEqual([a.body.message.id]);
    expect((await search("q-bob", "secret")).body.messages).toEqual([]);
    await on(nodeA, "q-alice").call("PATCH", `/messages/${a.body.message.id}`, {
      text: "Rendez-vous au bistrot",
    });
    await waitFor(
      async () => (await search("q-bob", "bistrot")).body.messages.length === 1,
      10_000,
      "re-indexed",
    );
    expect((await search("q-bob", "bistrot")).body.messages[0]).toMatchObject({
      text: "Rendez-vous au bistrot",
    });
    expect((await search("q-bob", "midi")).body.messages).toEqual([]);
    await on(nodeA, "q-alice").call("DELETE", `/messages/${a.body.message.id}?for=everyone`);
    await waitFor(
      async () => (await search("q-bob", "bistrot")).body.messages.length === 0,
      10_000,
      "dropped",
    );
    expect((await search("q-bob", "au")).status).toBe(400);
    expect((await search("q-bob", "abc\u0000")).status).toBe(400);
    expect((await search("q-bob", "\u0000\u0000\u0000")).status).toBe(400);
    expect((await search("q-bob", "")).status).toBe(400);
    expect((await search("q-bob", "cafe", `&room_id=${other}`)).status).toBe(404);
    expect((await on(nodeB, "q-bob").call("GET", "/search/messages")).status).toBe(400);
  });
});
