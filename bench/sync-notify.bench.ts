/**
 * Issue 10 benchmarks:
 *  1. sync cost against history: the same 2,000 changes (new messages, edits, reactions) in a
 *     user's 50 rooms, paged through `/sync/messages` from a cursor taken before them, once on
 *     a store holding BENCH_SYNC_BIG (1,000,000) messages and once on one holding 10,000; the
 *     ratio of the two (target ≤ 1.5);
 *  2. push fan-out: a message to a 1,024-member group, every member offline with a device,
 *     through the persist and notify pools with the `log` provider: pushes per second of one
 *     notify worker and accept → last push (targets ≥ 5,000/s, ≤ 1 s);
 *  3. a forward to 5 rooms of 256 members: POST → the last `message:new` in the five rooms.
 *
 *   node bench/sync-notify.bench.ts
 */
import path from "node:path";
import type { Socket } from "socket.io-client";
import { z } from "zod";
import { Keys } from "../src/redis/redis.ts";
import { openSqliteStore } from "../src/store/sqlite/sqlite.store.ts";
import type { MessageOp, MessageRecord } from "../src/store/store.ts";
import { dropPrefix, removeDir, tempDir, testEnv, token, uniquePrefix } from "../test/helpers/env.ts";
import { startApiProcess, startWorkerProcess } from "../test/helpers/processes.ts";
import { RestClient as Client } from "../test/helpers/rest-client.ts";
import { connect } from "../test/helpers/socket.ts";
import { group, message } from "./fixtures.ts";
import { WorkCheck } from "./work-check.ts";

const opts = z
  .object({
    BENCH_SYNC_BIG: z.coerce.number().int().positive().default(1_000_000),
    BENCH_SYNC_SMALL: z.coerce.number().int().positive().default(10_000),
    BENCH_SYNC_CHANGES: z.coerce.number().int().positive().default(2_000),
    BENCH_GROUP: z.coerce.number().int().positive().default(1024),
  })
  .parse(process.env);

const ms = (n: number) => `${n.toFixed(0)} ms`;
const USER = "bench-me";
const work = new WorkCheck();

/**
 * A store with `history` messages spread over 500 rooms (the user in 50 of them), an API on it,
 * a cursor, then `changes` changes in the user's rooms written to the store, then the time to
 * page through them.
 */
