import { copyFileSync, renameSync, statSync } from "node:fs";
import path from "node:path";
import { backup, DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster } from "../helpers/cluster.ts";
import { token } from "../helpers/env.ts";
import { Client } from "../helpers/http.ts";
import { collect, connect, waitFor } from "../helpers/socket.ts";

type MessageBody = { message: { id: string; seq: number } };

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster("sqlite-restore", {
    apis: 1,
    workers: 1,
    env: { PERSIST_RETRY_BASE_MS: "50", PERSIST_RETRY_MAX_MS: "500" },
  });
});
afterAll(async () => {
  await cluster.stop();
});

/** The ids stored in the file now at the path (a fresh connection each time: it may be another file). */
function storedIds(file: string, roomId: string): string[] {
  const db = new DatabaseSync(file, { readOnly: true, timeout: 5000 });
  try {
    return db
      .prepare("SELECT id FROM messages WHERE room_id = ? ORDER BY seq")
      .all(roomId)
      .map((r) => String(r.id));
  } finally {
    db.close();
  }
}

describe("chat.sqlite restored from a backup while every process runs", () => {
  it("is refused while missing, then reopened by the API and the persist worker without a restart", async () => {
    const base = cluster.apis[0]?.base ?? "";
    const file = path.join(cluster.dataDir, "chat.sqlite");
    const alice = new Client(base, token("rs-alice"));
    const readyz = async () => (await fetch(`${base}/readyz`)).status;
    const send = async (clientId: string, to = roomId) => {
      const res = await alice.call<MessageBody>("POST", `/rooms/${to}/messages`, {
        client_id: clientId,
        type: "text",
        text: clientId,
      });
      expect(res.status).toBe(201);
      return res.body.message.id;
    };
    const newRoom = async () =>
      (
        await alice.call<{ room: { id: string } }>("POST", "/rooms", {
          type: "group",
          name: "restore",
          member_ids: [],
        })
      ).body.room.id;
    const roomId = await newRoom();
    const kept = await send("before-backup");
    await waitFor(() => storedIds(file, roomId).includes(kept), 15_000, "persisted before the backup");

    // SQLite's online backup, taken while the processes run.
    const copy = path.join(cluster.dataDir, "backup.sqlite");
    const source = new DatabaseSync(file, { timeout: 5000 });
    await backup(source, copy);
    source.close();
    const lost = await send("after-backup");
    await waitFor(() => storedIds(file, roomId).includes(lost), 15_000, "persisted after the backup");
    const lostRoom = await newRoom();
    const socket = await connect(base, token("rs-alice"));
    const failed = collect<{ message_id: string; room_id: string }>(socket, "message:failed");

    // The documented procedure: the live file, its WAL and index moved aside...
    const inode = statSync(file).ino;
    for (const [from, to] of [
      ["chat.sqlite", "chat.sqlite.old"],
      ["chat.sqlite-wal", "chat.sqlite.old-wal"],
      ["chat.sqlite-shm", "chat.sqlite.old-shm"],
    ] as const) {
      renameSync(path.join(cluster.dataDir, from), path.join(cluster.dataDir, to));
    }
    expect(await readyz()).toBe(503);
    const meanwhile = await send("while-missing"); // held in Redis
    const orphan = await send("while-missing", lostRoom);
    // ...then the backup copied under a temporary name and renamed into place.
    copyFileSync(copy, `${file}.restoring`);
    renameSync(`${file}.restoring`, file);
    expect(statSync(file).ino).not.toBe(inode);

    await waitFor(async () => (await readyz()) === 200, 10_000, "ready again");
    await waitFor(
      () => storedIds(file, roomId).includes(meanwhile),
      15_000,
      "the message sent while the file was missing is persisted in the restored file",
    );
    const later = await send("after-restore");
    await waitFor(
      () => storedIds(file, roomId).includes(later),
      15_000,
      "a send after the restore is persisted",
    );
    // What was persisted after the backup, and left Redis, is not in the restored file.
    expect(storedIds(file, roomId)).toEqual([kept, meanwhile, later]);
    // A message pending in a room created after the backup has no room in the restored store:
    // refused for good, it is taken back.
    await waitFor(() => failed.some((f) => f.message_id === orphan), 15_000, "message:failed for the orphan");
    expect(storedIds(file, lostRoom)).toEqual([]);
    socket.close();
    // As docs/operations.md says: a client_id first used after the backup points, until its
    // idempotency key expires, at a message that exists nowhere, and its repeat answers 503.
    const repeat = await alice.call("POST", `/rooms/${roomId}/messages`, {
      client_id: "after-backup",
      type: "text",
      text: "after-backup",
    });
    expect(repeat.status).toBe(503);
    for (const proc of [cluster.apis[0], cluster.workers[0]]) {
      expect(proc?.output().match(/no restart needed/g)).toHaveLength(1);
    }
  });
});
