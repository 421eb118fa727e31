import { beforeAll, describe, expect, it } from "vitest";
import { newId } from "../../src/kernel/ids.ts";
import { startWorkerProcess } from "../helpers/processes.ts";
import { collect, nextEvent, waitFor } from "../helpers/socket.ts";
import { useTwoNodes } from "../helpers/two-nodes.ts";

type Message = {
  id: string;
  text: string | null;
  deleted: boolean;
  reactions: Record<string, number>;
  edited_at: string | null;
};
type MessageBody = { message: Message };
type ErrorBody = { error: { code: string } };

const t = useTwoNodes("msg-ops", { workers: 0 });
const { on, open } = t;
let nodeA = "";
let nodeB = "";
beforeAll(() => {
  ({ nodeA, nodeB } = t);
});

const { group } = t;

describe("message ops across two nodes, before and after persistence", () => {
  it("edits, reacts and deletes on node A, seen on node B's reads and sockets, and the same after the persist pool runs", async () => {
    const roomId = await group("o-alice", ["o-bob", "o-carol"]);
    const carol = await open(nodeB, "o-carol");
    const updates = collect<MessageBody>(carol, "message:updated");
    const sent = await on(nodeA, "o-bob").call<MessageBody>("POST", `/rooms/${roomId}/messages`, {
      client_id: "e1",
      type: "text",
      text: "draft",
    });
    const id = sent.body.message.id;
    const edit = await on(nodeA, "o-bob").call<MessageBody>("PATCH", `/messages/${id}`, { text: "final" });
    expect(edit.status).toBe(200);
    expect(edit.body.message).toMatchObject({ text: "final" });
    expect(edit.body.message.edited_at).not.toBeNull();
    const react = await on(nodeB, "o-carol").call<MessageBody>("PUT", `/messages/${id}/reaction`, {
      emoji: "👍",
    });
    expect(react.status).toBe(200);
    expect(react.body.message.reactions).toEqual({ "👍": 1 });
    await waitFor(() => updates.length >= 2, 5000, "two message:updated on node B");
    expect(updates.map((u) => u.message.text)).toEqual(["final", "final"]);

    const onB = await on(nodeB, "o-alice").call<MessageBody>("GET", `/messages/${id}`);
    expect(onB.body.message).toMatchObject({ text: "final", reactions: { "👍": 1 } });

    // The persist pool starts now; the end state does not change.
    t.cluster.workers.push(startWorkerProcess(t.cluster.env));
    await waitFor(() => t.cluster.stored(roomId).count === 1, 20_000, "persisted");
    await waitFor(
      async () =>
        (await on(nodeA, "o-alice").call<{ messages: unknown[] }>("GET", `/rooms/${roomId}/messages`))
          .status === 200,
      5000,
    );
    const after = await on(nodeA, "o-alice").call<{ messages: Message[] }>(
      "GET",
      `/rooms/${roomId}/messages`,
    );
    expect(after.body.messages[0]).toMatchObject({ id, text: "final", reactions: { "👍": 1 } });

    const tombstone = nextEvent<MessageBody>(carol, "message:updated");
    const del = await on(nodeB, "o-bob").call("DELETE", `/messages/${id}?for=everyone`);
    expect(del.status).toBe(204);
    const tomb = await tombstone;
    expect(tomb.message).toMatchObject({ id, deleted: true, text: null });
    const read = await on(nodeA, "o-carol").call<MessageBody>("GET", `/messages/${id}`);
    expect(read.body.message).toMatchObject({ deleted: true, text: null, reactions: {} });
    // Room lists never show a deleted message's text (once the delete is stored).
    type Rooms = { rooms: { id: string; last_message: Message | null }[] };
    await waitFor(
      async () =>
        (await on(nodeB, "o-carol").call<Rooms>("GET", "/rooms")).body.rooms.find((r) => r.id === roomId)
          ?.last_message?.deleted === true,
      10_000,
      "the room list's last message is a tombstone",
    );
    const listed = (await on(nodeB, "o-carol").call<Rooms>("GET", "/rooms")).body.rooms.find(
      (r) => r.id === roomId,
    );
    expect(listed?.last_message).toMatchObject({ id, text: null, deleted: true });
  });

  it("answers the contract's status codes for bad input", async () => {
    const roomId = await group("s-alice", ["s-bob"]);
    const m = await on(nodeA, "s-alice").call<MessageBody>("POST", `/rooms/${roomId}/messages`, {
      client_id: "s1",
      type: "text",
      text: "x",
    });
    const id = m.body.message.id;
    const alice = on(nodeA, "s-alice");
    expect((await alice.call<ErrorBody>("DELETE", `/messages/${id}`)).status).toBe(400); // `for` is required
    expect((await alice.call("DELETE", `/messages/${id}?for=all`)).status).toBe(400);
    for (const emoji of ["a", "👍👍", "🇫", "1", ""]) {
      expect((await alice.call("PUT", `/messages/${id}/reaction`, { emoji })).status, emoji).toBe(400);
    }
    expect((await alice.call("PUT", `/messages/${id}/reaction`, { emoji: "🇫🇷" })).status).toBe(200);
    expect((await alice.call("PUT", `/messages/${id}/reaction`, { emoji: "👍", extra: 1 })).status).toBe(400);
    expect((await alice.call("PATCH", `/messages/${id}`, { text: "" })).status).toBe(400);
    expect((await alice.call("PATCH", `/messages/${id}`, {})).status).toBe(400);
    expect((await alice.call("PATCH", `/messages/${newId()}`, { text: "y" })).status).toBe(404);
    expect((await alice.call("DELETE", `/messages/${id}/reaction`)).status).toBe(204);
    // Deleted for me: gone for me only.
    expect((await on(nodeB, "s-bob").call("DELETE", `/messages/${id}?for=me`)).status).toBe(204);
    expect((await on(nodeB, "s-bob").call("GET", `/messages/${id}`)).status).toBe(404);
    expect((await alice.call("GET", `/messages/${id}`)).status).toBe(200);
    // Nor is it the room's last message in Bob's list, once stored; Alice still sees it.
    type Rooms = { rooms: { id: string; last_message: { id: string } | null }[] };
    const lastFor = async (user: string) =>
      (await on(nodeA, user).call<Rooms>("GET", "/rooms")).body.rooms.find((r) => r.id === roomId)
        ?.last_message;
    await waitFor(async () => (await lastFor("s-bob")) === null, 10_000, "hidden from Bob's list");
    expect((await lastFor("s-alice"))?.id).toBe(id);
  });
});

