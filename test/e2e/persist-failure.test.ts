import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PERSIST_QUEUE } from "../../src/messages/persist.queue.ts";
import { type Cluster, startCluster } from "../helpers/cluster.ts";
import { REDIS_URL, token } from "../helpers/env.ts";
import { Client } from "../helpers/http.ts";
import { connect, nextEvent, waitFor } from "../helpers/socket.ts";

type MessageBody = { message: { id: string; seq: number } };

let cluster: Cluster;
beforeAll(async () => {
  // Two attempts, 200 ms each against a locked database: persistence fails for good within ~1 s.
  cluster = await startCluster("persist-failure", {
    apis: 1,
    workers: 1,
    env: { PERSIST_ATTEMPTS: "2", SQLITE_BUSY_TIMEOUT_MS: "200" },
  });
});
afterAll(async () => {
  await cluster.stop();
});

describe("persistence that keeps failing", () => {
  it("rolls the message back after the last attempt, keeps the job in the failed set, and recovers", async () => {
    const base = cluster.apis[0]?.base ?? "";
    const alice = new Client(base, token("pf-alice"));
    const room = await alice.call<{ room: { id: string } }>("POST", "/rooms", {
      type: "direct",
      member_id: "pf-bob",
    });
    const roomId = room.body.room.id;
    const bob = await connect(base, token("pf-bob"));

    // Another process holds the write lock: every write attempt times out (a transient error).
    const locker = new DatabaseSync(path.join(cluster.dataDir, "chat.sqlite"), { timeout: 5000 });
    locker.exec("BEGIN EXCLUSIVE");
    const failed = nextEvent<{ message_id: string; reason: string }>(bob, "message:failed", 15_000);
    const sent = await alice.call<MessageBody>("POST", `/rooms/${roomId}/messages`, {
      client_id: "pf-1",
      type: "text",
      text: "doomed",
    });
    expect(sent.status).toBe(201);
    expect(await failed).toMatchObject({ message_id: sent.body.message.id, reason: "persistence_failed" });
    locker.exec("ROLLBACK");
    locker.close();

    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const queue = new Queue(PERSIST_QUEUE, { connection, prefix: `${cluster.prefix}:bull` });
    try {
      const failedJobs = await queue.getFailed();
      expect(failedJobs).toHaveLength(1);
      expect(failedJobs[0]?.attemptsMade).toBe(2);
    } finally {
      await queue.close();
      connection.disconnect();
    }
    expect((await alice.call("GET", `/messages/${sent.body.message.id}`)).status).toBe(404);

    // The client drops its copy and sends again with the same client_id: a new message, persisted.
    const again = await alice.call<MessageBody>("POST", `/rooms/${roomId}/messages`, {
      client_id: "pf-1",
      type: "text",
      text: "doomed",
    });
    expect(again.status).toBe(201);
    expect(again.body.message.id).not.toBe(sent.body.message.id);
    await waitFor(
      () => cluster.stored(roomId).ids.has(again.body.message.id),
      15_000,
      "persisted after recovery",
    );
    bob.close();
  });
});