async function syncCost(
  history: number,
  changes: number,
): Promise<{ ms: number; pages: number; messages: number; expected: number; reseeded: number }> {
  const name = `bench-sync-${history}`;
  const prefix = uniquePrefix(name);
  const dataDir = tempDir(name);
  const store = openSqliteStore(path.join(dataDir, "chat.sqlite"));
  const rooms: string[] = [];
  for (let i = 0; i < 500; i++)
    rooms.push(await group(store, i < 50 ? USER : "other", i < 50 ? [USER, "other"] : ["other", "x"]));
  const perRoom = Math.ceil(history / rooms.length);
  const start = Date.now() - 86_400_000;
  for (const roomId of rooms) {
    for (let from = 1; from <= perRoom; from += 5000) {
      const batch: MessageRecord[] = [];
      for (let seq = from; seq < Math.min(perRoom + 1, from + 5000); seq++)
        batch.push(message(roomId, seq, "other", `message ${seq} of a long history`, start + seq));
      await store.insertMessages(batch);
    }
  }
  await store.close();
  const env = testEnv(prefix, dataDir, { LOG_LEVEL: "warn" });
  const api = await startApiProcess(env);
  try {
    const me = new Client(api.base, token(USER));
    await me.call("POST", "/devices", { device_id: "bench-device", platform: "ios" });
    const cursor = (await me.call<{ next_since: string }>("GET", "/sync/messages?device_id=bench-device"))
      .body.next_since;
    // The changes, straight into the store above the current revisions (a third each: new
    // messages, edits of old messages, reactions), then the counters re-seeded from it.
    const writer = openSqliteStore(path.join(dataDir, "chat.sqlite"));
    const mine = rooms.slice(0, 50);
    const now = Date.now();
    const fresh: MessageRecord[] = [];
    const ops: MessageOp[] = [];
    for (let i = 0; i < changes; i++) {
      const roomId = mine[i % mine.length] ?? "";
      const rev = perRoom + 1 + Math.floor(i / mine.length);
      // The same 20 messages per room in both runs (fewer only in a history shorter than that).
      const old = await writer.listMessages(roomId, { afterSeq: i % Math.min(20, perRoom), limit: 1 });
      const target = old[0]?.id ?? "";
      if (i % 3 === 0) fresh.push({ ...message(roomId, rev, "other", `new ${i}`, now + i), rev });
      else if (i % 3 === 1)
        ops.push({
          kind: "edit",
          message_id: target,
          room_id: roomId,
          rev,
          at: new Date(now).toISOString(),
          text: `edit ${i}`,
        });
      else
        ops.push({
          kind: "react",
          message_id: target,
          room_id: roomId,
          rev,
          at: new Date(now).toISOString(),
          user_id: "other",
          emoji: "👍",
        });
    }
    // What the catch-up must return: each new message, and each old message edited or reacted to, once.
    const expected = fresh.length + new Set(ops.map((o) => o.message_id)).size;
    await writer.insertMessages(fresh);
    await writer.applyMessageOps(ops);
    await writer.close();
    const { Redis } = await import("ioredis");
    const redis = new Redis(env.REDIS_URL ?? "");
    const keys = new Keys(prefix);
    // The first sync seeded both counters of every room: each deletion must find its key.
    const reseeded = await redis.del(...mine.flatMap((r) => [keys.rev(r), keys.seq(r)]));
    redis.disconnect();
    // Warm the connection and the counters, then time the catch-up.
    await me.call("GET", `/sync/messages?device_id=bench-device&since=${cursor}&limit=1`);
    const t0 = performance.now();
    let since = cursor;
    let pages = 0;
    const seen = new Set<string>();
    for (let more = true; more; pages++) {
      const res = await me.call<{ messages: { id: string }[]; next_since: string; has_more: boolean }>(
        "GET",
        `/sync/messages?device_id=bench-device&since=${since}&limit=100`,
      );
      if (res.status !== 200)
        throw new Error(`sync: HTTP ${res.status} ${JSON.stringify(res.body)}\n${api.output().slice(-3000)}`);
      for (const m of res.body.messages) seen.add(m.id);
      since = res.body.next_since;
      more = res.body.has_more;
    }
    return { ms: performance.now() - t0, pages, messages: seen.size, expected, reseeded };
  } finally {
    await api.stop();
    await dropPrefix(prefix);
    removeDir(dataDir);
  }
}

console.log(`1. sync cost: ${opts.BENCH_SYNC_CHANGES} changes in 50 rooms, paged 100 at a time`);
const small = await syncCost(opts.BENCH_SYNC_SMALL, opts.BENCH_SYNC_CHANGES);
console.log(
  `   ${opts.BENCH_SYNC_SMALL} stored: ${ms(small.ms)} (${small.pages} pages, ${small.messages} messages)`,
);
const big = await syncCost(opts.BENCH_SYNC_BIG, opts.BENCH_SYNC_CHANGES);
console.log(`   ${opts.BENCH_SYNC_BIG} stored: ${ms(big.ms)} (${big.pages} pages, ${big.messages} messages)`);
for (const [label, run] of [
  ["small", small],
  ["big", big],
] as const) {
  work.equal(`sync (${label}): room counters deleted for re-seeding`, run.reseeded, 2 * 50); // rev and seq of the user's 50 rooms
  work.equal(`sync (${label}): distinct messages synced`, run.messages, run.expected);
  work.atLeast(`sync (${label}): pages`, run.pages, Math.ceil(run.expected / 100));
}
console.log(`   ratio big / small: ${(big.ms / small.ms).toFixed(2)}x (target ≤ 1.5)`);

// 2 and 3: the whole system on the embedded store.
const prefix = uniquePrefix("bench-notify");
const dataDir = tempDir("bench-notify");
const env = testEnv(prefix, dataDir, { LOG_LEVEL: "info" });
const setup = openSqliteStore(path.join(dataDir, "chat.sqlite"));
const members = Array.from({ length: opts.BENCH_GROUP }, (_, i) => `m-${i}`);
const bigRoom = await group(setup, members[0] ?? "", members);
const now = new Date().toISOString();
for (const m of members)
  await setup.upsertDevice(
    { user_id: m, device_id: "phone", platform: "android", push_token: `tok-${m}`, at: now },
    10,
  );
