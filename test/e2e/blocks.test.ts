import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Keys } from "../../src/redis/redis.ts";
import { REDIS_URL, token } from "../helpers/env.ts";
import { connect } from "../helpers/socket.ts";
import { useTwoNodes } from "../helpers/two-nodes.ts";

const t = useTwoNodes("blocks", { workers: 1 });
const redis = new Redis(REDIS_URL);
const { on } = t;
let nodeA = "";
let nodeB = "";
beforeAll(() => {
  ({ nodeA, nodeB } = t);
});
afterAll(() => redis.disconnect());

const send = (base: string, user: string, roomId: string, clientId: string) =>
  on(base, user).call<{ error?: { code: string } }>("POST", `/rooms/${roomId}/messages`, {
    client_id: clientId,
    type: "text",
    text: clientId,
  });

describe("blocks", () => {
  it("stops both users sending in their direct room on every node, keeps history readable, and lifts cleanly", async () => {
    const room = await on(nodeA, "k-alice").call<{ room: { id: string } }>("POST", "/rooms", {
      type: "direct",
      member_id: "k-bob",
    });
    const roomId = room.body.room.id;
    expect((await send(nodeA, "k-alice", roomId, "before")).status).toBe(201);
    expect((await on(nodeB, "k-bob").call("POST", "/users/k-alice/block")).status).toBe(204);
    expect((await on(nodeB, "k-bob").call("POST", "/users/k-alice/block")).status).toBe(204); // idempotent
    const refused = await send(nodeA, "k-alice", roomId, "blocked-1");
    expect(refused.status).toBe(403);
    expect(refused.body.error?.code).toBe("forbidden");
    expect((await send(nodeB, "k-bob", roomId, "blocked-2")).status).toBe(403);
    const socket = await connect(nodeB, token("k-alice"));
    const ack = await socket
      .timeout(3000)
      .emitWithAck("message:send", { room_id: roomId, client_id: "s", type: "text", text: "s" });
    expect(ack).toMatchObject({ ok: false, error: { code: "forbidden" } });
    expect(await socket.timeout(3000).emitWithAck("typing:start", { room_id: roomId })).toMatchObject({
      ok: false,
      error: { code: "forbidden" },
    });
    socket.close();
    // The block lives in the store: a lost membership cache comes back with it.
    await redis.del(new Keys(t.cluster.prefix).members(roomId));
    expect((await send(nodeA, "k-alice", roomId, "blocked-3")).status).toBe(403);
    const history = await on(nodeA, "k-alice").call<{ messages: { client_id: string }[] }>(
      "GET",
      `/rooms/${roomId}/messages`,
    );
    expect(history.body.messages.map((m) => m.client_id)).toEqual(["before"]);

    expect((await on(nodeA, "k-bob").call("DELETE", "/users/k-alice/block")).status).toBe(204);
    expect((await send(nodeB, "k-alice", roomId, "after")).status).toBe(201);
  });

  it("keeps the blocked user from opening a direct room with, or adding, the blocker; not the other way round", async () => {
    expect((await on(nodeA, "m-bob").call("POST", "/users/m-alice/block")).status).toBe(204);
    expect(
      (await on(nodeA, "m-alice").call("POST", "/rooms", { type: "direct", member_id: "m-bob" })).status,
    ).toBe(403);
    expect(
      (
        await on(nodeA, "m-alice").call("POST", "/rooms", {
          type: "group",
          name: "g",
          member_ids: ["m-bob", "m-carol"],
        })
      ).status,
    ).toBe(403);
    const group = await on(nodeA, "m-alice").call<{ room: { id: string } }>("POST", "/rooms", {
      type: "group",
      name: "g",
      member_ids: ["m-carol"],
    });
    expect(
      (
        await on(nodeB, "m-alice").call("POST", `/rooms/${group.body.room.id}/members`, {
          user_ids: ["m-bob"],
        })
      ).status,
    ).toBe(403);
    // The blocker may still open the room; neither can send in it while the block stands.
    const opened = await on(nodeA, "m-bob").call<{ room: { id: string } }>("POST", "/rooms", {
      type: "direct",
      member_id: "m-alice",
    });
    expect(opened.status).toBe(201);
    expect((await send(nodeA, "m-bob", opened.body.room.id, "x")).status).toBe(403);
    expect((await on(nodeA, "m-bob").call("POST", "/users/m-bob/block")).status).toBe(400);
    expect((await on(nodeA, "m-bob").call("POST", "/users/bad|id/block")).status).toBe(400);
  });
});
