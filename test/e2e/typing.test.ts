import { beforeAll, describe, expect, it } from "vitest";
import { collect, TRANSPORTS, waitFor } from "../helpers/socket.ts";
import { useTwoNodes } from "../helpers/two-nodes.ts";

type TypingEvent = { room_id: string; user_id: string; typing: boolean };

const t = useTwoNodes("typing", { workers: 0, env: { TYPING_EXPIRE_MS: "600" } });
const { open } = t;
let nodeA = "";
let nodeB = "";
beforeAll(() => {
  ({ nodeA, nodeB } = t);
});

const { group } = t;

describe("typing indicators across nodes", () => {
  for (const transport of TRANSPORTS) {
    it(`${transport}: reach the other members (not the typist's own sockets), throttled, stopped, expired`, async () => {
      const [a, b] = [`ta-${transport}`, `tb-${transport}`];
      const roomId = await group(a, [b]);
      const typist = await open(nodeA, a, transport);
      const typistOther = await open(nodeB, a, transport);
      const reader = await open(nodeB, b, transport);
      const seen = collect<TypingEvent>(reader, "typing");
      const own = collect<TypingEvent>(typistOther, "typing");

      expect(await typist.timeout(3000).emitWithAck("typing:start", { room_id: roomId })).toEqual({
        ok: true,
      });
      await typist.timeout(3000).emitWithAck("typing:start", { room_id: roomId }); // within the throttle
      await waitFor(() => seen.length >= 1, 3000, "typing true");
      expect(seen[0]).toEqual({ room_id: roomId, user_id: a, typing: true });
      await typist.timeout(3000).emitWithAck("typing:stop", { room_id: roomId });
      await waitFor(() => seen.some((e) => !e.typing), 3000, "typing false");
      expect(seen.map((e) => e.typing)).toEqual([true, false]); // the throttled start sent nothing

      await typist.timeout(3000).emitWithAck("typing:start", { room_id: roomId });
      await waitFor(() => seen.length === 4, 3000, "expired after silence"); // true, then false by itself
      expect(seen.slice(2).map((e) => e.typing)).toEqual([true, false]);

      await typist.timeout(3000).emitWithAck("typing:start", { room_id: roomId });
      await waitFor(() => seen.length === 5, 3000, "started again");
      typist.close();
      await waitFor(() => seen.length === 6 && seen[5]?.typing === false, 3000, "ended by the disconnect");
      expect(own).toEqual([]);
    });
  }

  it("answers non-members with not_found and bad payloads with invalid_request", async () => {
    const roomId = await group("tx-alice", []);
    const mallory = await open(nodeA, "tx-mallory");
    expect(await mallory.timeout(3000).emitWithAck("typing:start", { room_id: roomId })).toMatchObject({
      ok: false,
      error: { code: "not_found" },
    });
    expect(await mallory.timeout(3000).emitWithAck("typing:start", { room_id: "nope" })).toMatchObject({
      ok: false,
      error: { code: "invalid_request" },
    });
  });
});
