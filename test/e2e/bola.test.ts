import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster } from "../helpers/cluster.ts";
import { token } from "../helpers/env.ts";
import { Client } from "../helpers/http.ts";
import { connect } from "../helpers/socket.ts";

type Room = {
  id: string;
  name: string;
  members_count: number;
  members?: { user_id: string; role: string }[];
};
type Message = { id: string; text: string | null; deleted: boolean; reactions: Record<string, number> };

let cluster: Cluster;
let base: string;
let roomId: string;
let messageId: string;
const on = (user: string) => new Client(base, token(user));

beforeAll(async () => {
  cluster = await startCluster("bola", { apis: 1, workers: 1 });
  base = cluster.apis[0]?.base ?? "";
  const room = await on("z-alice").call<{ room: Room }>("POST", "/rooms", {
    type: "group",
    name: "kept",
    member_ids: ["z-bob"],
  });
  roomId = room.body.room.id;
  const sent = await on("z-alice").call<{ message: Message }>("POST", `/rooms/${roomId}/messages`, {
    client_id: "z1",
    type: "text",
    text: "original",
  });
  messageId = sent.body.message.id;
});
afterAll(async () => {
  await cluster.stop();
});

/** Every REST call of the chat API that names a room or a message, with a body that would be valid. */
const calls = (): [string, string, unknown][] => [
  ["GET", `/rooms/${roomId}`, undefined],
  ["PATCH", `/rooms/${roomId}`, { name: "pwned" }],
  ["POST", `/rooms/${roomId}/members`, { user_ids: ["z-eve"] }],
  ["DELETE", `/rooms/${roomId}/members/z-alice`, undefined],
  ["PATCH", `/rooms/${roomId}/members/z-alice`, { role: "member" }],
  ["PUT", `/rooms/${roomId}/settings`, { pinned: true }],
  ["POST", `/rooms/${roomId}/messages`, { client_id: "z-x", type: "text", text: "x" }],
  ["GET", `/rooms/${roomId}/messages`, undefined],
  ["POST", `/rooms/${roomId}/read`, { seq: 1 }],
  ["POST", `/rooms/${roomId}/delivered`, { seq: 1 }],
  ["GET", `/messages/${messageId}`, undefined],
  ["PATCH", `/messages/${messageId}`, { text: "pwned" }],
  ["DELETE", `/messages/${messageId}?for=everyone`, undefined],
  ["DELETE", `/messages/${messageId}?for=me`, undefined],
  ["PUT", `/messages/${messageId}/reaction`, { emoji: "👎" }],
  ["DELETE", `/messages/${messageId}/reaction`, undefined],
  ["GET", `/search/messages?q=original&room_id=${roomId}`, undefined],
  ["GET", "/users/z-alice/presence", undefined],
];

describe("BOLA: another room's and message's ids", () => {
  it("a non-member gets 404 for every call, and nothing changes", async () => {
    for (const [method, path, body] of calls()) {
      const res = await on("z-mallory").call(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(404);
    }
    const socket = await connect(base, token("z-mallory"), "polling");
    for (const [event, payload] of [
      ["message:send", { room_id: roomId, client_id: "z-s", type: "text", text: "x" }],
      ["message:read", { room_id: roomId, seq: 1 }],
      ["message:delivered", { room_id: roomId, seq: 1 }],
      ["typing:start", { room_id: roomId }],
      ["typing:stop", { room_id: roomId }],
    ] as const) {
      const ack = await socket.timeout(3000).emitWithAck(event, payload);
      expect(ack, event).toMatchObject({ ok: false, error: { code: "not_found" } });
    }
    socket.close();
    await expectUnchanged();
  });

  it("a member who is neither sender nor admin gets 403 for what only they may do, and nothing changes", async () => {
    const forbidden: [string, string, unknown][] = [
      ["PATCH", `/rooms/${roomId}`, { name: "pwned" }],
      ["POST", `/rooms/${roomId}/members`, { user_ids: ["z-eve"] }],
      ["DELETE", `/rooms/${roomId}/members/z-alice`, undefined],
      ["PATCH", `/rooms/${roomId}/members/z-alice`, { role: "member" }],
      ["PATCH", `/rooms/${roomId}/members/z-bob`, { role: "admin" }],
      ["PATCH", `/messages/${messageId}`, { text: "pwned" }],
      ["DELETE", `/messages/${messageId}?for=everyone`, undefined],
    ];
    for (const [method, path, body] of forbidden) {
      const res = await on("z-bob").call(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(403);
    }
    await expectUnchanged();
  });
});

async function expectUnchanged(): Promise<void> {
  const room = await on("z-alice").call<{ room: Room }>("GET", `/rooms/${roomId}`);
  expect(room.body.room.name).toBe("kept");
  expect(room.body.room.members?.map((m) => [m.user_id, m.role])).toEqual([
    ["z-alice", "admin"],
    ["z-bob", "member"],
  ]);
  const message = await on("z-alice").call<{ message: Message }>("GET", `/messages/${messageId}`);
  expect(message.body.message).toMatchObject({ text: "original", deleted: false, reactions: {} });
  const history = await on("z-alice").call<{ messages: Message[] }>("GET", `/rooms/${roomId}/messages`);
  expect(history.body.messages).toHaveLength(1);
}
