import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { Socket } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster } from "../helpers/cluster.ts";
import { token } from "../helpers/env.ts";
import { Client } from "../helpers/http.ts";
import { collect, connect, nextEvent, waitFor } from "../helpers/socket.ts";

type Message = {
  id: string;
  seq: number;
  room_id: string;
  client_id: string;
  sender_id: string;
  text: string;
};
type MessageBody = { message: Message };
type History = { messages: Message[]; has_more: boolean };
type RoomBody = { room: { id: string } };

let cluster: Cluster;
let nodeA: string;
let nodeB: string;
const sockets: Socket[] = [];
const open = async (base: string, user: string) => {
  const s = await connect(base, token(user));
  sockets.push(s);
  return s;
};

beforeAll(async () => {
  cluster = await startCluster("two-nodes", { apis: 2, workers: 1 });
  [nodeA, nodeB] = cluster.apis.map((a) => a.base) as [string, string];
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await cluster.stop();
});

async function group(creator: string, members: string[], base = nodeA): Promise<string> {
  const res = await new Client(base, token(creator)).call<RoomBody>("POST", "/rooms", {
    type: "group",
    name: "e2e",
    member_ids: members,
  });
  expect(res.status).toBe(201);
  return res.body.room.id;
}

describe("two API processes", () => {
  it("delivers room:created for a room made on node A to a member's socket on node B", async () => {
    const bob = await open(nodeB, "rc-bob");
    const event = nextEvent<RoomBody>(bob, "room:created");
    const roomId = await group("rc-alice", ["rc-bob"]);
    expect((await event).room.id).toBe(roomId);
  });

  it("broadcasts a REST send on A and a socket send on A to a receiver on B, readable on both at once", async () => {
    const roomId = await group("x-alice", ["x-bob"]);
    const bob = await open(nodeB, "x-bob");
    const alice = await open(nodeA, "x-alice");
    const received = collect<MessageBody>(bob, "message:new");

    const rest = await new Client(nodeA, token("x-alice")).call<MessageBody>(
      "POST",
      `/rooms/${roomId}/messages`,
      {
        client_id: "rest-1",
        type: "text",
        text: "over REST",
      },
    );
    expect(rest.status).toBe(201);
    const ack = await alice.timeout(5000).emitWithAck("message:send", {
      room_id: roomId,
      client_id: "sock-1",
      type: "text",
      text: "over the socket",
    });
    expect(ack).toMatchObject({ ok: true, message: { seq: 2, client_id: "sock-1" } });

    await waitFor(() => received.length === 2, 5000, "two message:new on node B");
    expect(received.map((r) => [r.message.id, r.message.seq])).toEqual([
      [rest.body.message.id, 1],
      [ack.message.id, 2],
    ]);
    // Read-your-writes on both nodes, whether or not the worker has persisted yet.
    for (const base of [nodeA, nodeB]) {
      const h = await new Client(base, token("x-bob")).call<History>("GET", `/rooms/${roomId}/messages`);
      expect(h.body.messages.map((m) => m.seq)).toEqual([1, 2]);
      const one = await new Client(base, token("x-bob")).call<MessageBody>(
        "GET",
        `/messages/${ack.message.id}`,
      );
      expect(one.body.message.text).toBe("over the socket");
    }
    await waitFor(() => cluster.stored(roomId).count === 2, 15_000, "persisted");
    expect(
      (await new Client(nodeB, token("x-stranger")).call("GET", `/messages/${ack.message.id}`)).status,
    ).toBe(404);
  });

  it("turns 20 concurrent sends with one client_id into one message, one seq, one broadcast", async () => {
    const roomId = await group("dup-alice", ["dup-bob"]);
    const bob = await open(nodeB, "dup-bob");
    const alice = await open(nodeA, "dup-alice");
    const received = collect<MessageBody>(bob, "message:new");
    const body = { client_id: "same", type: "text", text: "once" };
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        i % 2
          ? new Client(i % 4 === 1 ? nodeA : nodeB, token("dup-alice")).call<MessageBody>(
              "POST",
              `/rooms/${roomId}/messages`,
              body,
            )
          : alice
              .timeout(5000)
              .emitWithAck("message:send", { ...body, room_id: roomId })
              .then((a: { message: Message }) => ({ status: 0, body: { message: a.message } })),
      ),
    );
    expect(new Set(replies.map((r) => r.body.message.id)).size).toBe(1);
    expect(replies.every((r) => r.body.message.seq === 1)).toBe(true);
    const restStatuses = replies.filter((r) => r.status !== 0).map((r) => r.status);
    expect(restStatuses.filter((s) => s === 201).length).toBeLessThanOrEqual(1);
    expect(restStatuses.every((s) => s === 200 || s === 201)).toBe(true);
    // A marker sent after every reply: Redis delivers publishes in order, so once it arrives any
    // second broadcast of the duplicate would have arrived before it.
    const marker = await new Client(nodeA, token("dup-alice")).call<MessageBody>(
      "POST",
      `/rooms/${roomId}/messages`,
      {
        client_id: "marker",
        type: "text",
        text: "after",
      },
    );
    await waitFor(() => received.some((m) => m.message.id === marker.body.message.id), 5000, "the marker");
    expect(received.filter((m) => m.message.client_id === "same")).toHaveLength(1);
    await waitFor(() => cluster.stored(roomId).count === 2, 15_000, "persisted once, with the marker");
  });

  it("keeps seqs unique and increasing for 5 concurrent senders x 200 messages; every receiver gets all", async () => {
    const senders = ["s0", "s1", "s2", "s3", "s4"];
    const roomId = await group("s0", [...senders.slice(1), "r-a", "r-b"]);
    const receivers = [await open(nodeA, "r-a"), await open(nodeB, "r-b")];
    const got = receivers.map((s) => collect<MessageBody>(s, "message:new"));
    const acks: Message[][] = await Promise.all(
      senders.map(async (sender, i) => {
        const client = new Client(i % 2 ? nodeB : nodeA, token(sender));
        const mine: Message[] = [];
        for (let n = 0; n < 200; n++) {
          const res = await client.call<MessageBody>("POST", `/rooms/${roomId}/messages`, {
            client_id: `${sender}-${n}`,
            type: "text",
            text: `${sender} ${n}`,
          });
          expect(res.status).toBe(201);
          mine.push(res.body.message);
        }
        return mine;
      }),
    );
    for (const mine of acks) {
      for (let n = 1; n < mine.length; n++) expect(mine[n]?.seq).toBeGreaterThan(mine[n - 1]?.seq ?? 0);
    }
    const seqs = acks.flat().map((m) => m.seq);
    expect(new Set(seqs).size).toBe(1000);
    expect(Math.min(...seqs)).toBe(1);
    expect(Math.max(...seqs)).toBe(1000);
    const ids = new Set(acks.flat().map((m) => m.id));
    await waitFor(() => got.every((g) => g.length >= 1000), 10_000, "every broadcast");
    for (const g of got) {
      expect(g).toHaveLength(1000);
      expect(new Set(g.map((e) => e.message.id))).toEqual(ids);
    }
    await waitFor(() => cluster.stored(roomId).count === 1000, 20_000, "all persisted");
    expect(cluster.stored(roomId).ids).toEqual(ids);
  });

  it("pages history across the pending set and the store", async () => {
    const roomId = await group("h-alice", []);
    const alice = new Client(nodeA, token("h-alice"));
    for (let n = 0; n < 7; n++) {
      await alice.call("POST", `/rooms/${roomId}/messages`, {
        client_id: `h${n}`,
        type: "text",
        text: `${n}`,
      });
    }
    const newest = await alice.call<History>("GET", `/rooms/${roomId}/messages?limit=3`);
    expect(newest.body.messages.map((m) => m.seq)).toEqual([5, 6, 7]);
    expect(newest.body.has_more).toBe(true);
    const older = await alice.call<History>("GET", `/rooms/${roomId}/messages?limit=3&before_seq=5`);
    expect(older.body.messages.map((m) => m.seq)).toEqual([2, 3, 4]);
    const start = await alice.call<History>("GET", `/rooms/${roomId}/messages?after_seq=0&limit=5`);
    expect(start.body.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    const tail = await alice.call<History>("GET", `/rooms/${roomId}/messages?after_seq=5&limit=5`);
    expect(tail.body).toMatchObject({ has_more: false });
    expect(tail.body.messages.map((m) => m.seq)).toEqual([6, 7]);
    expect((await alice.call("GET", `/rooms/${roomId}/messages?limit=101`)).status).toBe(400);
    expect((await new Client(nodeB, token("h-eve")).call("GET", `/rooms/${roomId}/messages`)).status).toBe(
      404,
    );
  });

  it("rejects bad sends with 4xx and changes nothing", async () => {
    const roomId = await group("b-alice", ["b-bob"]);
    const alice = new Client(nodeA, token("b-alice"));
    const bad: [unknown, number][] = [
      [{ type: "text", text: "no client id" }, 400],
      [{ client_id: "a", type: "text", text: "" }, 400],
      [{ client_id: "a", type: "text", text: "   " }, 400],
      [{ client_id: "a", type: "text", text: "x".repeat(5001) }, 400],
      [{ client_id: "a", type: "image", text: "x" }, 400],
      [{ client_id: "a", type: "text", text: "x", mentions: ["not-a-member"] }, 400],
      [{ client_id: "a", type: "text", text: "x", reply_to_id: "01JAAAAAAAAAAAAAAAAAAAAAAA" }, 400],
      [{ client_id: "a", type: "text", text: "x", bogus: true }, 400],
    ];
    for (const [body, status] of bad) {
      expect((await alice.call("POST", `/rooms/${roomId}/messages`, body)).status, JSON.stringify(body)).toBe(
        status,
      );
    }
    expect(
      (
        await new Client(nodeA, token("b-eve")).call("POST", `/rooms/${roomId}/messages`, {
          client_id: "e",
          type: "text",
          text: "hi",
        })
      ).status,
    ).toBe(404);
    // 5,000 characters (code points, not UTF-16 units) is the limit, not 5,000 bytes.
    const emoji = await alice.call("POST", `/rooms/${roomId}/messages`, {
      client_id: "limit",
      type: "text",
      text: "😀".repeat(5000),
      mentions: ["b-bob"],
    });
    expect(emoji.status).toBe(201);
    const h = await alice.call<History>("GET", `/rooms/${roomId}/messages`);
    expect(h.body.messages.map((m) => m.seq)).toEqual([1]);
    const sock = await open(nodeA, "b-alice");
    const ack = await sock.timeout(5000).emitWithAck("message:send", { room_id: roomId, type: "text" });
    expect(ack).toMatchObject({ ok: false, error: { code: "invalid_request" } });
  });

  it("rolls back a message the store refuses: message:failed to the room, gone from reads, client_id free again", async () => {
    const roomId = await group("rb-alice", ["rb-bob"]);
    const bob = await open(nodeB, "rb-bob");
    const alice = new Client(nodeA, token("rb-alice"));
    const first = await alice.call<MessageBody>("POST", `/rooms/${roomId}/messages`, {
      client_id: "rb-1",
      type: "text",
      text: "one",
    });
    expect(first.status).toBe(201);
    // Something else already holds seq 2 in the store (as after a restore): the next message cannot be written.
    const db = new DatabaseSync(path.join(cluster.dataDir, "chat.sqlite"), { timeout: 5000 });
    db.prepare(
      `INSERT INTO messages (id, room_id, seq, sender_id, client_id, type, text, mentions, created_at)
       VALUES ('squatter', ?, 2, 'rb-alice', 'squatter', 'text', 'x', '[]', ?)`,
    ).run(roomId, new Date().toISOString());
    db.close();

    const failed = nextEvent<{ message_id: string; room_id: string; client_id: string; reason: string }>(
      bob,
      "message:failed",
      15_000,
    );
    const doomed = await alice.call<MessageBody>("POST", `/rooms/${roomId}/messages`, {
      client_id: "rb-2",
      type: "text",
      text: "two",
    });
    expect(doomed.status).toBe(201);
    expect(doomed.body.message.seq).toBe(2);
    expect(await failed).toEqual({
      message_id: doomed.body.message.id,
      room_id: roomId,
      client_id: "rb-2",
      reason: "rejected_by_store",
    });
    expect((await alice.call("GET", `/messages/${doomed.body.message.id}`)).status).toBe(404);
    const retry = await alice.call<MessageBody>("POST", `/rooms/${roomId}/messages`, {
      client_id: "rb-2",
      type: "text",
      text: "two",
    });
    expect(retry.status).toBe(201);
    expect(retry.body.message.id).not.toBe(doomed.body.message.id);
    expect(retry.body.message.seq).toBe(3);
    await waitFor(() => cluster.stored(roomId).ids.has(retry.body.message.id), 15_000, "retry persisted");
  });
});
