import { beforeAll, describe, expect, it } from "vitest";
import type { Proc } from "../helpers/processes.ts";
import { startWorkerProcess } from "../helpers/processes.ts";
import { collect, waitFor } from "../helpers/socket.ts";
import { useTwoNodes } from "../helpers/two-nodes.ts";

type Message = { id: string; text: string | null; mentions: string[] };
type PushLine = {
  push: {
    user_id: string;
    device_id: string;
    type: string;
    room_id: string;
    message_id?: string;
    silent: boolean;
  };
};

const t = useTwoNodes("notify", { workers: 1 });
let notify: Proc;
beforeAll(() => {
  notify = startWorkerProcess({ ...t.cluster.env, LOG_LEVEL: "info" }, "notify");
  t.cluster.workers.push(notify);
});

/** The pushes the `log` provider recorded in the notify pool's output. */
const pushes = (): PushLine["push"][] =>
  notify
    .output()
    .split("\n")
    .filter((l) => l.includes('"msg":"push"'))
    .map((l) => (JSON.parse(l) as PushLine).push);

describe("push notifications through the notify pool (log provider)", () => {
  it("offline members get a push after persistence, online ones and the sender do not; a mention beats mute and reaches mention:new; a read clears", async () => {
    const roomId = await t.group("n-alice", ["n-bob", "n-carol", "n-dan"]);
    for (const [user, device] of [
      ["n-alice", "a-phone"],
      ["n-bob", "b-phone"],
      ["n-carol", "c-phone"],
      ["n-dan", "d-phone"],
    ] as const) {
      const res = await t
        .on(t.nodeA, user)
        .call("POST", "/devices", { device_id: device, platform: "android", push_token: `tok-${device}` });
      expect(res.status).toBe(201);
    }
    // Carol is online; dan mutes the room.
    const carol = await t.open(t.nodeB, "n-carol");
    const mentions = collect<{ message: Message }>(carol, "mention:new");
    const until = new Date(Date.now() + 3_600_000).toISOString();
    expect(
      (await t.on(t.nodeA, "n-dan").call("PUT", `/rooms/${roomId}/settings`, { muted_until: until })).status,
    ).toBe(200);

    const plain = await t
      .on(t.nodeA, "n-alice")
      .call<{ message: Message }>("POST", `/rooms/${roomId}/messages`, {
        client_id: "p1",
        type: "text",
        text: "secret words",
      });
    await waitFor(
      () => pushes().some((p) => p.message_id === plain.body.message.id),
      15_000,
      "the push for bob",
    );
    const forPlain = pushes().filter((p) => p.message_id === plain.body.message.id);
    expect(forPlain.map((p) => p.user_id)).toEqual(["n-bob"]);
    expect(notify.output()).not.toContain("secret words");
    expect(notify.output()).not.toContain("tok-b-phone");

    const mention = await t
      .on(t.nodeA, "n-alice")
      .call<{ message: Message }>("POST", `/rooms/${roomId}/messages`, {
        client_id: "p2",
        type: "text",
        text: "hey dan and carol",
        mentions: ["n-dan", "n-carol"],
      });
    await waitFor(() => mentions.length === 1, 5000, "mention:new on carol's socket");
    expect(mentions[0]?.message.id).toBe(mention.body.message.id);
    await waitFor(
      () => pushes().filter((p) => p.message_id === mention.body.message.id).length === 2,
      15_000,
      "pushes for the mention",
    );
    const forMention = pushes().filter((p) => p.message_id === mention.body.message.id);
    // Dan muted the room, but he is mentioned; carol is online.
    expect(forMention.map((p) => `${p.user_id}:${p.type}`).sort()).toEqual([
      "n-bob:message",
      "n-dan:mention",
    ]);

    // Bob reads on one device: a silent push clears the room on his devices.
    expect((await t.on(t.nodeB, "n-bob").call("POST", `/rooms/${roomId}/read`, { seq: 2 })).status).toBe(204);
    await waitFor(
      () => pushes().some((p) => p.type === "clear" && p.user_id === "n-bob"),
      15_000,
      "the clear push",
    );
    expect(pushes().find((p) => p.type === "clear")).toMatchObject({
      silent: true,
      room_id: roomId,
      device_id: "b-phone",
    });
  });
});

describe("mentions", () => {
  it("are capped per message (MESSAGE_MAX_MENTIONS) and must be members", async () => {
    const members = Array.from({ length: 51 }, (_, i) => `mm-${i}`);
    const roomId = await t.group("mm-owner", members);
    const owner = t.on(t.nodeA, "mm-owner");
    const tooMany = await owner.call<{ error: { details: { max_mentions: number } } }>(
      "POST",
      `/rooms/${roomId}/messages`,
      {
        client_id: "mm-1",
        type: "text",
        text: "all of you",
        mentions: members,
      },
    );
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.details.max_mentions).toBe(50);
    const outsider = await owner.call("POST", `/rooms/${roomId}/messages`, {
      client_id: "mm-2",
      type: "text",
      text: "who?",
      mentions: ["nobody-here"],
    });
    expect(outsider.status).toBe(400);
    const fifty = await owner.call("POST", `/rooms/${roomId}/messages`, {
      client_id: "mm-3",
      type: "text",
      text: "fifty",
      mentions: members.slice(0, 50),
    });
    expect(fifty.status).toBe(201);
  });
});
