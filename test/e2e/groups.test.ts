import { beforeAll, describe, expect, it } from "vitest";
import { collect, nextEvent, waitFor } from "../helpers/socket.ts";
import { useTwoNodes } from "../helpers/two-nodes.ts";

type Member = { user_id: string; role: string };
type Room = {
  id: string;
  name: string;
  description: string | null;
  members_count: number;
  members?: Member[];
};
type Message = {
  id: string;
  seq: number;
  type: string;
  client_id: string;
  system: { event: string; user_ids?: string[]; role?: string } | null;
};

const t = useTwoNodes("groups", { workers: 1, env: { GROUP_MAX_MEMBERS: "4" } });
const { on, open } = t;
let nodeA = "";
let nodeB = "";
beforeAll(() => {
  ({ nodeA, nodeB } = t);
});

const { group } = t;
const history = async (user: string, roomId: string) =>
  (
    await on(nodeA, user).call<{ messages: Message[] }>(
      "GET",
      `/rooms/${roomId}/messages?after_seq=0&limit=100`,
    )
  ).body.messages;
const send = (base: string, user: string, roomId: string, clientId: string) =>
  on(base, user).call<{ message: Message }>("POST", `/rooms/${roomId}/messages`, {
    client_id: clientId,
    type: "text",
    text: clientId,
  });

