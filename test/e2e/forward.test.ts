import { beforeAll, describe, expect, it } from "vitest";
import { jpeg } from "../helpers/media-files.ts";
import { type Proc, startWorkerProcess } from "../helpers/processes.ts";
import { collect, waitFor } from "../helpers/socket.ts";
import { useTwoNodes } from "../helpers/two-nodes.ts";

type Forwarded = {
  original_message_id: string;
  original_sender_id: string;
  forward_count: number;
  many_times: boolean;
};
type Message = {
  id: string;
  room_id: string;
  sender_id: string;
  type: string;
  text: string | null;
  media: { id: string } | null;
  forwarded: Forwarded | null;
};
type MessageBody = { message: Message };
type ErrorBody = { error: { code: string; message: string } };

const t = useTwoNodes("forward", { workers: 1 });
let fanout: Proc;
beforeAll(() => {
  fanout = startWorkerProcess({ ...t.cluster.env, PUBLIC_URL: t.nodeA }, "fanout");
  t.cluster.workers.push(fanout);
});

async function send(roomId: string, user: string, text: string): Promise<Message> {
  const res = await t.on(t.nodeA, user).call<MessageBody>("POST", `/rooms/${roomId}/messages`, {
    client_id: `c-${Math.random().toString(36).slice(2)}`,
    type: "text",
    text,
  });
  expect(res.status).toBe(201);
  return res.body.message;
}

