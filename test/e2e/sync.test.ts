import type { Socket } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { waitFor } from "../helpers/socket.ts";
import { useTwoNodes } from "../helpers/two-nodes.ts";

type Message = {
  id: string;
  room_id: string;
  seq: number;
  rev: number;
  text: string | null;
  deleted: boolean;
  reactions: Record<string, number>;
  system: { event: string; user_ids?: string[] } | null;
};
type Room = { id: string; unread_count: number; last_seq: number };
type MessagesSync = { messages: Message[]; next_since: string; has_more: boolean };
type RoomsSync = { rooms: Room[]; removed_room_ids: string[]; next_since: string };

const t = useTwoNodes("sync", { workers: 1 });
const ME = "y-me";
const OTHERS = ["y-o1", "y-o2", "y-o3", "y-o4"];

/** A device's copy of the user's messages, fed only by sync pages. */
class Replica {
  readonly messages = new Map<string, Message>();
  readonly revs = new Map<string, number>();
  apply(page: Message[]): void {
    for (const m of page) {
      // Once per revision, never back in time.
      expect(m.rev, m.id).toBeGreaterThan(this.revs.get(m.id) ?? 0);
      this.revs.set(m.id, m.rev);
      this.messages.set(m.id, m);
    }
  }
  dropRooms(roomIds: string[]): void {
    for (const [id, m] of this.messages) if (roomIds.includes(m.room_id)) this.messages.delete(id);
  }
}

/** Runs `n` tasks from `make`, `width` at a time. */
async function pool(n: number, width: number, make: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let i = next++; i < n; i = next++) await make(i);
    }),
  );
}

async function history(roomId: string): Promise<Message[]> {
  const out: Message[] = [];
  let after = 0;
  for (;;) {
    const page = await t
      .on(t.nodeA, ME)
      .call<{ messages: Message[]; has_more: boolean }>(
        "GET",
        `/rooms/${roomId}/messages?after_seq=${after}&limit=100`,
      );
    out.push(...page.body.messages);
    if (!page.body.has_more || page.body.messages.length === 0) return out;
    after = page.body.messages.at(-1)?.seq ?? after;
  }
}

function socketSync<T>(socket: Socket, event: string, payload: object): Promise<T & { ok: boolean }> {
  return socket.timeout(10_000).emitWithAck(event, payload);
}