const targets: string[] = [];
for (let r = 0; r < 5; r++)
  targets.push(await group(setup, "fwd", ["fwd", ...Array.from({ length: 255 }, (_, i) => `r${r}-${i}`)]));
const sourceRoom = await group(setup, "fwd", ["fwd", "x"]);
const warmRoom = await group(setup, "w-0", ["w-0", "w-1"]);
await setup.upsertDevice(
  {
    user_id: "w-1",
    device_id: "phone",
    platform: "android",
    push_token: "tok-w-1",
    at: now,
  },
  10,
);
await setup.close();
const api = await startApiProcess(env);
const persist = startWorkerProcess(env, "persist");
const notify = startWorkerProcess(env, "notify");
const fanout = startWorkerProcess({ ...env, LOG_LEVEL: "warn" }, "fanout");
const sockets: Socket[] = [];
try {
  // Warm-up: one message through persist and notify, so both pools are up and connected.
  const warm = await new Client(api.base, token("w-0")).call<{ message: { id: string } }>(
    "POST",
    `/rooms/${warmRoom}/messages`,
    { client_id: "warm", type: "text", text: "warm" },
  );
  const warmDeadline = Date.now() + 30_000;
  while (!notify.output().includes(warm.body.message.id) && Date.now() < warmDeadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const sender = new Client(api.base, token(members[0] ?? ""));
  const t0 = Date.now();
  const sent = await sender.call<{ message: { id: string } }>("POST", `/rooms/${bigRoom}/messages`, {
    client_id: "bench-push",
    type: "text",
    text: "hello everyone",
  });
  if (sent.status !== 201) throw new Error(`send: ${sent.status}`);
  const pushTimes = async (): Promise<number[]> =>
    notify
      .output()
      .split("\n")
      .filter((l) => l.includes('"msg":"push"') && l.includes(sent.body.message.id))
      .map((l) => (JSON.parse(l) as { time: number }).time);
  const expected = opts.BENCH_GROUP - 1;
  const deadline = Date.now() + 30_000;
  while ((await pushTimes()).length < expected && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  const times = (await pushTimes()).sort((a, b) => a - b);
  const first = times[0] ?? Number.NaN;
  const last = times.at(-1) ?? Number.NaN;
  console.log(
    `\n2. push fan-out: 1 message to a ${opts.BENCH_GROUP}-member group, all offline, log provider, 1 notify worker`,
  );
  console.log(`   pushes: ${times.length} of ${expected}`);
  work.equal("push fan-out: pushes made", times.length, expected);
  console.log(
    `   accept → first push ${ms(first - t0)}, accept → last push ${ms(last - t0)} (target ≤ 1000 ms)`,
  );
  console.log(
    `   pushes/s of the worker (first → last push): ${((times.length / Math.max(1, last - first)) * 1000).toFixed(0)} (target ≥ 5,000)`,
  );

  // 3. One observer per target room; the copies must reach every room.
  const fwd = new Client(api.base, token("fwd"));
  const src = await fwd.call<{ message: { id: string } }>("POST", `/rooms/${sourceRoom}/messages`, {
    client_id: "bench-fwd",
    type: "text",
    text: "pass it on",
  });
  for (let r = 0; r < 5; r++) sockets.push(await connect(api.base, token(`r${r}-0`)));
  const arrivals: number[] = [];
  const all = Promise.all(
    sockets.map(
      (s) =>
        new Promise<void>((resolve) =>
          s.once("message:new", () => {
            arrivals.push(Date.now());
            resolve();
          }),
        ),
    ),
  );
  const f0 = Date.now();
  const res = await fwd.call("POST", `/messages/${src.body.message.id}/forward`, { room_ids: targets });
  if (res.status !== 202) throw new Error(`forward: ${res.status}`);
  // An observer that never hears its copy fails the check rather than hanging the run.
  await Promise.race([all, new Promise((r) => setTimeout(r, 30_000))]);
  work.equal("forward: target rooms that received the copy", arrivals.length, 5);
  console.log(
    `\n3. forward to 5 rooms of 256 members: POST → last message:new ${ms(Math.max(...arrivals) - f0)}`,
  );
} finally {
  for (const s of sockets) s.close();
  await Promise.all([api.stop(), persist.stop(), notify.stop(), fanout.stop()]);
  await dropPrefix(prefix);
  removeDir(dataDir);
}
work.finish();
