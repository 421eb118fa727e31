import type { Socket } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster } from "../helpers/cluster.ts";
import { token } from "../helpers/env.ts";
import { Client } from "../helpers/http.ts";
import { connect } from "../helpers/socket.ts";

type ErrorBody = { error: { code: string; details?: { retry_after_s?: number } } };

let cluster: Cluster;
let nodeA: string;
let nodeB: string;
const sockets: Socket[] = [];

beforeAll(async () => {
  cluster = await startCluster("rate-limits", {
    apis: 2,
    workers: 1,
    env: {
      SEND_RATE_PER_S: "5",
      MESSAGE_OPS_RATE_PER_S: "3",
      ROOM_CREATES_PER_MIN: "4",
      MEDIA_UPLOADS_PER_MIN: "3",
    },
  });
  [nodeA, nodeB] = cluster.apis.map((a) => a.base) as [string, string];
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await cluster.stop();
});

describe("per-user rate limits shared by every node", () => {
  it("limits sends across two nodes and REST + socket together: 429 with Retry-After, then accepts again", async () => {
    const creator = new Client(nodeA, token("rl-alice"));
    const room = await creator.call<{ room: { id: string } }>("POST", "/rooms", {
      type: "direct",
      member_id: "rl-bob",
    });
    const roomId = room.body.room.id;
    const socket = await connect(nodeB, token("rl-alice"), "polling");
    sockets.push(socket);
    const statuses: number[] = [];
    let limited: { status: number; body: ErrorBody; headers: Headers } | undefined;
    for (let i = 0; i < 12; i++) {
      const base = i % 2 ? nodeA : nodeB;
      const res = await new Client(base, token("rl-alice")).call<ErrorBody>(
        "POST",
        `/rooms/${roomId}/messages`,
        {
          client_id: `r${i}`,
          type: "text",
          text: `m${i}`,
        },
      );
      statuses.push(res.status);
      if (res.status === 429) limited ??= res;
    }
    // 5/s plus a burst of 5: at most 10 of 12 rapid sends pass, whichever node they hit.
    expect(statuses.filter((s) => s === 201).length).toBeLessThanOrEqual(10);
    expect(limited?.body.error.code).toBe("rate_limited");
    expect(Number(limited?.headers.get("retry-after"))).toBeGreaterThan(0);
    const ack = await socket.timeout(5000).emitWithAck("message:send", {
      room_id: roomId,
      client_id: "sock",
      type: "text",
      text: "over the socket",
    });
    expect(ack).toMatchObject({
      ok: false,
      error: { code: "rate_limited", details: { retry_after_s: expect.any(Number) } },
    });
    // Only the accepted ones exist.
    const history = await new Client(nodeA, token("rl-bob")).call<{ messages: unknown[] }>(
      "GET",
      `/rooms/${roomId}/messages`,
    );
    expect(history.body.messages).toHaveLength(statuses.filter((s) => s === 201).length);
    // Another user is not affected.
    const bob = await new Client(nodeB, token("rl-bob")).call("POST", `/rooms/${roomId}/messages`, {
      client_id: "b1",
      type: "text",
      text: "mine",
    });
    expect(bob.status).toBe(201);
  });

  it("limits room creation and message ops too", async () => {
    const carol = new Client(nodeA, token("rl-carol"));
    const created: number[] = [];
    for (let i = 0; i < 6; i++) {
      created.push(
        (await carol.call("POST", "/rooms", { type: "group", name: `g${i}`, member_ids: [] })).status,
      );
    }
    expect(created.slice(0, 4)).toEqual([201, 201, 201, 201]);
    expect(created.slice(4)).toEqual([429, 429]);
    const dave = new Client(nodeB, token("rl-dave"));
    const room = await dave.call<{ room: { id: string } }>("POST", "/rooms", {
      type: "group",
      name: "d",
      member_ids: [],
    });
    const sent = await dave.call<{ message: { id: string } }>(
      "POST",
      `/rooms/${room.body.room.id}/messages`,
      {
        client_id: "d1",
        type: "text",
        text: "x",
      },
    );
    const ops: number[] = [];
    for (let i = 0; i < 5; i++) {
      ops.push(
        (await dave.call("PUT", `/messages/${sent.body.message.id}/reaction`, { emoji: "👍" })).status,
      );
    }
    expect(ops.filter((s) => s === 429).length).toBeGreaterThan(0);
  });

  it("limits upload URLs: each one may fill storage until it expires", async () => {
    const erin = new Client(nodeA, token("rl-erin"));
    const asked: number[] = [];
    for (let i = 0; i < 5; i++) {
      asked.push(
        (
          await erin.call("POST", "/media/upload-url", {
            filename: "a.jpg",
            content_type: "image/jpeg",
            size: 10,
          })
        ).status,
      );
    }
    expect(asked).toEqual([201, 201, 201, 429, 429]);
  });
});