describe("forward (30) through the fanout pool", () => {
  it("copies arrive as message:new in each target room with provenance, the source's current text, as normal messages", async () => {
    const source = await t.group("f-bob", ["f-alice"]);
    const b = await t.group("f-alice", ["f-carol"]);
    const c = await t.group("f-alice", ["f-dan"]);
    const original = await send(source, "f-bob", "draft");
    expect(
      (await t.on(t.nodeA, "f-bob").call("PATCH", `/messages/${original.id}`, { text: "hello world" }))
        .status,
    ).toBe(200);
    const carol = await t.open(t.nodeB, "f-carol");
    const dan = await t.open(t.nodeA, "f-dan", "polling");
    const toCarol = collect<MessageBody>(carol, "message:new");
    const toDan = collect<MessageBody>(dan, "message:new");
    const res = await t
      .on(t.nodeB, "f-alice")
      .call<{ forward_id: string; room_ids: string[] }>("POST", `/messages/${original.id}/forward`, {
        room_ids: [b, c, b],
      });
    expect(res.status).toBe(202);
    expect(res.body.room_ids).toEqual([b, c]);
    await waitFor(() => toCarol.length === 1 && toDan.length === 1, 15_000, "copies delivered");
    const copy = toCarol[0]?.message as Message;
    expect(copy).toMatchObject({
      room_id: b,
      sender_id: "f-alice",
      type: "text",
      text: "hello world",
      forwarded: {
        original_message_id: original.id,
        original_sender_id: "f-bob",
        forward_count: 1,
        many_times: false,
      },
    });
    // A normal message: in history, persisted, and forwardable again (hops count up).
    await waitFor(() => t.cluster.stored(b).ids.has(copy.id), 15_000, "the copy is stored");
    const again = await t
      .on(t.nodeA, "f-carol")
      .call("POST", `/messages/${copy.id}/forward`, { room_ids: [b] });
    expect(again.status).toBe(202);
    await waitFor(() => toCarol.length === 2, 15_000, "second hop");
    expect(toCarol[1]?.message.forwarded).toEqual({
      original_message_id: original.id,
      original_sender_id: "f-bob",
      forward_count: 2,
      many_times: false,
    });
  });

  it("limits: 5 targets, 1 once forwarded many times; membership of source and targets; no tombstones or system messages", async () => {
    const alice = t.on(t.nodeA, "l-alice");
    const rooms: string[] = [];
    for (let i = 0; i < 6; i++) rooms.push(await t.group("l-alice", ["l-bob"]));
    const m = await send(rooms[0] ?? "", "l-alice", "chain");
    expect(
      (await alice.call<ErrorBody>("POST", `/messages/${m.id}/forward`, { room_ids: rooms })).status,
    ).toBe(400);
    expect((await alice.call("POST", `/messages/${m.id}/forward`, { room_ids: [] })).status).toBe(400);
    const outsiderRoom = await t.group("l-zed", ["l-yan"]);
    expect(
      (await alice.call("POST", `/messages/${m.id}/forward`, { room_ids: [rooms[1], outsiderRoom] })).status,
    ).toBe(404);
    expect(
      (await t.on(t.nodeA, "l-zed").call("POST", `/messages/${m.id}/forward`, { room_ids: [outsiderRoom] }))
        .status,
    ).toBe(404);
    expect((await alice.call("POST", `/rooms/${rooms[0]}/members`, { user_ids: ["l-cat"] })).status).toBe(
      200,
    );
    const history = await alice.call<{ messages: Message[] }>("GET", `/rooms/${rooms[0]}/messages`);
    const system = history.body.messages.find((x) => x.type === "system");
    expect(system).toBeDefined();
    expect(
      (await alice.call("POST", `/messages/${system?.id}/forward`, { room_ids: [rooms[1]] })).status,
    ).toBe(400);
    const gone = await send(rooms[0] ?? "", "l-alice", "gone");
    await alice.call("DELETE", `/messages/${gone.id}?for=everyone`);
    expect((await alice.call("POST", `/messages/${gone.id}/forward`, { room_ids: [rooms[1]] })).status).toBe(
      403,
    );

    // Five hops make it "forwarded many times": then one chat at a time.
    const socket = await t.open(t.nodeA, "l-bob");
    const news = collect<MessageBody>(socket, "message:new");
    let current = m;
    for (let hop = 1; hop <= 5; hop++) {
      const target = rooms[hop] ?? "";
      expect(
        (await alice.call("POST", `/messages/${current.id}/forward`, { room_ids: [target] })).status,
      ).toBe(202);
      await waitFor(() => news.some((n) => n.message.forwarded?.forward_count === hop), 15_000, `hop ${hop}`);
      current = news.find((n) => n.message.forwarded?.forward_count === hop)?.message as Message;
    }
    expect(current.forwarded).toMatchObject({
      forward_count: 5,
      many_times: true,
      original_message_id: m.id,
    });
    const two = await alice.call<ErrorBody>("POST", `/messages/${current.id}/forward`, {
      room_ids: [rooms[0], rooms[1]],
    });
    expect(two.status).toBe(400);
    expect(two.body.error.message).toMatch(/one chat/);
    expect(
      (await alice.call("POST", `/messages/${current.id}/forward`, { room_ids: [rooms[0]] })).status,
    ).toBe(202);
  });

  it("copies take the source as it is when they are made: an edit since shows, a delete since means no copy", async () => {
    const source = await t.group("q-bob", ["q-alice"]);
    const target = await t.group("q-alice", ["q-carol"]);
    const edited = await send(source, "q-bob", "first words");
    const deleted = await send(source, "q-bob", "oops wrong chat");
    const carol = await t.open(t.nodeB, "q-carol");
    const news = collect<MessageBody>(carol, "message:new");
    // The fanout pool is held while the source changes under the queued forwards.
    fanout.child.kill("SIGSTOP");
    try {
      const alice = t.on(t.nodeA, "q-alice");
      expect(
        (await alice.call("POST", `/messages/${edited.id}/forward`, { room_ids: [target] })).status,
      ).toBe(202);
      expect(
        (await alice.call("POST", `/messages/${deleted.id}/forward`, { room_ids: [target] })).status,
      ).toBe(202);
      const bob = t.on(t.nodeA, "q-bob");
      expect((await bob.call("PATCH", `/messages/${edited.id}`, { text: "better words" })).status).toBe(200);
      expect((await bob.call("DELETE", `/messages/${deleted.id}?for=everyone`)).status).toBe(204);
    } finally {
      fanout.child.kill("SIGCONT");
    }
    await waitFor(() => news.length === 1, 15_000, "the one copy");
    await new Promise((r) => setTimeout(r, 500));
    expect(news.map((n) => n.message.text)).toEqual(["better words"]);
    const history = await t
      .on(t.nodeA, "q-carol")
      .call<{ messages: Message[] }>("GET", `/rooms/${target}/messages`);
    expect(history.body.messages.some((m) => m.text === "oops wrong chat")).toBe(false);
  });

  it("a media message is forwarded with its media reused, visible to the target room's members", async () => {
    const alice = t.on(t.nodeA, "p-alice");
    const photo = await jpeg(64, 64);
    const up = await alice.call<{ upload_id: string; url: string; headers: Record<string, string> }>(
      "POST",
      "/media/upload-url",
      { filename: "p.jpg", content_type: "image/jpeg", size: photo.length },
    );
    await fetch(up.body.url, { method: "PUT", headers: up.body.headers, body: photo });
    await alice.call("POST", "/media/confirm", { upload_id: up.body.upload_id });
    const from = await t.group("p-alice", ["p-bob"]);
    const to = await t.group("p-bob", ["p-carol"]);
    const sent = await alice.call<MessageBody>("POST", `/rooms/${from}/messages`, {
      client_id: "p1",
      type: "image",
      media_id: up.body.upload_id,
      text: "look",
    });
    expect((await t.on(t.nodeA, "p-carol").call("GET", `/media/${up.body.upload_id}`)).status).toBe(404);
    const carol = await t.open(t.nodeB, "p-carol");
    const news = collect<MessageBody>(carol, "message:new");
    expect(
      (
        await t
          .on(t.nodeB, "p-bob")
          .call("POST", `/messages/${sent.body.message.id}/forward`, { room_ids: [to] })
      ).status,
    ).toBe(202);
    await waitFor(() => news.length === 1, 15_000, "the copy");
    expect(news[0]?.message).toMatchObject({ type: "image", text: "look", media: { id: up.body.upload_id } });
    expect((await t.on(t.nodeA, "p-carol").call("GET", `/media/${up.body.upload_id}`)).status).toBe(200);
  });
});
