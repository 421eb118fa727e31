import { beforeAll, describe, expect, it } from "vitest";
import { token } from "../helpers/env.ts";
import { startApiProcess } from "../helpers/processes.ts";
import { collect, connect, nextEvent, waitFor } from "../helpers/socket.ts";
import { useTwoNodes } from "../helpers/two-nodes.ts";

type PresenceEvent = { user_id: string; online: boolean; last_seen_at: string | null };

const t = useTwoNodes("presence", {
  workers: 0,
  env: { PRESENCE_TTL_MS: "1500", PRESENCE_HEARTBEAT_MS: "300" },
});
const { on, open } = t;
let nodeA = "";
let nodeB = "";
beforeAll(() => {
  ({ nodeA, nodeB } = t);
});

describe("presence across nodes", () => {
  it("is online while any socket is, tells direct-room partners only, and records last_seen_at", async () => {
    await on(nodeA, "p-alice").call("POST", "/rooms", { type: "direct", member_id: "p-bob" });
    await on(nodeA, "p-alice").call("POST", "/rooms", { type: "group", name: "g", member_ids: ["p-carol"] });
    const bob = await open(nodeB, "p-bob");
    const carol = await open(nodeB, "p-carol");
    const toBob = collect<PresenceEvent>(bob, "presence");
    const toCarol = collect<PresenceEvent>(carol, "presence");
    const phone = await open(nodeA, "p-alice");
    const laptop = await open(nodeB, "p-alice");
    await waitFor(() => toBob.length === 1, 3000, "online event");
    expect(toBob[0]).toEqual({ user_id: "p-alice", online: true, last_seen_at: null });
    expect((await on(nodeA, "p-bob").call("GET", "/users/p-alice/presence")).body).toEqual({
      online: true,
      last_seen_at: null,
    });
    phone.close();
    await new Promise((r) => setTimeout(r, 300));
    expect(toBob).toHaveLength(1); // still online on the laptop
    laptop.close();
    await waitFor(() => toBob.length === 2, 3000, "offline event");
    expect(toBob[1]?.online).toBe(false);
    const seen = (
      await on(nodeB, "p-carol").call<{ online: boolean; last_seen_at: string }>(
        "GET",
        "/users/p-alice/presence",
      )
    ).body;
    expect(seen.online).toBe(false);
    expect(Date.now() - Date.parse(seen.last_seen_at)).toBeLessThan(5000);
    expect(toCarol).toEqual([]); // a group does not multiply presence events
    expect((await on(nodeA, "p-stranger").call("GET", "/users/p-alice/presence")).status).toBe(404);
    expect((await on(nodeA, "p-alice").call("GET", "/users/bad|id/presence")).status).toBe(400);
  });

  it("takes a killed node's users offline by themselves within the TTL", async () => {
    const extra = await startApiProcess(t.cluster.env);
    await on(nodeA, "q-alice").call("POST", "/rooms", { type: "direct", member_id: "q-bob" });
    const bob = await open(nodeA, "q-bob");
    const online = nextEvent<PresenceEvent>(bob, "presence");
    const doomed = await connect(extra.base, token("q-alice"));
    expect((await online).online).toBe(true);
    const offline = nextEvent<PresenceEvent>(bob, "presence", 5000);
    const killedAt = Date.now();
    await extra.stop("SIGKILL");
    doomed.close();
    expect((await offline).online).toBe(false);
    expect(Date.now() - killedAt).toBeLessThan(3000);
    expect(
      (await on(nodeB, "q-bob").call<{ online: boolean }>("GET", "/users/q-alice/presence")).body.online,
    ).toBe(false);
  });
});