describe("sync (28–29): a device offline through 5,000 changes across 50 rooms", () => {
  it("catches up exactly, over REST and over the socket, with rooms left in removed_room_ids", async () => {
    const me = t.on(t.nodeA, ME);
    for (const device of ["rest-dev", "sock-dev"]) {
      expect((await me.call("POST", "/devices", { device_id: device, platform: "ios" })).status).toBe(201);
    }
    const rooms: string[] = [];
    for (let i = 0; i < 50; i++) rooms.push(await t.group(ME, OTHERS.slice(0, 3)));
    // Both devices take their cursors, then go offline.
    const socket = await t.open(t.nodeB, ME);
    const restMsgs = (await me.call<MessagesSync>("GET", "/sync/messages?device_id=rest-dev")).body;
    expect(restMsgs).toMatchObject({ messages: [], has_more: false });
    const restRooms = (await me.call<RoomsSync>("GET", "/sync/rooms?device_id=rest-dev")).body;
    expect(restRooms.rooms).toHaveLength(50);
    const sockMsgs = await socketSync<MessagesSync>(socket, "messages:sync", { device_id: "sock-dev" });
    const sockRooms = await socketSync<RoomsSync>(socket, "chats:sync", { device_id: "sock-dev" });
    expect(sockRooms.ok).toBe(true);
    socket.disconnect();

    // 5,000 changes: sends from everyone, then edits, deletes and reactions on them; others
    // join and leave; the user leaves three rooms and is added to two new ones.
    const sent: Message[] = [];
    await pool(3000, 24, async (i) => {
      const by = i % 3 === 0 ? ME : (OTHERS[i % 3] ?? "y-o1");
      const room = rooms[i % rooms.length] ?? "";
      const res = await t
        .on(i % 2 ? t.nodeA : t.nodeB, by)
        .call<{ message: Message }>("POST", `/rooms/${room}/messages`, {
          client_id: `s-${i}`,
          type: "text",
          text: `m${i}`,
        });
      expect(res.status).toBe(201);
      sent.push({ ...res.body.message, sender: by } as Message & { sender: string });
    });
    const senderOf = (m: Message) => (m as Message & { sender: string }).sender;
    await pool(1940, 24, async (i) => {
      const m = sent[(i * 7) % sent.length] as Message;
      const as = t.on(i % 2 ? t.nodeA : t.nodeB, senderOf(m));
      const kind = i % 4;
      const res =
        kind === 0
          ? await as.call("PATCH", `/messages/${m.id}`, { text: `edited ${i}` })
          : kind === 1 && i % 8 === 1
            ? await as.call("DELETE", `/messages/${m.id}?for=everyone`)
            : await t
                .on(t.nodeB, OTHERS[i % 3] ?? "y-o1")
                .call("PUT", `/messages/${m.id}/reaction`, { emoji: ["👍", "🎉", "😂"][i % 3] });
      // An edit or reaction on a message deleted meanwhile is refused (403); the rest succeed.
      expect([200, 204, 403]).toContain(res.status);
    });
    for (let i = 0; i < 20; i++) {
      const room = rooms[i] ?? "";
      const res =
        i % 2
          ? await me.call("POST", `/rooms/${room}/members`, { user_ids: ["y-o4"] })
          : await t.on(t.nodeA, "y-o2").call("DELETE", `/rooms/${room}/members/y-o2`);
      expect(res.status).toBe(200);
    }
    const left = rooms.slice(47);
    for (const room of left)
      expect((await me.call("DELETE", `/rooms/${room}/members/${ME}`)).status).toBe(200);
    const joined: string[] = [];
    for (let i = 0; i < 2; i++) {
      const room = await t.group("y-o1", ["y-o3"]);
      await t
        .on(t.nodeA, "y-o1")
        .call("POST", `/rooms/${room}/messages`, { client_id: `pre-${i}`, type: "text", text: "before" });
      expect(
        (await t.on(t.nodeA, "y-o1").call("POST", `/rooms/${room}/members`, { user_ids: [ME] })).status,
      ).toBe(200);
      await t
        .on(t.nodeA, "y-o1")
        .call("POST", `/rooms/${room}/messages`, { client_id: `post-${i}`, type: "text", text: "after" });
      joined.push(room);
    }

    // The server's truth as the user sees it, in the rooms they are in now.
    const current = [...rooms.slice(0, 47), ...joined];
    const truth = new Map<string, Message>();
    for (const room of current) {
      let msgs = await history(room);
      // In a room joined later, sync starts at the join: the history before it is not a change.
      if (joined.includes(room)) {
        const join = msgs.find((m) => m.system?.event === "members_added" && m.system.user_ids?.includes(ME));
        msgs = msgs.filter((m) => m.seq >= (join?.seq ?? 0));
      }
      for (const m of msgs) truth.set(m.id, m);
    }
    const check = (replica: Replica) => {
      expect(replica.messages.size).toBe(truth.size);
      for (const [id, m] of truth) {
        const r = replica.messages.get(id);
        expect(r, id).toBeDefined();
        expect({ text: r?.text, deleted: r?.deleted, reactions: r?.reactions, rev: r?.rev }).toEqual({
          text: m.text,
          deleted: m.deleted,
          reactions: m.reactions,
          rev: m.rev,
        });
      }
    };

    // REST: rooms first (who left, who joined), then pages of messages.
    const rest = new Replica();
    const roomsAfter = (
      await me.call<RoomsSync>("GET", `/sync/rooms?device_id=rest-dev&since=${restRooms.next_since}`)
    ).body;
    expect(roomsAfter.removed_room_ids.sort()).toEqual([...left].sort());
    expect(roomsAfter.rooms.map((r) => r.id).sort()).toEqual([...current].sort());
    let since = restMsgs.next_since;
    let pages = 0;
    for (let more = true; more; pages++) {
      const res = await me.call<MessagesSync>(
        "GET",
        `/sync/messages?device_id=rest-dev&since=${since}&limit=100`,
      );
      expect(res.status).toBe(200);
      expect(res.body.messages.length).toBeLessThanOrEqual(100);
      rest.apply(res.body.messages);
      rest.dropRooms(roomsAfter.removed_room_ids);
      since = res.body.next_since;
      more = res.body.has_more;
    }
    check(rest);
    // Bounded pages: the catch-up took many of them.
    expect(pages).toBeGreaterThanOrEqual(Math.ceil(truth.size / 100));
    // Nothing changed since: an empty page, the same rooms.
    const idle = await me.call<MessagesSync>("GET", `/sync/messages?device_id=rest-dev&since=${since}`);
    expect(idle.body).toMatchObject({ messages: [], has_more: false });
    const devices = await me.call<{ devices: { device_id: string; last_sync_at: string | null }[] }>(
      "GET",
      "/devices",
    );
    expect(devices.body.devices.find((d) => d.device_id === "rest-dev")?.last_sync_at).toBeTruthy();

    // The socket: the same, through acks and *:synced events.
    const again = await t.open(t.nodeA, ME, "polling");
    const syncedEvents: MessagesSync[] = [];
    again.on("messages:synced", (p: MessagesSync) => syncedEvents.push(p));
    const sock = new Replica();
    const sockRoomsAfter = await socketSync<RoomsSync>(again, "chats:sync", {
      device_id: "sock-dev",
      since: sockRooms.next_since,
    });
    expect(sockRoomsAfter.removed_room_ids.sort()).toEqual([...left].sort());
    let sockSince = sockMsgs.next_since;
    let acks = 0;
    for (let more = true; more; acks++) {
      const res = await socketSync<MessagesSync>(again, "messages:sync", {
        device_id: "sock-dev",
        since: sockSince,
        limit: 100,
      });
      expect(res.ok).toBe(true);
      sock.apply(res.messages);
      sock.dropRooms(sockRoomsAfter.removed_room_ids);
      sockSince = res.next_since;
      more = res.has_more;
    }
    check(sock);
    await waitFor(() => syncedEvents.length === acks, 5000, "a messages:synced per page");
  }, 180_000);

  it("a member removed and added back gets the room from the rejoin, not what was sent while away", async () => {
    const me = t.on(t.nodeA, "r-me");
    await me.call("POST", "/devices", { device_id: "r-dev", platform: "web" });
    const roomId = await t.group("r-admin", ["r-me"]);
    const cursor = (await me.call<MessagesSync>("GET", "/sync/messages?device_id=r-dev")).body.next_since;
    const admin = t.on(t.nodeA, "r-admin");
    expect((await admin.call("DELETE", `/rooms/${roomId}/members/r-me`)).status).toBe(200);
    await admin.call("POST", `/rooms/${roomId}/messages`, {
      client_id: "away-1",
      type: "text",
      text: "while away",
    });
    expect((await admin.call("POST", `/rooms/${roomId}/members`, { user_ids: ["r-me"] })).status).toBe(200);
    await admin.call("POST", `/rooms/${roomId}/messages`, {
      client_id: "back-1",
      type: "text",
      text: "welcome back",
    });
    const page = await me.call<MessagesSync>(
      "GET",
      `/sync/messages?device_id=r-dev&since=${cursor}&limit=100`,
    );
    const texts = page.body.messages.map((m) => m.text ?? m.system?.event);
    expect(texts).not.toContain("while away");
    expect(texts).toEqual(["members_added", "welcome back"]);
  });

  it("refuses another device's cursor, an unknown device and a bad cursor with 4xx", async () => {
    const me = t.on(t.nodeA, "z-me");
    await me.call("POST", "/devices", { device_id: "d1", platform: "web" });
    await me.call("POST", "/devices", { device_id: "d2", platform: "web" });
    const cursor = (await me.call<MessagesSync>("GET", "/sync/messages?device_id=d1")).body.next_since;
    expect((await me.call("GET", `/sync/messages?device_id=d2&since=${cursor}`)).status).toBe(400);
    expect((await me.call("GET", `/sync/rooms?device_id=d1&since=${cursor}`)).status).toBe(400);
    expect(
      (await t.on(t.nodeA, "z-other").call("GET", `/sync/messages?device_id=d1&since=${cursor}`)).status,
    ).toBe(404);
    expect((await me.call("GET", "/sync/messages?device_id=nope")).status).toBe(404);
    expect((await me.call("GET", "/sync/messages?device_id=d1&since=garbage")).status).toBe(400);
    expect((await me.call("GET", "/sync/messages?device_id=d1&limit=101")).status).toBe(400);
    expect((await me.call("GET", `/sync/messages?device_id=d1&since=${cursor}`)).status).toBe(200);
  });
});
