/**
 * Redis memory per accepted message (issues 7 and 21): what a message leaves in Redis once it
 * is persisted (its client_id in its bucket's idempotency slice for IDEMPOTENCY_TTL_S to 1.5x
 * that; finished persist jobs are removed), measured from `used_memory` before and after a
 * burst, settled (the median of several readings), for a short and a long text from one
 * sender, and for the outside check of issue 21: 6,000 sends of 2,000 characters from 30
 * senders with UUID client_ids. Also the peak while pending, for Redis sizing, and the bytes
 * by key family (`MEMORY USAGE` of every key of the run), which other users of this Redis
 * cannot disturb.
 *
 *   node bench/redis-memory.bench.ts        # BENCH_MESSAGES=10000 per one-sender run by default
 */
import { randomUUID } from "node:crypto";
import { Agent, request } from "node:http";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { z } from "zod";
import { readBacklog } from "../src/messages/backlog.gauge.ts";
import { notifyQueue } from "../src/notify/notify.queue.ts";
import { Keys, roomBucket } from "../src/redis/redis.ts";
import {
  dropPrefix,
  REDIS_URL,
  removeDir,
  tempDir,
  testEnv,
  token,
  uniquePrefix,
} from "../test/helpers/env.ts";
import { type Proc, startApiProcess, startWorkerProcess } from "../test/helpers/processes.ts";
import { WorkCheck } from "./work-check.ts";

const opts = z
  .object({ BENCH_MESSAGES: z.coerce.number().int().positive().default(10_000) })
  .parse(process.env);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const work = new WorkCheck();

async function usedMemory(redis: Redis): Promise<number> {
  return Number((await redis.info("memory")).match(/^used_memory:(\d+)/m)?.[1]);
}

/** Settled: the median of seven readings 200 ms apart (other users of this Redis move it too). */
async function settledMemory(redis: Redis): Promise<number> {
  const readings: number[] = [];
  for (let i = 0; i < 7; i++) {
    readings.push(await usedMemory(redis));
    await sleep(200);
  }
  return readings.sort((a, b) => a - b)[3] ?? Number.NaN;
}

/** One burst: `messages` sends of `textChars` characters, spread over `senders` members of one group. */
type Scenario = { name: string; messages: number; textChars: number; senders: number; uuids: boolean };

/** Every key of the run with its `MEMORY USAGE`, by family (the second ":"-segment). */
async function bytesByFamily(
  redis: Redis,
  prefix: string,
): Promise<{ keys: number; byFamily: Map<string, number> }> {
  const byFamily = new Map<string, number>();
  let count = 0;
  let cursor = "0";
  do {
    const [c, found] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
    cursor = c;
    count += found.length;
    for (const key of found) {
      const family = key.split(":")[1] ?? "";
      byFamily.set(
        family,
        (byFamily.get(family) ?? 0) + Number(await redis.memory("USAGE", key, "SAMPLES", "0")),
      );
    }
  } while (cursor !== "0");
  return { keys: count, byFamily };
}