describe("group administration", () => {
  it("lets admins rename and describe, tells the room, and writes the story into history", async () => {
    const roomId = await group("g1-alice", ["g1-bob"]);
    const bob = await open(nodeB, "g1-bob");
    const updated = nextEvent<{ room: Room }>(bob, "room:updated");
    const res = await on(nodeA, "g1-alice").call<{ room: Room }>("PATCH", `/rooms/${roomId}`, {
      name: "renamed",
      description: "about",
    });
    expect(res.status).toBe(200);
    expect(res.body.room).toMatchObject({ name: "renamed", description: "about" });
    expect((await updated).room.name).toBe("renamed");
    const story = (await history("g1-bob", roomId)).filter((m) => m.type === "system");
    expect(story.map((m) => m.system)).toEqual([
      { event: "room_updated", actor_id: "g1-alice", fields: ["name", "description"] },
    ]);
    // A member is not an admin; a stranger sees nothing; bad input changes nothing.
    expect((await on(nodeB, "g1-bob").call("PATCH", `/rooms/${roomId}`, { name: "mine" })).status).toBe(403);
    expect((await on(nodeB, "g1-eve").call("PATCH", `/rooms/${roomId}`, { name: "eve's" })).status).toBe(404);
    expect((await on(nodeA, "g1-alice").call("PATCH", `/rooms/${roomId}`, {})).status).toBe(400);
    expect((await on(nodeA, "g1-alice").call("PATCH", `/rooms/${roomId}`, { name: "  " })).status).toBe(400);
    expect((await on(nodeA, "g1-alice").call<{ room: Room }>("GET", `/rooms/${roomId}`)).body.room.name).toBe(
      "renamed",
    );
    // Unread never counts system messages.
    expect((await on(nodeB, "g1-bob").call<{ total: number }>("GET", "/unread")).body.total).toBe(0);
  });

  it("adds members (admins only, within the cap); they receive from the announcing message on and read all history", async () => {
    const roomId = await group("g2-alice", ["g2-bob"]);
    await send(nodeA, "g2-alice", roomId, "before");
    const carol = await open(nodeB, "g2-carol");
    const carolGets = collect<{ message: Message }>(carol, "message:new");
    const added = nextEvent<{ room_id: string; user_ids: string[] }>(carol, "room:member_added");
    expect(
      (await on(nodeB, "g2-bob").call("POST", `/rooms/${roomId}/members`, { user_ids: ["g2-carol"] })).status,
    ).toBe(403);
    const res = await on(nodeA, "g2-alice").call<{ room: Room }>("POST", `/rooms/${roomId}/members`, {
      user_ids: ["g2-carol", "g2-bob"],
    });
    expect(res.status).toBe(200);
    expect(res.body.room.members_count).toBe(3);
    expect(await added).toEqual({ room_id: roomId, user_ids: ["g2-carol"] });
    await send(nodeA, "g2-alice", roomId, "after");
    await waitFor(() => carolGets.some((m) => m.message.client_id === "after"), 5000, "carol receives");
    expect(carolGets[0]?.message.system).toEqual({
      event: "members_added",
      actor_id: "g2-alice",
      user_ids: ["g2-carol"],
    });
    expect((await history("g2-carol", roomId)).map((m) => m.client_id)).toContain("before");
    // What was said before joining is readable, not unread.
    expect(
      (await on(nodeB, "g2-carol").call<{ rooms: Record<string, number> }>("GET", "/unread")).body.rooms[
        roomId
      ],
    ).toBe(1);
    // The cap (4 here) holds, and a refused add changes nothing.
    const tooMany = await on(nodeA, "g2-alice").call("POST", `/rooms/${roomId}/members`, {
      user_ids: ["g2-d", "g2-e"],
    });
    expect(tooMany.status).toBe(400);
    expect(
      (await on(nodeA, "g2-alice").call<{ room: Room }>("GET", `/rooms/${roomId}`)).body.room.members_count,
    ).toBe(3);
    expect(
      (await on(nodeA, "g2-alice").call("POST", `/rooms/${roomId}/members`, { user_ids: [] })).status,
    ).toBe(400);
  });

  it("removes a member across nodes: nothing sent after the removal reaches them, even a send racing it", async () => {
    const roomId = await group("g3-alice", ["g3-bob", "g3-carol"]);
    const bobA = await open(nodeA, "g3-bob");
    const bobB = await open(nodeB, "g3-bob");
    const gotA = collect<{ message: Message }>(bobA, "message:new");
    const gotB = collect<{ message: Message }>(bobB, "message:new");
    const removedEvent = nextEvent<{ room_id: string; user_ids: string[] }>(bobB, "room:member_removed");
    // Carol keeps sending from both nodes while Alice removes Bob.
    let racing = true;
    let i = 0;
    const sender = (async () => {
      while (racing) await send(i % 2 ? nodeA : nodeB, "g3-carol", roomId, `race-${i++}`);
    })();
    await new Promise((r) => setTimeout(r, 50));
    const removal = await on(nodeB, "g3-alice").call("DELETE", `/rooms/${roomId}/members/g3-bob`);
    expect(removal.status).toBe(200);
    await new Promise((r) => setTimeout(r, 100));
    racing = false;
    await sender;
    expect(await removedEvent).toEqual({ room_id: roomId, user_ids: ["g3-bob"] });
    const marker = await send(nodeA, "g3-carol", roomId, "marker");
    const all = await history("g3-carol", roomId);
    const removalSeq = all.find((m) => m.system?.event === "members_removed")?.seq ?? 0;
    expect(removalSeq).toBeGreaterThan(0);
    // Let any stray delivery arrive: the marker reaches Carol's own socket, after everything before it.
    const carol = await open(nodeB, "g3-carol");
    const late = nextEvent<{ message: Message }>(carol, "message:new");
    await send(nodeB, "g3-carol", roomId, "last");
    await late;
    for (const got of [gotA, gotB]) {
      expect(got.every((m) => m.message.seq < removalSeq)).toBe(true);
      expect(got.some((m) => m.message.id === marker.body.message.id)).toBe(false);
    }
    expect(i).toBeGreaterThan(2);
    expect((await on(nodeA, "g3-bob").call("GET", `/rooms/${roomId}`)).status).toBe(404);
    expect((await send(nodeA, "g3-bob", roomId, "let-me-in")).status).toBe(404);
  });

  it("makes the longest-standing member admin when the last admin leaves; roles change by admins only", async () => {
    const roomId = await group("g4-alice", ["g4-bob", "g4-carol"]);
    expect(
      (await on(nodeA, "g4-bob").call("PATCH", `/rooms/${roomId}/members/g4-carol`, { role: "admin" }))
        .status,
    ).toBe(403);
    expect(
      (await on(nodeA, "g4-alice").call("PATCH", `/rooms/${roomId}/members/g4-alice`, { role: "member" }))
        .status,
    ).toBe(400);
    const left = await on(nodeA, "g4-alice").call<{ room: Room }>(
      "DELETE",
      `/rooms/${roomId}/members/g4-alice`,
    );
    expect(left.status).toBe(200);
    const room = await on(nodeB, "g4-bob").call<{ room: Room }>("GET", `/rooms/${roomId}`);
    const roles = Object.fromEntries((room.body.room.members ?? []).map((m) => [m.user_id, m.role]));
    expect(roles).toEqual({ "g4-bob": "admin", "g4-carol": "member" });
    const story = (await history("g4-bob", roomId))
      .filter((m) => m.type === "system")
      .map((m) => m.system?.event);
    expect(story).toEqual(["members_removed", "role_changed"]);
    const promoted = await on(nodeB, "g4-bob").call<{ room: Room }>(
      "PATCH",
      `/rooms/${roomId}/members/g4-carol`,
      { role: "admin" },
    );
    expect(promoted.status).toBe(200);
    expect(promoted.body.room.members?.find((m) => m.user_id === "g4-carol")?.role).toBe("admin");
    expect(
      (await on(nodeB, "g4-bob").call("PATCH", `/rooms/${roomId}/members/g4-nobody`, { role: "admin" }))
        .status,
    ).toBe(404);
    expect(
      (await on(nodeB, "g4-bob").call("PATCH", `/rooms/${roomId}/members/g4-carol`, { role: "owner" }))
        .status,
    ).toBe(400);
    // A member who is not an admin may not remove others, but may leave.
    expect((await on(nodeA, "g4-x").call("DELETE", `/rooms/${roomId}/members/g4-bob`)).status).toBe(404);
  });

  it("keeps sockets and the store in step when an add races a removal of the same user, and a demotion races an admin's act", async () => {
    const roomId = await group("g6-alice", ["g6-dave"]);
    expect(
      (await on(nodeA, "g6-alice").call("PATCH", `/rooms/${roomId}/members/g6-dave`, { role: "admin" }))
        .status,
    ).toBe(200);
    const x = await open(nodeB, "g6-x");
    const xOther = await open(nodeA, "g6-x");
    const got = collect<{ message: Message }>(x, "message:new");
    const gotOther = collect<{ message: Message }>(xOther, "message:new");
    for (let round = 0; round < 8; round++) {
      await Promise.all([
        on(nodeA, "g6-alice").call("POST", `/rooms/${roomId}/members`, { user_ids: ["g6-x"] }),
        on(nodeB, "g6-dave").call("DELETE", `/rooms/${roomId}/members/g6-x`),
      ]);
      const member = (await on(nodeA, "g6-x").call("GET", `/rooms/${roomId}`)).status === 200;
      got.length = 0;
      gotOther.length = 0;
      const marker = await send(round % 2 ? nodeA : nodeB, "g6-alice", roomId, `m${round}`);
      // Alice's own socket proves the marker went out; X's sockets must match the store.
      await new Promise((r) => setTimeout(r, 150));
      for (const list of [got, gotOther]) {
        expect(
          list.some((m) => m.message.id === marker.body.message.id),
          `round ${round}, member ${member}`,
        ).toBe(member);
      }
      if (member) await on(nodeA, "g6-alice").call("DELETE", `/rooms/${roomId}/members/g6-x`);
    }
    // A demotion and the demoted admin's removal of someone, at once: never both take effect out of order.
    await on(nodeA, "g6-alice").call("POST", `/rooms/${roomId}/members`, { user_ids: ["g6-r"] });
    const [demote, remove] = await Promise.all([
      on(nodeA, "g6-alice").call("PATCH", `/rooms/${roomId}/members/g6-dave`, { role: "member" }),
      on(nodeB, "g6-dave").call("DELETE", `/rooms/${roomId}/members/g6-r`),
    ]);
    expect(demote.status).toBe(200);
    const story = (await history("g6-alice", roomId))
      .filter((m) => m.type === "system")
      .map((m) => m.system?.event);
    if (remove.status === 200) {
      // The removal ran first, while Dave was still an admin.
      expect(story.slice(-2)).toEqual(["members_removed", "role_changed"]);
    } else {
      expect(remove.status).toBe(403);
      expect(story.at(-1)).toBe("role_changed");
    }
  });

  it("has no administration in a direct room", async () => {
    const res = await on(nodeA, "g5-alice").call<{ room: Room }>("POST", "/rooms", {
      type: "direct",
      member_id: "g5-bob",
    });
    const roomId = res.body.room.id;
    expect((await on(nodeA, "g5-alice").call("PATCH", `/rooms/${roomId}`, { name: "x" })).status).toBe(403);
    expect(
      (await on(nodeA, "g5-alice").call("POST", `/rooms/${roomId}/members`, { user_ids: ["g5-c"] })).status,
    ).toBe(403);
    expect((await on(nodeA, "g5-alice").call("DELETE", `/rooms/${roomId}/members/g5-alice`)).status).toBe(
      403,
    );
  });
});
