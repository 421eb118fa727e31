import { type ChildProcess, spawn } from "node:child_process";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster } from "../helpers/cluster.ts";
import { removeDir, tempDir, token } from "../helpers/env.ts";
import { Client, checkedFetch } from "../helpers/http.ts";
import { freePort } from "../helpers/processes.ts";
import { connect, waitFor } from "../helpers/socket.ts";

type MessageBody = { message: { id: string } };
type ErrorBody = { error: { code: string } };

// A Redis of this file's own, so stopping it cannot disturb other test files.
const dir = tempDir("redis-outage");
let port: number;
let redisProc: ChildProcess | undefined;
let cluster: Cluster;

async function startRedis(): Promise<void> {
  redisProc = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--appendonly", "yes", "--save", ""],
    { stdio: "ignore" },
  );
  const probe = new Redis({ port, lazyConnect: true, retryStrategy: () => 100 });
  probe.on("error", () => undefined); // refused until the server listens
  await waitFor(
    async () => {
      try {
        if (probe.status !== "ready") await probe.connect();
        return (await probe.ping()) === "PONG";
      } catch {
        return false;
      }
    },
    10_000,
    "redis up",
  );
  probe.disconnect();
}

async function stopRedis(): Promise<void> {
  const proc = redisProc;
  if (!proc) return;
  const exited = new Promise((r) => proc.once("exit", r));
  proc.kill("SIGTERM"); // redis flushes its AOF on SIGTERM
  await exited;
  redisProc = undefined;
}

beforeAll(async () => {
  port = await freePort();
  await startRedis();
  // The send limit on: its Redis calls must fail as fast (503) as the accept's do.
  cluster = await startCluster("outage", {
    apis: 1,
    workers: 1,
    redisUrl: `redis://127.0.0.1:${port}`,
    env: { SEND_RATE_PER_S: "1000" },
  });
});
afterAll(async () => {
  await cluster.stop().catch(() => undefined);
  await stopRedis();
  removeDir(dir);
});

describe("Redis outage", () => {
  it("answers 503 fast while Redis is down and recovers by itself when it is back", async () => {
    const base = cluster.apis[0]?.base ?? "";
    const alice = new Client(base, token("o-alice"));
    const room = await alice.call<{ room: { id: string } }>("POST", "/rooms", {
      type: "group",
      name: "outage",
      member_ids: [],
    });
    const roomId = room.body.room.id;
    const send = (clientId: string) =>
      alice.call<MessageBody & ErrorBody>("POST", `/rooms/${roomId}/messages`, {
        client_id: clientId,
        type: "text",
        text: clientId,
      });
    const before = await send("before");
    expect(before.status).toBe(201);
    const socket = await connect(base, token("o-alice"));

    await stopRedis();
    for (let i = 0; i < 5; i++) {
      const t0 = Date.now();
      const down = await send(`down-${i}`);
      expect(down.status).toBe(503);
      expect(down.body.error.code).toBe("unavailable");
      expect(down.headers.get("retry-after")).toBe("1");
      expect(Date.now() - t0).toBeLessThan(1000);
    }
    const ready = await checkedFetch(base, "/readyz");
    expect(ready.status).toBe(503);
    const ack = await socket.timeout(3000).emitWithAck("message:send", {
      room_id: roomId,
      client_id: "sock-down",
      type: "text",
      text: "x",
    });
    expect(ack).toMatchObject({ ok: false, error: { code: "unavailable" } });

    await startRedis();
    let after: Awaited<ReturnType<typeof send>> | undefined;
    await waitFor(
      async () => {
        after = await send("after");
        return after.status === 201 || after.status === 200;
      },
      15_000,
      "sends to succeed again",
    );
    expect(after?.body.message.id).toEqual(expect.any(String));
    expect((await checkedFetch(base, "/readyz")).status).toBe(200);
    // The worker reconnected too: both acknowledged messages reach the store.
    await waitFor(() => cluster.stored(roomId).count === 2, 20_000, "persisted after recovery");
    expect(cluster.stored(roomId).ids).toEqual(new Set([before.body.message.id, after?.body.message.id]));
    socket.close();
  });
});
