/**
 * Redis memory per accepted message (issue 7): what a message leaves in Redis once it is
 * persisted (idempotency key for IDEMPOTENCY_TTL_S, finished persist jobs), measured from
 * `used_memory` before and after a burst, for a short and a long text, side by side. Also the
 * peak while pending, for Redis sizing.
 *
 *   node bench/redis-memory.bench.ts        # BENCH_MESSAGES=10000 per text length by default
 */
import { Agent, request } from "node:http";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { z } from "zod";
import { readBacklog } from "../src/messages/backlog.gauge.ts";
import { notifyQueue } from "../src/notify/notify.queue.ts";
import { Keys } from "../src/redis/redis.ts";
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

async function run(textChars: number): Promise<{ perMessage: number; peakPerMessage: number; keys: number }> {
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
    const alice = token("mem-alice", 3600);
    const res = await fetch(`${api.base}/api/v1/chat/rooms`, {
      method: "POST",
      headers: { authorization: `Bearer ${alice}`, "content-type": "application/json" },
      body: JSON.stringify({ type: "group", name: "mem", member_ids: ["mem-bob"] }),
    });
    const roomId = ((await res.json()) as { room: { id: string } }).room.id;
    const agent = new Agent({ keepAlive: true, maxSockets: 32 });
    const text = "x".repeat(textChars);
    const send = (i: number) =>
      new Promise<void>((resolve, reject) => {
        const body = JSON.stringify({ client_id: `m${i}`, type: "text", text });
        const req = request(
          `${api.base}/api/v1/chat/rooms/${roomId}/messages`,
          {
            method: "POST",
            agent,
            headers: {
              authorization: `Bearer ${alice}`,
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
    await send(-1); // warm the room's keys (member set, counters) before measuring
    await sleep(500);
    const before = await usedMemory(redis);
    let peak = before;
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < opts.BENCH_MESSAGES) {
          await send(next++);
          if (next % 500 === 0) peak = Math.max(peak, await usedMemory(redis));
        }
      }),
    );
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
    while (((await readBacklog(redis, keys)).messages > 0 || (await queued()) > 0) && Date.now() < drainEnd)
      await sleep(100);
    work.equal(`${textChars} chars: notify jobs left`, await queued(), 0);
    await notify.close();
    await sleep(1000); // the last job's completion
    const after = await usedMemory(redis);
    // The figure is per persisted message: every send (and the warm-up) must be in the store,
    // none left pending, and what stays behind must be each message's idempotency key.
    const label = `${textChars} chars`;
    work.equal(`${label}: pending messages left`, (await readBacklog(redis, keys)).messages, 0);
    const db = new DatabaseSync(path.join(dataDir, "chat.sqlite"), { readOnly: true });
    const stored = Number(
      db.prepare("SELECT count(*) AS n FROM messages WHERE room_id = ? AND type = 'text'").get(roomId)?.n,
    );
    db.close();
    work.equal(`${label}: messages stored`, stored, opts.BENCH_MESSAGES + 1);
    const idemKeys = Array.from({ length: opts.BENCH_MESSAGES }, (_, i) =>
      keys.idempotency(roomId, "mem-alice", `m${i}`),
    );
    let kept = 0;
    for (let i = 0; i < idemKeys.length; i += 1000)
      kept += await redis.exists(...idemKeys.slice(i, i + 1000));
    work.equal(`${label}: idempotency keys kept`, kept, opts.BENCH_MESSAGES);
    let count = 0;
    let cursor = "0";
    do {
      const [c, found] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = c;
      count += found.length;
    } while (cursor !== "0");
    // Besides the idempotency keys: the room's few keys and the queues' bookkeeping, not a key per message.
    work.atMost(`${label}: other keys left`, count - kept, 50);
    return {
      perMessage: (after - before) / opts.BENCH_MESSAGES,
      peakPerMessage: (peak - before) / opts.BENCH_MESSAGES,
      keys: count,
    };
  } finally {
    redis.disconnect();
    await Promise.all(procs.map((p) => p.stop("SIGTERM")));
    await dropPrefix(prefix);
    removeDir(dataDir);
  }
}

const rows: Record<string, string>[] = [];
for (const chars of [10, 2000]) {
  const r = await run(chars);
  rows.push({
    text: `${chars} chars`,
    messages: String(opts.BENCH_MESSAGES),
    "bytes/msg once persisted": r.perMessage.toFixed(0),
    "bytes/msg at peak (pending)": r.peakPerMessage.toFixed(0),
    "keys left": String(r.keys),
  });
}
console.table(rows);
console.log(
  "Once persisted, a message keeps only its idempotency key (id, no text) for IDEMPOTENCY_TTL_S; finished persist jobs are removed.",
);
work.finish();
