import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signToken } from "../../src/auth/jwt.ts";
import { persistQueue } from "../../src/messages/persist.queue.ts";
import { Keys } from "../../src/redis/redis.ts";
import { type Cluster, startCluster } from "../helpers/cluster.ts";
import { REDIS_URL, TEST_SECRET, token } from "../helpers/env.ts";
import { Client, checkedFetch } from "../helpers/http.ts";
import { collect, connect, waitFor } from "../helpers/socket.ts";

type MessageBody = { message: { id: string; seq: number } };
type ErrorBody = { error: { code: string } };

let cluster: Cluster;
beforeAll(async () => {
  // Attempts fail after 50 ms against a locked database and are retried at most 100 ms apart:
  // a 4 s lock makes ~25 failed attempts (the old limit rolled back after 12), and the backlog
  // bound is 5 messages so back-pressure shows.
  cluster = await startCluster("persist-failure", {
    apis: 1,
    workers: 1,
    env: {
      SQLITE_BUSY_TIMEOUT_MS: "50",
      PERSIST_RETRY_BASE_MS: "20",
      PERSIST_RETRY_MAX_MS: "100",
      PENDING_MAX_MESSAGES: "5",
    },
  });
});
afterAll(async () => {
  await cluster.stop();
});

async function scrape(base: string): Promise<string> {
  const res = await checkedFetch(base, "/metrics", {
    headers: { authorization: `Bearer ${signToken(TEST_SECRET, "ops", { admin: true })}` },
  });
  return res.text();
}
const gauge = (text: string, name: string) => Number(text.match(new RegExp(`^${name} (\\S+)$`, "m"))?.[1]);

describe("a store outage longer than any retry limit", () => {
  it("loses nothing, pushes back when the backlog is full, shows it in metrics, and drains when the store is back", async () => {
    const base = cluster.apis[0]?.base ?? "";
    const alice = new Client(base, token("pf-alice"));
    const room = await alice.call<{ room: { id: string } }>("POST", "/rooms", {
      type: "direct",
      member_id: "pf-bob",
    });
    const roomId = room.body.room.id;
    const bob = await connect(base, token("pf-bob"));
    const failures = collect(bob, "message:failed");

    // The persist worker is up and working before the lock is taken (a worker still opening the
    // database when the lock comes would wait at boot, and attempt nothing).
    const warm = await alice.call<{ room: { id: string } }>("POST", "/rooms", {
      type: "direct",
      member_id: "pf-carol",
    });
    const warmRoom = warm.body.room.id;
    await alice.call("POST", `/rooms/${warmRoom}/messages`, {
      client_id: "pf-warm",
      type: "text",
      text: "warm",
    });
    await waitFor(() => cluster.stored(warmRoom).count === 1, 15_000, "the worker persists");
    // The API's backlog gauge counts its own accepts until its next read of Redis (250 ms).
    await new Promise((r) => setTimeout(r, 400));

    // Another process holds the write lock: every write attempt fails (a transient error).
    const locker = new DatabaseSync(path.join(cluster.dataDir, "chat.sqlite"), { timeout: 5000 });
    locker.exec("BEGIN EXCLUSIVE");
    const sent: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await alice.call<MessageBody>("POST", `/rooms/${roomId}/messages`, {
        client_id: `pf-${i}`,
        type: "text",
        text: `kept ${i}`,
      });
      expect(res.status).toBe(201);
      sent.push(res.body.message.id);
    }
    // The backlog bound: the next send is pushed back, with Retry-After, and not accepted.
    const refused = await alice.call<ErrorBody>("POST", `/rooms/${roomId}/messages`, {
      client_id: "pf-over",
      type: "text",
      text: "too many waiting",
    });
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe("unavailable");
    expect(refused.headers.get("retry-after")).not.toBeNull();

    await new Promise((r) => setTimeout(r, 4000));
    // Readable all along (pending), visible as a stuck backlog, never rolled back.
    const history = await alice.call<{ messages: { id: string }[] }>("GET", `/rooms/${roomId}/messages`);
    expect(history.body.messages.map((m) => m.id)).toEqual(sent);
    const metrics = await scrape(base);
    expect(gauge(metrics, "chat_pending_messages")).toBe(5);
    expect(gauge(metrics, "chat_pending_oldest_age_seconds")).toBeGreaterThan(3);
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const queue = new Queue(persistQueue.name, {
      connection,
      prefix: new Keys(cluster.prefix).bullPrefix(persistQueue.name),
    });
    try {
      const waiting = await queue.getJobs(["delayed", "active", "waiting"]);
      expect(Math.max(...waiting.map((j) => j.attemptsMade))).toBeGreaterThan(12);
      expect(await queue.getFailedCount()).toBe(0);
    } finally {
      await queue.close();
      connection.disconnect();
    }
    expect(failures).toEqual([]);

    locker.exec("ROLLBACK");
    locker.close();
    await waitFor(() => cluster.stored(roomId).count === 5, 15_000, "the backlog drains");
    expect(cluster.stored(roomId).ids).toEqual(new Set(sent));
    expect(failures).toEqual([]);
    expect(gauge(await scrape(base), "chat_pending_messages")).toBe(0);
    // Accepting again once drained.
    const after = await alice.call("POST", `/rooms/${roomId}/messages`, {
      client_id: "pf-over",
      type: "text",
      text: "now",
    });
    expect(after.status).toBe(201);
    expect(cluster.workers[0]?.output()).toMatch(/job keeps failing; it will be retried/);
    bob.close();
  });
});
