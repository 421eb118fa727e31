import { afterEach, describe, expect, it } from "vitest";
import { readBacklog } from "../../src/messages/backlog.gauge.ts";
import { Keys } from "../../src/redis/redis.ts";
import { type Cluster, startCluster } from "../helpers/cluster.ts";
import { testRedis, token } from "../helpers/env.ts";
import { Client } from "../helpers/http.ts";
import { startWorkerProcess } from "../helpers/processes.ts";
import { waitFor } from "../helpers/socket.ts";

type MessageBody = { message: { id: string; seq: number } };
type RoomBody = { room: { id: string } };

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Virtual clients sending sequentially; resolves with every acknowledged message id per room. */
async function burst(opts: {
  bases: string[];
  rooms: string[];
  total: number;
  concurrency: number;
  tag: string;
  /** Where acknowledged ids go, for a test that acts once enough are in. */
  acked?: Map<string, Set<string>>;
}): Promise<{ acked: Map<string, Set<string>>; errors: number }> {
  const acked = opts.acked ?? new Map(opts.rooms.map((r) => [r, new Set<string>()]));
  let issued = 0;
  let errors = 0;
  await Promise.all(
    Array.from({ length: opts.concurrency }, async (_, w) => {
      const client = new Client(opts.bases[w % opts.bases.length] ?? "", token(`sender-${w % 5}`));
      while (issued < opts.total) {
        const n = issued++;
        const room = opts.rooms[n % opts.rooms.length] ?? "";
        try {
          const res = await client.call<MessageBody>("POST", `/rooms/${room}/messages`, {
            client_id: `${opts.tag}-${n}`,
            type: "text",
            text: `burst ${n}`,
          });
          if (res.status === 201) acked.get(room)?.add(res.body.message.id);
          else errors++;
        } catch {
          errors++; // the API process died under this request: not acknowledged
        }
      }
    }),
  );
  return { acked, errors };
}

async function rooms(base: string, count: number): Promise<string[]> {
  const owner = new Client(base, token("sender-0"));
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const res = await owner.call<RoomBody>("POST", "/rooms", {
      type: "group",
      name: `crash ${i}`,
      member_ids: ["sender-1", "sender-2", "sender-3", "sender-4"],
    });
    ids.push(res.body.room.id);
  }
  return ids;
}

function assertAllStoredOnce(c: Cluster, acked: Map<string, Set<string>>): void {
  for (const [room, ids] of acked) {
    const stored = c.stored(room);
    for (const id of ids) expect(stored.ids.has(id)).toBe(true);
    expect(new Set(stored.seqs).size).toBe(stored.count);
    expect(stored.ids.size).toBe(stored.count);
  }
}

const ackedCount = (acked: Map<string, Set<string>>) => [...acked.values()].reduce((n, s) => n + s.size, 0);

describe("crashes lose nothing acknowledged", () => {
  it("persists every acknowledged message exactly once when the persist worker is killed -9 twice mid-burst", async () => {
    const c = await startCluster("kill-worker", { apis: 2, workers: 1 });
    cluster = c;
    const roomIds = await rooms(c.apis[0]?.base ?? "", 4);
    const chaos = (async () => {
      for (let round = 0; round < 2; round++) {
        await sleep(700);
        const victim = c.workers.shift();
        await victim?.stop("SIGKILL");
        await sleep(400);
        c.workers.push(startWorkerProcess(c.env));
      }
    })();
    const { acked, errors } = await burst({
      bases: c.apis.map((a) => a.base),
      rooms: roomIds,
      total: 5200,
      concurrency: 40,
      tag: "kw",
    });
    await chaos;
    expect(errors).toBe(0);
    expect(ackedCount(acked)).toBe(5200);
    // Bound: a killed worker's batch comes back after its lock (8 s) plus a stalled check (4 s).
    const started = Date.now();
    await waitFor(
      () => [...acked].every(([room, ids]) => c.stored(room).count === ids.size),
      30_000,
      "every acknowledged message in the store",
    );
    assertAllStoredOnce(c, acked);
    console.log(
      `worker kill -9 x2: 5200 acknowledged, all stored ${Date.now() - started} ms after the burst`,
    );
  });

  it("persists every message an API process acknowledged before it was killed -9, and rescues orphans", async () => {
    const c = await startCluster("kill-api", { apis: 2, workers: 1, env: { PENDING_RESCUE_AFTER_S: "2" } });
    cluster = c;
    const [a, b] = c.apis;
    if (!a || !b) throw new Error("two APIs expected");
    const roomIds = await rooms(b.base, 2);
    const acked = new Map(roomIds.map((r) => [r, new Set<string>()]));
    // Killed once the burst is well under way (by its acknowledgements, not by a clock).
    const killer = (async () => {
      await waitFor(() => ackedCount(acked) > 150, 30_000, "the burst under way");
      await a.stop("SIGKILL");
    })();
    const { errors } = await burst({
      bases: [a.base],
      rooms: roomIds,
      total: 20_000,
      concurrency: 20,
      tag: "ka",
      acked,
    });
    await killer;
    expect(errors).toBeGreaterThan(0); // the kill really happened mid-burst
    expect(ackedCount(acked)).toBeGreaterThan(100);
    await waitFor(
      () => [...acked].every(([room, ids]) => [...ids].every((id) => c.stored(room).ids.has(id))),
      30_000,
      "acknowledged messages stored",
    );
    assertAllStoredOnce(c, acked);
    // Accepted but never acknowledged (the process died before its job was stored): the rescue sweep persists them.
    const redis = testRedis();
    try {
      await waitFor(
        async () => (await readBacklog(redis, new Keys(c.prefix))).messages === 0,
        30_000,
        "pending drained",
      );
    } finally {
      redis.disconnect();
    }
  });

  it("shuts down gracefully on SIGTERM mid-burst: exit 0, and everything acknowledged is stored", async () => {
    const c = await startCluster("sigterm", { apis: 2, workers: 1 });
    cluster = c;
    const [a, b] = c.apis;
    const worker = c.workers[0];
    if (!a || !b || !worker) throw new Error("cluster incomplete");
    const roomIds = await rooms(b.base, 2);
    const acked = new Map(roomIds.map((r) => [r, new Set<string>()]));
    const exits = (async () => {
      await waitFor(() => ackedCount(acked) > 150, 30_000, "the burst under way");
      const t0 = Date.now();
      const codes = await Promise.all([a.stop("SIGTERM"), worker.stop("SIGTERM")]);
      return { codes, ms: Date.now() - t0 };
    })();
    await burst({
      bases: [a.base],
      rooms: roomIds,
      total: 20_000,
      concurrency: 20,
      tag: "st",
      acked,
    });
    const { codes, ms } = await exits;
    expect(codes).toEqual([0, 0]);
    // Keep-alive clients are told to close, so the API does not wait for them to go idle.
    expect(ms).toBeLessThan(3000);
    expect(ackedCount(acked)).toBeGreaterThan(100);
    c.workers.push(startWorkerProcess(c.env));
    await waitFor(
      () => [...acked].every(([room, ids]) => [...ids].every((id) => c.stored(room).ids.has(id))),
      20_000,
      "acknowledged messages stored",
    );
    assertAllStoredOnce(c, acked);
  });
});
