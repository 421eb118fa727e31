import { describe, expect, it } from "vitest";
import { collect, waitFor } from "../helpers/socket.ts";
import { useTwoNodes } from "../helpers/two-nodes.ts";

type Message = { id: string; text: string | null; starred: boolean; deleted: boolean };
type MessageBody = { message: Message };
type Starred = { messages: Message[]; next_cursor: string | null };
type Info = {
  delivered: { user_id: string; at: string }[];
  read: { user_id: string; at: string }[];
  pending: string[];
};

const t = useTwoNodes("stars", { workers: 1 });

async function send(roomId: string, user: string, text: string): Promise<Message> {
  const res = await t.on(t.nodeA, user).call<MessageBody>("POST", `/rooms/${roomId}/messages`, {
    client_id: `c-${text}`,
    type: "text",
    text,
  });
  expect(res.status).toBe(201);
  return res.body.message;
}

describe("stars (31–32)", () => {
  it("per user, readable at once on another node, newest star first, paged, tombstones and left rooms left out", async () => {
    const roomId = await t.group("s-alice", ["s-bob"]);
    const m1 = await send(roomId, "s-alice", "one");
    const m2 = await send(roomId, "s-alice", "two");
    const m3 = await send(roomId, "s-alice", "three");
    const bob = t.on(t.nodeB, "s-bob");
    const bobSocket = await t.open(t.nodeB, "s-bob");
    const aliceSocket = await t.open(t.nodeA, "s-alice");
    const bobUpdates = collect<MessageBody>(bobSocket, "message:updated");
    const aliceUpdates = collect<MessageBody>(aliceSocket, "message:updated");
    for (const m of [m1, m3, m2]) {
      expect((await t.on(t.nodeA, "s-bob").call("PUT", `/messages/${m.id}/star`)).status).toBe(204);
    }
    // Starring twice is a no-op.
    expect((await bob.call("PUT", `/messages/${m2.id}/star`)).status).toBe(204);
    const list = await bob.call<Starred>("GET", "/starred");
    expect(list.status).toBe(200);
    expect(list.body.messages.map((m) => m.id)).toEqual([m2.id, m3.id, m1.id]);
    expect(list.body.messages.every((m) => m.starred)).toBe(true);
    expect((await bob.call<MessageBody>("GET", `/messages/${m1.id}`)).body.message.starred).toBe(true);
    expect(
      (await t.on(t.nodeB, "s-alice").call<MessageBody>("GET", `/messages/${m1.id}`)).body.message.starred,
    ).toBe(false);
    expect((await t.on(t.nodeB, "s-alice").call<Starred>("GET", "/starred")).body.messages).toEqual([]);
    // The starrer's own sockets hear of it; nobody else does.
    await waitFor(() => bobUpdates.length >= 3, 5000, "message:updated to bob");
    expect(bobUpdates.every((u) => u.message.starred)).toBe(true);
    expect(aliceUpdates).toEqual([]);

    const page1 = await bob.call<Starred>("GET", "/starred?limit=2");
    expect(page1.body.messages.map((m) => m.id)).toEqual([m2.id, m3.id]);
    const page2 = await bob.call<Starred>("GET", `/starred?limit=2&cursor=${page1.body.next_cursor}`);
    expect(page2.body.messages.map((m) => m.id)).toEqual([m1.id]);
    expect(page2.body.next_cursor).toBeNull();
    expect((await bob.call("GET", "/starred?cursor=nonsense")).status).toBe(400);

    expect((await bob.call("DELETE", `/messages/${m3.id}/star`)).status).toBe(204);
    expect((await t.on(t.nodeA, "s-alice").call("DELETE", `/messages/${m2.id}?for=everyone`)).status).toBe(
      204,
    );
    expect((await bob.call<Starred>("GET", "/starred")).body.messages.map((m) => m.id)).toEqual([m1.id]);

    // Not a member: 404, and stars in a room left are no longer listed.
    expect((await t.on(t.nodeA, "s-carol").call("PUT", `/messages/${m1.id}/star`)).status).toBe(404);
    expect((await bob.call("DELETE", `/rooms/${roomId}/members/s-bob`)).status).toBe(200);
    expect((await bob.call<Starred>("GET", "/starred")).body.messages).toEqual([]);
  });
});

describe("message info (33)", () => {
  it("sender only; delivered, read and pending from the watermarks; later joiners left out", async () => {
    const roomId = await t.group("i-alice", ["i-bob", "i-carol", "i-dan"]);
    const m = await send(roomId, "i-alice", "hello");
    const bob = t.on(t.nodeB, "i-bob");
    expect((await bob.call("POST", `/rooms/${roomId}/read`, { seq: 10 })).status).toBe(204);
    expect(
      (await t.on(t.nodeA, "i-carol").call("POST", `/rooms/${roomId}/delivered`, { seq: 10 })).status,
    ).toBe(204);
    expect(
      (await t.on(t.nodeA, "i-alice").call("POST", `/rooms/${roomId}/members`, { user_ids: ["i-erin"] }))
        .status,
    ).toBe(200);
    const info = await t.on(t.nodeB, "i-alice").call<Info>("GET", `/messages/${m.id}/info`);
    expect(info.status).toBe(200);
    expect(info.body.read.map((r) => r.user_id)).toEqual(["i-bob"]);
    expect(info.body.delivered.map((r) => r.user_id).sort()).toEqual(["i-bob", "i-carol"]);
    expect(info.body.pending).toEqual(["i-dan"]);
    expect(info.body.read[0]?.at).toBeTruthy();
    expect((await bob.call<{ error: { code: string } }>("GET", `/messages/${m.id}/info`)).status).toBe(403);
    expect((await t.on(t.nodeB, "i-zed").call("GET", `/messages/${m.id}/info`)).status).toBe(404);
  });
});
