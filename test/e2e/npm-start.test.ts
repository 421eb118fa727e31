import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { Socket } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropPrefix, removeDir, tempDir, testEnv, token, uniquePrefix } from "../helpers/env.ts";
import { Client } from "../helpers/http.ts";
import { freePort, waitReady } from "../helpers/processes.ts";
import { connect, nextEvent, waitFor } from "../helpers/socket.ts";

type RoomBody = { room: { id: string } };
type MessageBody = { message: { id: string; text: string } };
type History = { messages: { id: string }[] };

const root = path.resolve(import.meta.dirname, "../..");
const prefix = uniquePrefix("npm-start");
const dataDir = tempDir("npm-start");
let child: ChildProcess;
let output = "";
let base: string;
const sockets: Socket[] = [];

/** Pids of live processes started with this file's REDIS_PREFIX (PM2 puts pools in their own groups). */
function processesWithPrefix(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, "latin1").split("\0").includes(`REDIS_PREFIX=${prefix}`)) {
        pids.push(Number(entry));
      }
    } catch {
      // exited meanwhile, or not ours to read
    }
  }
  return pids;
}

/** `npm start` exactly as the README says, with this file's port, data dir, Redis prefix and PM2 home. */
beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const npm = process.env.npm_execpath;
  const [cmd, args] = npm ? [process.execPath, [npm, "start"]] : ["npm", ["start"]];
  child = spawn(cmd, args, {
    cwd: root,
    env: {
      ...process.env,
      ...testEnv(prefix, dataDir, { PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "warn" }),
      PM2_HOME: path.join(dataDir, "pm2"),
    },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  child.stdout?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  try {
    await waitReady(base, 30_000);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${output}`);
  }
});
afterAll(async () => {
  for (const s of sockets) s.close();
  if (child.exitCode === null && child.pid) {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await dropPrefix(prefix);
  removeDir(dataDir);
});

let roomId = "";

describe("npm start (PM2: API and every pool)", () => {
  it("serves default socket.io-clients (polling, then the upgrade) and long-polling-only clients", async () => {
    const alice = new Client(base, token("alice"));
    const room = await alice.call<RoomBody>("POST", "/rooms", {
      type: "group",
      name: "s",
      member_ids: ["bob", "carol"],
    });
    expect(room.status).toBe(201);
    roomId = room.body.room.id;
    const bob = await connect(base, token("bob"), "default");
    const carol = await connect(base, token("carol"), "polling");
    sockets.push(bob, carol);
    // Many polling round trips: every one must reach the process holding the session.
    for (let i = 0; i < 20; i++) {
      const toBob = nextEvent<MessageBody>(bob, "message:new");
      const toCarol = nextEvent<MessageBody>(carol, "message:new");
      const ack = await bob.timeout(5000).emitWithAck("message:send", {
        room_id: roomId,
        client_id: `m${i}`,
        type: "text",
        text: `hello ${i}`,
      });
      expect(ack).toMatchObject({ ok: true });
      expect((await toBob).message.text).toBe(`hello ${i}`);
      expect((await toCarol).message.text).toBe(`hello ${i}`);
    }
    expect(carol.io.engine.transport.name).toBe("polling");
    await waitFor(() => bob.io.engine.transport.name === "websocket", 5000, "bob upgraded");
    const history = await alice.call<History>("GET", `/rooms/${roomId}/messages`);
    expect(history.body.messages).toHaveLength(20);
  });

  it("stops every process on SIGTERM, and the stop takes nothing back", async () => {
    // npm, pm2-runtime, the API and the four pools (PM2 starts each once the one before is ready).
    await waitFor(() => processesWithPrefix().length >= 7, 30_000, "every process of npm start to run");
    const stored = () => {
      const db = new DatabaseSync(path.join(dataDir, "chat.sqlite"), { readOnly: true });
      try {
        const row = db
          .prepare("SELECT count(*) AS n FROM messages WHERE room_id = ? AND type = 'text'")
          .get(roomId);
        return Number(row?.n);
      } finally {
        db.close();
      }
    };
    await waitFor(() => stored() === 20, 30_000, "the persist pool to store the 20 messages");
    child.kill("SIGTERM");
    // npm passes the signal to pm2-runtime, which stops the API and the pools gracefully.
    await waitFor(() => processesWithPrefix().length === 0, 20_000, "every process of npm start to exit");
    expect(output).not.toMatch(/shutdown timed out|shutdown failed/);
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
    expect(stored()).toBe(20);
  });
});