async function run(
  s: Scenario,
): Promise<{ perMessage: number; peakPerMessage: number; keys: number; families: string }> {
  const prefix = uniquePrefix("bench-mem");
  const dataDir = tempDir("bench-mem");
  const env = testEnv(prefix, dataDir, { LOG_LEVEL: "warn", PENDING_MAX_MESSAGES: "10000000" });
  // The notify pool too: each persisted batch queues a notify job, which production's pool takes.
  const procs: Proc[] = [startWorkerProcess(env), startWorkerProcess(env, "notify")];
  const api = await startApiProcess(env);
  procs.push(api);
  const redis = new Redis(REDIS_URL);
  const keys = new Keys(prefix);
  try {
    const senders = Array.from({ length: s.senders }, (_, i) => `mem-user-${i}`);
    const tokens = senders.map((u) => token(u, 3600));
    const res = await fetch(`${api.base}/api/v1/chat/rooms`, {
      method: "POST",
      headers: { authorization: `Bearer ${tokens[0]}`, "content-type": "application/json" },
      body: JSON.stringify({ type: "group", name: "mem", member_ids: [...senders.slice(1), "mem-reader"] }),
    });
    const roomId = ((await res.json()) as { room: { id: string } }).room.id;
    const agent = new Agent({ keepAlive: true, maxSockets: 32 });
    const text = "x".repeat(s.textChars);
    const clientIds = Array.from({ length: s.messages }, (_, i) => (s.uuids ? randomUUID() : `m${i}`));
    const send = (i: number, clientId: string) =>
      new Promise<void>((resolve, reject) => {
        const body = JSON.stringify({ client_id: clientId, type: "text", text });
        const req = request(
          `${api.base}/api/v1/chat/rooms/${roomId}/messages`,
          {
            method: "POST",
            agent,
            headers: {
              authorization: `Bearer ${tokens[i % s.senders]}`,
              "content-type": "application/json",
              "content-length": Buffer.byteLength(body),
            },
          },
          (r) => {
            r.resume();
            r.on("end", () => (r.statusCode === 201 ? resolve() : reject(new Error(`HTTP ${r.statusCode}`))));
          },
        );
        req.on("error", reject);
        req.end(body);
      });
    // Warm the room's keys (member set, counters) and each sender's, and let one slice and the
    // pending hash exist, before measuring.
    await Promise.all(senders.map((_, i) => send(i, `warm-${i}`)));
    const drainEnd = Date.now() + 60_000;
    const notify = new Queue(notifyQueue.name, {
      connection: redis,
      prefix: keys.bullPrefix(notifyQueue.name),
    });
    const queued = async () =>
      Object.values(await notify.getJobCounts("waiting", "active", "delayed", "prioritized")).reduce(
        (a, b) => a + b,
        0,
      );
    const drain = async () => {
      while (((await readBacklog(redis, keys)).messages > 0 || (await queued()) > 0) && Date.now() < drainEnd)
        await sleep(100);
    };
    await drain();
    await sleep(500);
    const before = await settledMemory(redis);
    let peak = before;
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < s.messages) {
          const i = next++;
          await send(i, clientIds[i] ?? "");
          if (next % 500 === 0) peak = Math.max(peak, await usedMemory(redis));
        }
      }),
    );
    await drain();
    work.equal(`${s.name}: notify jobs left`, await queued(), 0);
    await notify.close();
    await sleep(1000); // the last job's completion
    const after = await settledMemory(redis);
    // The figure is per persisted message: every send (and the warm-ups) must be in the store,
    // none left pending, and what stays behind must be each message's client_id in a slice.
    work.equal(`${s.name}: pending messages left`, (await readBacklog(redis, keys)).messages, 0);
    const db = new DatabaseSync(path.join(dataDir, "chat.sqlite"), { readOnly: true });
    const stored = Number(
      db.prepare("SELECT count(*) AS n FROM messages WHERE room_id = ? AND type = 'text'").get(roomId)?.n,
    );
    db.close();
    work.equal(`${s.name}: messages stored`, stored, s.messages + s.senders);
    const bucket = roomBucket(roomId);
    work.equal(`${s.name}: client_ids still pending`, await redis.hlen(keys.idempotencyPending(bucket)), 0);
    const slices = await redis.keys(`${keys.idempotencySlicePrefix(bucket)}*`);
    let kept = 0;
    for (const slice of slices) kept += await redis.hlen(slice);
    work.equal(`${s.name}: client_ids kept in the slices`, kept, s.messages + s.senders);
    const { keys: count, byFamily } = await bytesByFamily(redis, prefix);
    // The room's few keys, the bucket's hashes and the queues' bookkeeping: no key per message.
    work.atMost(`${s.name}: keys left`, count, 50);
    const families = [...byFamily]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 4)
      .map(([f, b]) => `${f} ${(b / s.messages).toFixed(0)}`)
      .join(", ");
    return {
      perMessage: (after - before) / s.messages,
      peakPerMessage: (peak - before) / s.messages,
      keys: count,
      families,
    };
  } finally {
    redis.disconnect();
    await Promise.all(procs.map((p) => p.stop("SIGTERM")));
    await dropPrefix(prefix);
    removeDir(dataDir);
  }
}

const scenarios: Scenario[] = [
  { name: "10 chars, 1 sender", messages: opts.BENCH_MESSAGES, textChars: 10, senders: 1, uuids: false },
  { name: "2,000 chars, 1 sender", messages: opts.BENCH_MESSAGES, textChars: 2000, senders: 1, uuids: false },
  // Issue 21's outside check: 377 B/message with the key per client_id.
  {
    name: "2,000 chars, 30 senders, UUID client_ids",
    messages: 6000,
    textChars: 2000,
    senders: 30,
    uuids: true,
  },
];
const rows: Record<string, string>[] = [];
for (const scenario of scenarios) {
  const r = await run(scenario);
  rows.push({
    scenario: scenario.name,
    messages: String(scenario.messages),
    "bytes/msg once persisted": r.perMessage.toFixed(0),
    "bytes/msg at peak (pending)": r.peakPerMessage.toFixed(0),
    "keys left": String(r.keys),
    "MEMORY USAGE/msg by family": r.families,
  });
}
console.table(rows);
console.log(
  "Target: at most 256 B per persisted message, whatever its length. Once persisted, a message keeps only its client_id (a field of its bucket's idempotency slice: room, sender, client_id -> id, no text) for IDEMPOTENCY_TTL_S to 1.5x that; finished persist jobs are removed.",
);
work.finish();