describe("BOLA: other rooms' messages", () => {
  it("answers 404 to a non-member and 403 to a member who may not, and changes nothing", async () => {
    const roomId = await group("b-alice", ["b-bob"]);
    const m = await on(nodeA, "b-alice").call<MessageBody>("POST", `/rooms/${roomId}/messages`, {
      client_id: "b1",
      type: "text",
      text: "original",
    });
    const id = m.body.message.id;
    const cases: [string, string, string, unknown, number][] = [
      ["mallory", "PATCH", `/messages/${id}`, { text: "pwned" }, 404],
      ["mallory", "DELETE", `/messages/${id}?for=everyone`, undefined, 404],
      ["mallory", "DELETE", `/messages/${id}?for=me`, undefined, 404],
      ["mallory", "PUT", `/messages/${id}/reaction`, { emoji: "👎" }, 404],
      ["mallory", "DELETE", `/messages/${id}/reaction`, undefined, 404],
      ["mallory", "GET", `/messages/${id}`, undefined, 404],
      ["b-bob", "PATCH", `/messages/${id}`, { text: "pwned" }, 403],
      ["b-bob", "DELETE", `/messages/${id}?for=everyone`, undefined, 403],
    ];
    for (const [user, method, path, body, status] of cases) {
      const res = await on(nodeB, user).call(method, path, body);
      expect(res.status, `${user} ${method} ${path}`).toBe(status);
    }
    const seen = await on(nodeA, "b-alice").call<MessageBody>("GET", `/messages/${id}`);
    expect(seen.body.message).toMatchObject({ text: "original", deleted: false, reactions: {} });
  });
});
